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
from sampling.alias import vose

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


# Without replacement, rows of at least this many times the fanout draw by rejection (a
# weighted draw, redrawn when it repeats an edge); shorter rows take the keyed method, whose
# O(degree) logarithms cost little there and which needs no retries when few edges carry
# most of the weight. Turning it up sends more rows to the O(degree) method.
REJECT_FACTOR = 2
# Rejection draws per slot before the row falls back to the keyed method for the rest.
_ATTEMPTS_PER_SLOT = 4


@njit(inline="always", cache=True)
def _search(prefix, a, b, target, end):
    """First position in ``[a, b)`` whose running sum exceeds ``target`` (or reaches ``end``, the
    window's last running sum, so a target rounded past it lands on the last positive edge).
    Branch-free steps (the comparisons are data-dependent coin flips a branch would mispredict)."""
    n = b - a
    while n > 0:
        half = n >> 1
        x = prefix[a + half]
        right = np.int64((x <= target) & (x < end))
        a += right * (half + 1)
        n = half + right * (n - 2 * half - 1)
    return a


_LOW32 = np.uint64(0xFFFFFFFF)
_S33 = np.int64(33)
_THRESHOLD = np.int64((1 << 33) - 1)
#: An alias-table entry of a row whose weights are all 0 (no edge can be drawn).
NO_ALIAS = -1


@njit(inline="always", cache=True)
def _pick(base, j, s0, d, full, table, prefix, before, total, end):
    """Weighted draw ``j`` of a row's window: over a full row, one entry of its alias table (a
    bucket from the high 32 random bits, the coin from the low 32, no branch on the entry, so
    the reads of successive draws overlap); over part of a row (a time limit), a binary search
    of a uniform point of the window's total in the running sums."""
    r = draw(base, j)
    if full:
        b = below(r, d)
        entry = table[s0 + b]
        keep = np.int64(np.int64(r & _LOW32) < (entry & _THRESHOLD))
        return s0 + keep * b + (1 - keep) * (entry >> _S33)
    return _search(prefix, s0, s0 + d, before + unit(r) * total, end)


@njit(inline="always", cache=True)
def _first_round(d, fanout, replace, full):
    """Whether a row's first ``fanout`` weighted draws are alias draws made before its other work
    (:func:`sample_rows` makes them for a whole chunk of rows at once, so their reads overlap)."""
    return full and d > 0 and (replace or d >= REJECT_FACTOR * fanout)


@njit(inline="always", cache=True)
def _draw_row_weighted(s0, d, fanout, replace, base, slot_edge, lo, weight, table, full, prefix, before, positive):
    """Weighted draws of one row's window (edges ``s0 .. s0 + d - 1``) into ``slot_edge[lo:lo+fanout]``:
    edge ``e`` with probability proportional to ``weight[e]`` (weight 0 never). Returns how many
    slots are used. ``full``: the window is its whole row, whose alias table (``table``:
    :func:`row_alias`) draws in O(1); else ``prefix`` holds the rows' running sums of weights
    (:func:`row_prefix`) and ``before`` the running sum just before the window. ``positive``:
    1 or 0 where the caller knows whether a whole row has an edge of positive weight, else -1.

    With replacement: ``fanout`` independent draws (none when every weight is 0). Without
    replacement, the law of successive weighted draws: every positive-weight edge when there
    are at most ``fanout``; else, for windows of at least ``REJECT_FACTOR * fanout`` edges,
    weighted draws that are redrawn when they repeat a chosen edge (exact: a redraw is a draw
    from the edges not chosen yet), at most ``_ATTEMPTS_PER_SLOT * fanout`` of them; the slots
    still open then (and every slot of shorter windows) go to the edges not chosen with the
    smallest keys ``-log(1 - u) / w`` (Efraimidis-Spirakis, the same law given the edges chosen).
    """
    k = 0
    end = before
    total = 0.0
    if d > 0:
        if full:
            known = positive if positive >= 0 else np.int64(table[s0] != NO_ALIAS)
            total = np.float64(known)
        else:
            end = prefix[s0 + d - 1]
            total = end - before
    first = _first_round(d, fanout, replace, full)  # then slots lo .. lo + fanout - 1 hold draws 0 ..
    if replace:
        if total > 0:
            k = fanout
            if not first:
                for j in range(k):
                    slot_edge[lo + j] = _pick(base, j, s0, d, full, table, prefix, before, total, end)
    elif total > 0:
        got = 0
        attempts = _ATTEMPTS_PER_SLOT * fanout
        if d >= REJECT_FACTOR * fanout:
            if not first:
                for j in range(fanout):
                    slot_edge[lo + j] = _pick(base, j, s0, d, full, table, prefix, before, total, end)
            for j in range(fanout):  # repeats of the first round dropped, in draw order
                e = slot_edge[lo + j]
                if not _chosen(slot_edge, lo, got, e):
                    slot_edge[lo + got] = e
                    got += 1
            for j in range(fanout, attempts):
                if got == fanout:
                    break
                e = _pick(base, j, s0, d, full, table, prefix, before, total, end)
                if not _chosen(slot_edge, lo, got, e):
                    slot_edge[lo + got] = e
                    got += 1
        k = got
        if got < fanout:
            k = _keyed_rest(s0, d, fanout, base, slot_edge, lo, weight, got, attempts)
    for j in range(k, fanout):
        slot_edge[lo + j] = -1
    return k


