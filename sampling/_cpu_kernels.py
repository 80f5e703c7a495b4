"""numba kernels of the CPU neighbour sampler: a parallel sampling pass per hop, a sequential
relabelling pass per hop, one parallel compaction per call.

The parallel kernels are ``nogil`` and take a part ``[part_lo, part_hi)`` of their range;
``sampling._pool.run_split`` runs the parts on a thread pool.

Frontier rows are local node ids: the rows of hop ``h`` are the nodes that hop ``h - 1``
added, so every per-row array is indexed by local id and row ``r``'s edges have ``col = r``.

``sample_rows`` (over chunks of ``CHUNK`` rows) does three passes per chunk: read
every row's span in ``indptr``, draw the sampled positions (no memory misses), then read the
neighbour behind every drawn slot. Keeping the dependent reads in separate passes lets the
core keep a chunk's worth of cache misses in flight: on a 2 M-node graph the three passes
took a third of the time of one fused loop. ``relabel`` (sequential) walks the hop's slots
in order and gives every newly seen node the next local id through a node -> local-id array
of size N, so nodes come in order of first appearance. ``compact`` (parallel) writes
``row``/``col``/``edge`` of every hop at the end. Draws of row ``r`` are a hash of
(key, r, j): the result does not depend on the thread count.

``error_model="numpy"``: no Python-style error checks in the loops (these kernels divide by
nothing); one thread measured 0.35 s of CPU per 8 M walk steps against 0.45 s with them.
No ``prange``: GNU OpenMP hangs in a forked child (a DataLoader worker) once the parent used
it, and its workers spin on shared cores; ``sampling._pool`` provides the threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from sampling._rng import below, draw, stream, unit

CHUNK = 256


@njit(inline="always", cache=True)
def _draw_row(s0, d, fanout, replace, base, slot_edge, lo):
    """Sampled edge ids of one row (start ``s0``, degree ``d``) into ``slot_edge[lo:lo+fanout]``.

    Without replacement and degree above the fanout, Floyd's algorithm draws ``fanout``
    distinct positions with ``fanout`` draws (each checked against those already taken).
    Returns how many slots are used; the rest get -1.
    """
    if replace:
        k = fanout if d > 0 else 0
        for j in range(k):
            slot_edge[lo + j] = s0 + below(draw(base, j), d)
    elif d <= fanout:
        k = d
        for j in range(k):
            slot_edge[lo + j] = s0 + j
    else:
        k = fanout
        j = 0
        for t in range(d - k, d):
            r = s0 + below(draw(base, j), t + 1)
            for c in range(j):
                if slot_edge[lo + c] == r:
                    r = s0 + t
                    break
            slot_edge[lo + j] = r
            j += 1
    for j in range(k, fanout):
        slot_edge[lo + j] = -1
    return k


# Rows of at most this many edges draw with replacement by a linear scan of their weights;
# longer rows build a prefix sum once and binary-search it per draw (an allocation per row).
_SCAN_DEGREE = 64


@njit(inline="always", cache=True)
def _draw_row_weighted(s0, d, fanout, replace, base, slot_edge, lo, weight):
    """Weighted draws of one row into ``slot_edge[lo:lo+fanout]``: edge ``s0 + j`` with probability
    proportional to ``weight[s0 + j]`` (weight 0 never). Returns how many slots are used.

    With replacement: ``fanout`` independent draws (none when every weight is 0), each a uniform
    point of the row's total weight located in its running sum. Without replacement: every
    positive-weight edge when there are at most ``fanout``, else the ``fanout`` edges with the
    smallest keys ``-log(1 - u) / w`` (Efraimidis-Spirakis: the law of successive weighted draws
    without replacement), kept in the slots with a pointer to the largest key.
    """
    k = 0
    if replace:
        total = 0.0
        last = -1
        for j in range(d):
            w = weight[s0 + j]
            if w > 0:
                total += w
                last = j
        if total > 0:
            k = fanout
            if d <= _SCAN_DEGREE:
                for j in range(k):
                    target = unit(draw(base, j)) * total
                    pick = last
                    acc = 0.0
                    for c in range(d):
                        acc += max(weight[s0 + c], 0.0)
                        if acc > target:
                            pick = c
                            break
                    slot_edge[lo + j] = s0 + pick
            else:
                prefix = np.empty(d, dtype=np.float64)
                acc = 0.0
                for c in range(d):
                    acc += max(weight[s0 + c], 0.0)
                    prefix[c] = acc
                for j in range(k):
                    target = unit(draw(base, j)) * total
                    a, b = 0, d
                    while a < b:  # first position whose running sum exceeds the target
                        m = (a + b) >> 1
                        if prefix[m] > target:
                            b = m
                        else:
                            a = m + 1
                    slot_edge[lo + j] = s0 + (a if a < d else last)
    else:
        positive = 0
        for j in range(d):
            if weight[s0 + j] > 0:
                positive += 1
        if positive <= fanout:
            for j in range(d):
                if weight[s0 + j] > 0:
                    slot_edge[lo + k] = s0 + j
                    k += 1
        else:
            k = fanout
            keys = np.empty(fanout, dtype=np.float64)
            filled = 0
            worst = 0
            for j in range(d):
                w = weight[s0 + j]
                if w <= 0:
                    continue
                key = -np.log(1.0 - unit(draw(base, j))) / w
                if filled < fanout:
                    keys[filled] = key
                    slot_edge[lo + filled] = s0 + j
                    filled += 1
                    if filled == fanout:
                        worst = np.argmax(keys)
                elif key < keys[worst]:
                    keys[worst] = key
                    slot_edge[lo + worst] = s0 + j
                    worst = np.argmax(keys)
    for j in range(k, fanout):
        slot_edge[lo + j] = -1
    return k


@njit(inline="always", cache=True)
def _time_prefix(time, a, d, t):
    """How many of the row's edges ``a .. a + d - 1`` (times non-decreasing) have time <= ``t``: a binary search."""
    lo, hi = a, a + d
    while lo < hi:
        m = (lo + hi) >> 1
        if time[m] <= t:
            lo = m + 1
        else:
            hi = m
    return lo - a