@njit(inline="always", cache=True)
def _keyed_rest(s0, d, fanout, base, slot_edge, lo, weight, got, offset):
    """Slots ``got .. fanout - 1`` of a row without replacement, among the window's positive
    edges not in slots ``0 .. got - 1``: all of them when they fit, else the smallest keys
    ``-log(1 - u) / w`` (draw counters from ``offset``). Returns the number of slots used."""
    positive = 0
    for j in range(d):
        if weight[s0 + j] > 0 and not _chosen(slot_edge, lo, got, s0 + j):
            positive += 1
    k = got
    if positive <= fanout - got:
        for j in range(d):
            if weight[s0 + j] > 0 and not _chosen(slot_edge, lo, got, s0 + j):
                slot_edge[lo + k] = s0 + j
                k += 1
        return k
    want = fanout - got
    keys = np.empty(want, dtype=np.float64)
    filled = 0
    worst = 0
    for j in range(d):
        w = weight[s0 + j]
        if w <= 0 or _chosen(slot_edge, lo, got, s0 + j):
            continue
        key = -np.log(1.0 - unit(draw(base, offset + j))) / w
        if filled < want:
            keys[filled] = key
            slot_edge[lo + got + filled] = s0 + j
            filled += 1
            if filled == want:
                worst = np.argmax(keys)
        elif key < keys[worst]:
            keys[worst] = key
            slot_edge[lo + got + worst] = s0 + j
            worst = np.argmax(keys)
    return fanout


@njit(inline="always", cache=True)
def _chosen(slot_edge, lo, got, e):
    for c in range(got):
        if slot_edge[lo + c] == e:
            return True
    return False


@njit(nogil=True, cache=True, error_model="numpy")
def row_alias(part_lo, part_hi, indptr, weight, table, prob, alias):
    """Per-row alias tables (Vose) of rows ``part_lo .. part_hi - 1``: bucket ``e`` of a row keeps
    its edge with probability ``prob[e]``, else takes the row's edge ``alias[e]`` (row-relative),
    so a uniform bucket and one coin draw the row's edges by weight. Packed in ``table[e]`` as
    ``alias << 33 | round(prob * 2**32)`` (one read per draw); a row whose weights are all 0
    gets :data:`NO_ALIAS` at its first edge. ``prob``/``alias``: scratch of E entries. Built
    once beside the CSR."""
    widest = 0
    for v in range(part_lo, part_hi):
        widest = max(widest, indptr[v + 1] - indptr[v])
    scaled = np.empty(widest, dtype=np.float64)
    small = np.empty(widest, dtype=np.int64)
    large = np.empty(widest, dtype=np.int64)
    for v in range(part_lo, part_hi):
        a = indptr[v]
        d = indptr[v + 1] - a
        total = 0.0
        first = 0
        for j in range(d):
            if total <= 0 and weight[a + j] > 0:
                first = j
            total += weight[a + j]
        if d == 0:
            continue
        if total <= 0:
            for j in range(d):
                table[a + j] = NO_ALIAS
            continue
        for j in range(d):
            scaled[j] = weight[a + j] * d / total
        vose(scaled, d, prob, alias, a, small, large)
        for j in range(d):  # rounding never leaves an edge of weight 0 a chance of its own
            if weight[a + j] <= 0:
                prob[a + j] = 0.0
                if weight[a + alias[a + j]] <= 0:
                    alias[a + j] = first
        for j in range(d):
            thr = min(np.int64(prob[a + j] * 4294967296.0 + 0.5), np.int64(4294967296))
            table[a + j] = (np.int64(alias[a + j]) << _S33) | thr


@njit(nogil=True, cache=True, error_model="numpy")
def row_prefix(part_lo, part_hi, indptr, weight, prefix):
    """``prefix[e]`` = the sum of ``weight`` from the start of ``e``'s row to ``e``, rows
    ``part_lo .. part_hi - 1`` (built once per weighted edge type, beside the CSR)."""
    for v in range(part_lo, part_hi):
        acc = 0.0
        for e in range(indptr[v], indptr[v + 1]):
            acc += weight[e]
            prefix[e] = acc


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
                slot_start, used, weight, table, prefix, weighted, time, row_time, temporal, last):
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
        before = np.zeros(hi - lo, dtype=np.float64)
        for r in range(lo, hi):
            v = nodes[r]
            a = indptr[v]
            span_start[r - lo] = a
            degree[r - lo] = indptr[v + 1] - a
        if temporal:
            for r in range(lo, hi):
                degree[r - lo] = _time_prefix(time, span_start[r - lo], degree[r - lo], row_time[r - row_lo])
            for r in range(lo, hi):
                if last and degree[r - lo] > fanout:
                    span_start[r - lo] += degree[r - lo] - fanout
                    degree[r - lo] = fanout
        full = np.ones(hi - lo, dtype=np.bool_)
        if weighted and temporal:
            for r in range(lo, hi):
                a = span_start[r - lo]
                v = nodes[r]
                full[r - lo] = a == indptr[v] and degree[r - lo] == indptr[v + 1] - indptr[v]
                if a > indptr[v]:
                    before[r - lo] = prefix[a - 1]
        positive = np.full(hi - lo if weighted else 0, -1, dtype=np.int64)  # per row: 1, 0 or unknown
        if weighted and fanout > 0:
            # The first round of alias draws of every row of the chunk, in three passes so the
            # table reads of many draws are in flight at once: buckets and coins (no memory),
            # the table entries (independent reads), then each draw's edge.
            lanes = (hi - lo) * fanout
            at = np.empty(lanes, dtype=np.int64)
            coin = np.empty(lanes, dtype=np.int64)
            for r in range(lo, hi):
                d = degree[r - lo]
                q = (r - lo) * fanout
                if _first_round(d, fanout, replace, full[r - lo]):
                    base = stream(key, r)
                    for j in range(fanout):
                        x = draw(base, j)
                        at[q + j] = span_start[r - lo] + below(x, d)
                        coin[q + j] = np.int64(x & _LOW32)
                else:
                    for j in range(fanout):
                        at[q + j] = -1
            entry = np.empty(lanes, dtype=np.int64)
            for q in range(lanes):
                entry[q] = table[at[q]] if at[q] >= 0 else 0
            for r in range(lo, hi):
                q = (r - lo) * fanout
                first = slot_base + (r - row_lo) * fanout
                s0 = span_start[r - lo]
                if at[q] >= 0:  # a row of weights 0 has NO_ALIAS in every entry, others none
                    positive[r - lo] = np.int64(entry[q] != NO_ALIAS)
                for j in range(fanout):
                    if at[q + j] >= 0:
                        en = entry[q + j]
                        keep = coin[q + j] < (en & _THRESHOLD)
                        slot_edge[first + j] = at[q + j] if keep else s0 + (en >> _S33)
        for r in range(lo, hi):
            first = slot_base + (r - row_lo) * fanout
            slot_start[r] = first
            if weighted:
                used[r] = _draw_row_weighted(span_start[r - lo], degree[r - lo], fanout, replace, stream(key, r),
                                             slot_edge, first, weight, table, full[r - lo], prefix,
                                             before[r - lo], positive[r - lo])
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


@njit(nogil=True, cache=True, error_model="numpy")
def compact_trees(part_lo, part_hi, slot_nbr, slot_edge, slot_start, used, out_at, row_tree, col_base, num_src,
                  nbr, edge, col, tree, bad):
    """Disjoint draws: row ``r``'s used slots to ``[out_at[r], out_at[r] + used[r])`` of ``nbr`` /
    ``edge``, with ``col = col_base + r`` and ``tree = row_tree[r]``; ``bad[0]`` set where a
    neighbour is outside ``[0, num_src)`` (a CSR that was not validated)."""
    for r in range(part_lo, part_hi):
        lo = slot_start[r]
        at = out_at[r]
        t = row_tree[r]
        for j in range(used[r]):
            u = slot_nbr[lo + j]
            if u < 0 or u >= num_src:
                bad[0] = 1
            nbr[at + j] = u
            edge[at + j] = slot_edge[lo + j]
            col[at + j] = col_base + r
            tree[at + j] = t