@njit(nogil=True, cache=True, error_model="numpy")
def sample_rows(part_lo, part_hi, indptr, indices, nodes, row_lo, fanout, replace, key, slot_base, slot_edge, slot_nbr,
                slot_start, used, weight, weighted, time, row_time, temporal, last):
    """Sample rows ``row_lo + part_lo .. row_lo + part_hi - 1`` (local ids; global in ``nodes``).

    Row ``r`` gets slots from ``slot_start[r] = slot_base + (r - row_lo) * fanout``; ``used[r]``
    of them are filled (the first ones). ``fanout >= 0``. ``weighted``: draws proportional to
    ``weight`` (see :func:`_draw_row_weighted`). ``temporal``: a row's edges are those with
    ``time <= row_time[r - row_lo]`` (a prefix of the row, found by binary search), and with
    ``last`` only the latest ``fanout`` of them.
    """
    for c in range(row_lo + part_lo, row_lo + part_hi, CHUNK):
        lo = c
        hi = min(row_lo + part_hi, lo + CHUNK)
        span_start = np.empty(hi - lo, dtype=np.int64)
        degree = np.empty(hi - lo, dtype=np.int64)
        for r in range(lo, hi):
            v = nodes[r]
            a = indptr[v]
            d = indptr[v + 1] - a
            if temporal:
                d = _time_prefix(time, a, d, row_time[r - row_lo])
                if last and d > fanout:
                    a += d - fanout
                    d = fanout
            span_start[r - lo] = a
            degree[r - lo] = d
        for r in range(lo, hi):
            first = slot_base + (r - row_lo) * fanout
            slot_start[r] = first
            if weighted:
                used[r] = _draw_row_weighted(span_start[r - lo], degree[r - lo], fanout, replace, stream(key, r),
                                             slot_edge, first, weight)
            else:
                used[r] = _draw_row(span_start[r - lo], degree[r - lo], fanout, replace, stream(key, r), slot_edge,
                                    first)
        for s in range(slot_base + (lo - row_lo) * fanout, slot_base + (hi - row_lo) * fanout):
            e = slot_edge[s]
            if e >= 0:
                slot_nbr[s] = indices[e]


@njit(nogil=True, cache=True, error_model="numpy")
def row_degrees(part_lo, part_hi, indptr, nodes, row_lo, used, weight, weighted, time, row_time, temporal):
    """``used[r]`` = degree of row ``r`` (fanout -1 takes every neighbour): with ``temporal`` only
    the edges no later than ``row_time[r - row_lo]`` (a prefix); ``weighted`` rows keep their
    positive-weight edges (:func:`take_all_rows` skips the others)."""
    for r in range(row_lo + part_lo, row_lo + part_hi):
        v = nodes[r]
        a = indptr[v]
        d = indptr[v + 1] - a
        if temporal:
            d = _time_prefix(time, a, d, row_time[r - row_lo])
        if weighted:
            n = 0
            for j in range(a, a + d):
                if weight[j] > 0:
                    n += 1
            d = n
        used[r] = d


@njit(nogil=True, cache=True, error_model="numpy")
def take_all_rows(part_lo, part_hi, indptr, indices, nodes, row_lo, slot_start, used, slot_edge, slot_nbr, weight,
                  weighted):
    """Fanout -1: the first ``used[r]`` edges of row ``r`` (of positive weight when ``weighted``)
    into ``[slot_start[r], slot_start[r] + used[r])``."""
    for r in range(row_lo + part_lo, row_lo + part_hi):
        s0 = indptr[nodes[r]]
        lo = slot_start[r]
        e = s0
        for j in range(used[r]):
            if weighted:
                while weight[e] <= 0:
                    e += 1
            slot_edge[lo + j] = e
            slot_nbr[lo + j] = indices[e]
            e += 1


@njit(cache=True, error_model="numpy")
def relabel(slot_nbr, slot_start, used, row_lo, row_hi, node_map, nodes, num_nodes, bad):
    """Replace each used slot's neighbour by its local id, appending unseen nodes to ``nodes``.

    Returns the node count after the hop. A neighbour id outside ``node_map`` (a CSR that was
    not validated) stops the pass before it is used: ``bad[0]`` gets its slot, and the count
    returned covers the nodes appended so far (so they can be cleared). Cost: one sequential
    pass, one random read of ``node_map`` per slot.
    """
    n = num_nodes
    for r in range(row_lo, row_hi):
        lo = slot_start[r]
        for s in range(lo, lo + used[r]):
            u = slot_nbr[s]
            if u < 0 or u >= node_map.shape[0]:
                bad[0] = s
                return n
            local = node_map[u]
            if local < 0:
                local = n
                node_map[u] = n
                nodes[n] = u
                n += 1
            slot_nbr[s] = local
    return n


@njit(nogil=True, cache=True, error_model="numpy")
def compact(part_lo, part_hi, slot_local, slot_edge, slot_start, used, out_at, row, col, edge):
    """Row ``r``'s used slots to outputs ``[out_at[r], out_at[r] + used[r])`` with ``col = r``."""
    for r in range(part_lo, part_hi):
        lo = slot_start[r]
        at = out_at[r]
        for j in range(used[r]):
            row[at + j] = slot_local[lo + j]
            col[at + j] = r
            edge[at + j] = slot_edge[lo + j]


@njit(cache=True, error_model="numpy")
def map_seeds(seeds, node_map, nodes):
    """Give the seeds local ids ``0..len-1`` (a repeated seed maps to its first position)."""
    for i in range(seeds.shape[0]):
        nodes[i] = seeds[i]
    for i in range(seeds.shape[0] - 1, -1, -1):
        node_map[seeds[i]] = i


@njit(nogil=True, cache=True, error_model="numpy")
def clear_map(part_lo, part_hi, node_map, nodes):
    """Reset the node -> local-id array for the nodes this call touched."""
    for i in range(part_lo, part_hi):
        node_map[nodes[i]] = -1
