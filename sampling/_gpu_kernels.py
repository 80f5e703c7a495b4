"""Triton kernels of the GPU neighbour sampler (CSR in GPU memory or pinned host memory via UVA).

Local ids are handed out through ``node_map``, an int32 array of size N on the GPU:
``EMPTY`` for an unseen node, a local id ``< 2**30`` once assigned, and ``2**30 + slot`` while
the hop that drew it is being relabelled. ``sample_kernel`` draws and claims
(``atomic_min`` leaves the smallest slot of each unseen node), ``first_kernel`` flags the
slot that won, a prefix sum ranks the flags, and ``assign_kernel`` gives each winner the
next local id in slot order: nodes come in order of first appearance, deterministically.

The type dimension: for an edge type ``(s, r, d)`` of a heterogeneous graph, the kernels read
the frontier from type ``d``'s node array and bounds (ids checked against ``num_dst``) and
claim in type ``s``'s ``node_map`` (ids checked against ``num_src``); a homogeneous graph
passes the same arrays for both. Edge types with the same source type claim in one map
during a hop: each numbers its slots from ``claim_base`` (the slots of the edge types before
it in that group), so one prefix sum over the group's flags orders their new nodes by edge
type, then slot. The callers pass per-type and per-edge-type views (bounds, counters, keys).

Every pointer the kernels read is bounds-checked by masks: an id outside ``[0, N)`` is
treated as a node of degree 0 and never dereferenced.
"""
from __future__ import annotations

import triton
import triton.language as tl

#: node_map value of an unseen node (host-side int; ``_EMPTY`` is the kernels' constant).
EMPTY = 2**31 - 1
_EMPTY = tl.constexpr(EMPTY)
#: Claims are ``_CAND + slot``; assigned local ids stay below it (2**30 nodes per batch).
_CAND = tl.constexpr(2**30)


@triton.jit(do_not_specialize=["n0"])
def seed_kernel(seeds_ptr, n0, num_nodes, node_map_ptr, nodes_ptr, bounds_ptr, bad_ptr, BLOCK: tl.constexpr):
    """Seeds take local ids 0..n0-1 (a repeat keeps its first); flags an out-of-range seed.

    Also sets ``bounds[1] = n0`` (``bounds`` arrives zeroed).
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(bounds_ptr + 1 + offs * 0, n0 + offs * 0, mask=offs == 0)
    m = offs < n0
    v = tl.load(seeds_ptr + offs, mask=m, other=0).to(tl.int64)
    ok = m & (v >= 0) & (v < num_nodes)
    tl.store(nodes_ptr + offs, v, mask=m)
    tl.atomic_min(node_map_ptr + v, offs.to(tl.int32), mask=ok)
    tl.store(bad_ptr + offs * 0, offs * 0 + 1, mask=m & ~ok)


@triton.jit
def _time_prefix(time_ptr, start, deg, t):
    """Per row, how many of its edges ``start .. start + deg - 1`` (times non-decreasing) have
    time <= ``t``: a binary search, all rows of the block in step (reads only inside the rows)."""
    lo = start
    hi = start + deg
    while tl.max(hi - lo, axis=0) > 0:
        active = lo < hi
        mid = (lo + hi) // 2
        tm = tl.load(time_ptr + mid, mask=active, other=0)
        early = tm <= t
        lo = tl.where(active & early, mid + 1, lo)
        hi = tl.where(active & ~early, mid, hi)
    return lo - start


@triton.jit(do_not_specialize=["hop", "num_rows", "claim_base"])
def sample_kernel(
    indptr_ptr, indices_ptr, nodes_ptr, bounds_ptr, hop, num_dst, num_src, num_rows, node_map_ptr, claim_base,
    slot_nbr_ptr, slot_edge_ptr, slot_col_ptr, slot_valid_ptr, edge_count_ptr, keys_ptr, bad_ptr,
    time_ptr, row_time_ptr,
    FANOUT: tl.constexpr, F_PAD: tl.constexpr, REPLACE: tl.constexpr, BLOCK_N: tl.constexpr,
    CLAIM: tl.constexpr = True, TEMPORAL: tl.constexpr = False, LAST: tl.constexpr = False,
):
    """Frontier row ``i`` (local id ``bounds[hop] + i``) fills slots ``i*FANOUT ..`` of the hop.

    Without replacement and degree above FANOUT, Floyd's algorithm draws FANOUT distinct
    positions; unused slots get -1 (and ``slot_valid`` 0). Each sampled neighbour claims
    its node in ``node_map`` with ``claim_base + slot``. The hop's Philox seed is
    ``keys[hop]``, read from memory so a captured CUDA graph draws afresh on every replay.
    Frontier ids are checked against ``num_dst``; a neighbour id outside ``[0, num_src)``
    (a CSR that was not validated) is dropped and sets ``bad`` to 2, so ``node_map`` is
    never written out of bounds.

    ``CLAIM`` False leaves ``node_map`` alone (disjoint sampling relabels elsewhere).
    ``TEMPORAL``: row ``i``'s edges are those with ``time <= row_time[i]`` (a prefix of the
    time-sorted row, :func:`_time_prefix`), and with ``LAST`` only the latest FANOUT of them.
    """
    seed = tl.load(keys_ptr + hop)
    i = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_in = i < num_rows
    f_lo = tl.load(bounds_ptr + hop)
    f_hi = tl.load(bounds_ptr + hop + 1)
    local = f_lo + i
    live = row_in & (local < f_hi)
    v = tl.load(nodes_ptr + local, mask=live, other=0)
    ok = live & (v >= 0) & (v < num_dst)
    start = tl.load(indptr_ptr + v, mask=ok, other=0).to(tl.int64)
    deg = tl.load(indptr_ptr + v + 1, mask=ok, other=0).to(tl.int64) - start
    deg = tl.where(ok, deg, 0)
    if TEMPORAL:
        t = tl.load(row_time_ptr + i, mask=live, other=0)
        deg = _time_prefix(time_ptr, start, deg, t)
        if LAST:
            skip = tl.maximum(deg - FANOUT, 0)
            start += skip
            deg -= skip
    j = tl.arange(0, F_PAD)
    if REPLACE:
        k = tl.where(deg > 0, FANOUT, 0)
        slot2 = i[:, None].to(tl.int64) * FANOUT + j[None, :]
        r = (tl.randint(seed, slot2.to(tl.uint32)) >> 1).to(tl.int64)
        pos = r % tl.maximum(deg, 1)[:, None]
    else:
        k = tl.minimum(deg, FANOUT)
        chosen = tl.full([BLOCK_N, F_PAD], -1, tl.int64)
        for jj in range(FANOUT):
            t = deg - FANOUT + jj
            r = (tl.randint(seed, (i * FANOUT + jj).to(tl.uint32)) >> 1).to(tl.int64)
            cand = r % tl.maximum(t + 1, 1)
            dup = tl.max((chosen == cand[:, None]).to(tl.int32), axis=1) > 0
            pick = tl.where(dup, t, cand)
            chosen = tl.where(j[None, :] == jj, pick[:, None], chosen)
        pos = tl.where((deg <= FANOUT)[:, None], j[None, :].to(tl.int64), chosen)
    slot = i[:, None].to(tl.int64) * FANOUT + j[None, :]
    in_slot = row_in[:, None] & (j[None, :] < FANOUT)
    take = in_slot & (j[None, :] < k[:, None])
    edge = start[:, None] + pos
    nbr = tl.load(indices_ptr + edge, mask=take, other=-1).to(tl.int64)
    outside = take & ((nbr < 0) | (nbr >= num_src))
    take = take & ~outside
    nbr = tl.where(take, nbr, -1)
    tl.store(bad_ptr + slot * 0, slot * 0 + 2, mask=outside)
    tl.store(slot_edge_ptr + slot, tl.where(take, edge, -1), mask=in_slot)
    tl.store(slot_nbr_ptr + slot, nbr, mask=in_slot)
    tl.store(slot_col_ptr + slot, local[:, None] + j[None, :] * 0, mask=in_slot)
    tl.store(slot_valid_ptr + slot, take.to(tl.int32), mask=in_slot)
    if CLAIM:
        tl.atomic_min(node_map_ptr + nbr, (claim_base + slot + _CAND).to(tl.int32), mask=take)
    tl.atomic_add(edge_count_ptr + hop, tl.sum(tl.sum(take.to(tl.int64), axis=1), axis=0))


@triton.jit(do_not_specialize=["hop", "claim_base"])
def weighted_kernel(
    indptr_ptr, indices_ptr, weight_ptr, nodes_ptr, bounds_ptr, hop, num_dst, num_src, node_map_ptr, claim_base,
    slot_nbr_ptr, slot_edge_ptr, slot_col_ptr, slot_valid_ptr, edge_count_ptr, keys_ptr, bad_ptr,
    time_ptr, row_time_ptr,
    FANOUT: tl.constexpr, F_PAD: tl.constexpr, REPLACE: tl.constexpr, BLOCK: tl.constexpr,
    CLAIM: tl.constexpr = True, TEMPORAL: tl.constexpr = False, LAST: tl.constexpr = False,
):
    """Weighted draws: program ``i`` fills frontier row ``i``'s slots ``i*FANOUT ..`` as
    :func:`sample_kernel` does, drawing edge ``e`` with probability proportional to ``weight[e]``.

    The row is read in chunks of BLOCK edges. With replacement: one pass sums the positive
    weights (running inclusive sums, computed alike in both passes so they agree bit for bit),
    a second locates each of the FANOUT uniform points of the total (the first edge whose
    running sum exceeds it; an edge of weight 0 never does). Without replacement
    (Efraimidis-Spirakis): each positive edge gets the key ``-log(1 - u) / w`` and the FANOUT
    smallest keys win, kept in registers; a chunk's candidates below the current largest kept
    key are inserted one at a time (few after the first chunks). Draws use a Philox stream per
    row (``keys[hop]`` and ``i``), counters the edge's position in the row.
    ``TEMPORAL`` / ``LAST`` / ``CLAIM``: as in :func:`sample_kernel`.
    """
    i = tl.program_id(0)
    row_seed = tl.load(keys_ptr + hop) + i.to(tl.int64) * 2147483648
    f_lo = tl.load(bounds_ptr + hop)
    f_hi = tl.load(bounds_ptr + hop + 1)
    local = f_lo + i
    live = local < f_hi
    v = tl.load(nodes_ptr + local, mask=live, other=0)
    ok = live & (v >= 0) & (v < num_dst)
    start = tl.load(indptr_ptr + v, mask=ok, other=0).to(tl.int64)
    deg = tl.load(indptr_ptr + v + 1, mask=ok, other=0).to(tl.int64) - start
    deg = tl.where(ok, deg, 0)
    if TEMPORAL:
        t = tl.load(row_time_ptr + i, mask=live, other=0)
        lo = start
        hi = start + deg
        while lo < hi:
            mid = (lo + hi) // 2
            if tl.load(time_ptr + mid) <= t:
                lo = mid + 1
            else:
                hi = mid
        deg = lo - start
        if LAST:
            skip = tl.maximum(deg - FANOUT, 0)
            start += skip
            deg -= skip
    j = tl.arange(0, F_PAD)
    lane = tl.arange(0, BLOCK)
    if REPLACE:
        run = tl.sum(tl.zeros([BLOCK], tl.float32), axis=0)
        last = deg * 0 - 1
        c = deg * 0
        while c < deg:
            offs = c + lane
            m = offs < deg
            w = tl.load(weight_ptr + start + offs, mask=m, other=0.0).to(tl.float32)
            w = tl.where(m & (w > 0), w, 0.0)
            run = tl.max(tl.where(m, tl.cumsum(w, axis=0) + run, run), axis=0)
            last = tl.maximum(last, tl.max(tl.where(m & (w > 0), offs, -1), axis=0))
            c += BLOCK
        total = run
        target = tl.rand(row_seed, j.to(tl.uint32)) * total
        pos = tl.full([F_PAD], -1, tl.int64)
        run = tl.sum(tl.zeros([BLOCK], tl.float32), axis=0)
        c = deg * 0
        while c < deg:
            offs = c + lane
            m = offs < deg
            w = tl.load(weight_ptr + start + offs, mask=m, other=0.0).to(tl.float32)
            w = tl.where(m & (w > 0), w, 0.0)
            cs = tl.cumsum(w, axis=0) + run
            n_valid = tl.sum(m.to(tl.int64), axis=0)
            n_le = tl.sum(((cs[None, :] <= target[:, None]) & m[None, :]).to(tl.int64), axis=1)
            pos = tl.where((pos < 0) & (n_le < n_valid), c + n_le, pos)
            run = tl.max(tl.where(m, cs, run), axis=0)
            c += BLOCK
        pos = tl.where(pos < 0, last, pos)
        take = (j < FANOUT) & ((tl.zeros([F_PAD], tl.float32) + total) > 0)
    else:
        best_key = tl.where(j < FANOUT, float("inf"), float("-inf"))
        pos = tl.full([F_PAD], -1, tl.int64)
        c = deg * 0
        while c < deg:
            offs = c + lane
            m = offs < deg
            w = tl.load(weight_ptr + start + offs, mask=m, other=0.0).to(tl.float32)
            u = tl.rand(row_seed, offs.to(tl.uint32))
            key = tl.where(m & (w > 0), -tl.log(1.0 - u) / tl.where(w > 0, w, 1.0), float("inf"))
            cand = tl.where(key < tl.max(best_key, axis=0), key, float("inf"))
            while tl.min(cand, axis=0) < tl.max(best_key, axis=0):
                smallest = tl.min(cand, axis=0)
                at = tl.argmin(cand, axis=0)
                worst = tl.argmax(best_key, axis=0)
                best_key = tl.where(j == worst, smallest, best_key)
                pos = tl.where(j == worst, c + at, pos)
                cand = tl.where(lane == at, float("inf"), cand)
            c += BLOCK
        take = (j < FANOUT) & (pos >= 0)
    in_slot = (j < FANOUT) & (local + j * 0 < f_hi)
    take = in_slot & take
    slot = i.to(tl.int64) * FANOUT + j
    edge = start + pos
    nbr = tl.load(indices_ptr + edge, mask=take, other=-1).to(tl.int64)
    outside = take & ((nbr < 0) | (nbr >= num_src))
    take = take & ~outside
    nbr = tl.where(take, nbr, -1)
    tl.store(bad_ptr + slot * 0, slot * 0 + 2, mask=outside)
    tl.store(slot_edge_ptr + slot, tl.where(take, edge, -1), mask=j < FANOUT)
    tl.store(slot_nbr_ptr + slot, nbr, mask=j < FANOUT)
    tl.store(slot_col_ptr + slot, local + j * 0, mask=j < FANOUT)
    tl.store(slot_valid_ptr + slot, take.to(tl.int32), mask=j < FANOUT)
    if CLAIM:
        tl.atomic_min(node_map_ptr + nbr, (claim_base + slot + _CAND).to(tl.int32), mask=take)
    tl.atomic_add(edge_count_ptr + hop, tl.sum(take.to(tl.int64), axis=0))


@triton.jit(do_not_specialize=["f_lo", "num_rows"])
def degree_kernel(indptr_ptr, nodes_ptr, f_lo, num_rows, num_nodes, deg_ptr, time_ptr, row_time_ptr,
                  BLOCK: tl.constexpr, TEMPORAL: tl.constexpr = False):
    """``deg[i]`` = in-degree of frontier row ``i`` (fanout -1); with ``TEMPORAL`` only the
    edges no later than ``row_time[i]`` (a prefix of the time-sorted row)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = i < num_rows
    v = tl.load(nodes_ptr + f_lo + i, mask=m, other=0)
    ok = m & (v >= 0) & (v < num_nodes)
    start = tl.load(indptr_ptr + v, mask=ok, other=0).to(tl.int64)
    end = tl.load(indptr_ptr + v + 1, mask=ok, other=0).to(tl.int64)
    deg = tl.where(ok, end - start, 0)
    if TEMPORAL:
        deg = _time_prefix(time_ptr, start, deg, tl.load(row_time_ptr + i, mask=m, other=0))
    tl.store(deg_ptr + i, deg, mask=m)


@triton.jit(do_not_specialize=["f_lo", "claim_base"])
def all_kernel(
    indptr_ptr, indices_ptr, nodes_ptr, f_lo, num_dst, num_src, offsets_ptr, node_map_ptr, claim_base,
    slot_nbr_ptr, slot_edge_ptr, slot_col_ptr, slot_valid_ptr, bad_ptr, weight_ptr, BLOCK: tl.constexpr,
    CLAIM: tl.constexpr = True, WEIGHTED: tl.constexpr = False,
):
    """Fanout -1: program ``i`` copies every neighbour of frontier row ``i`` to its slots (an
    out-of-range neighbour is dropped and sets ``bad`` to 2, as in :func:`sample_kernel`);
    with ``WEIGHTED`` an edge of weight 0 leaves its slot empty (``valid`` 0)."""
    i = tl.program_id(0)
    local = f_lo + i
    v = tl.load(nodes_ptr + local)
    ok = (v >= 0) & (v < num_dst)
    start = tl.load(indptr_ptr + v, mask=ok, other=0).to(tl.int64)
    base = tl.load(offsets_ptr + i)
    deg = tl.load(offsets_ptr + i + 1) - base
    c = deg * 0
    while c < deg:
        offs = c + tl.arange(0, BLOCK)
        m = offs < deg
        edge = start + offs
        nbr = tl.load(indices_ptr + edge, mask=m, other=-1).to(tl.int64)
        outside = m & ((nbr < 0) | (nbr >= num_src))
        good = m & ~outside
        if WEIGHTED:
            good = good & (tl.load(weight_ptr + edge, mask=m, other=0.0) > 0)
        slot = base + offs
        tl.store(bad_ptr + offs * 0, offs * 0 + 2, mask=outside)
        tl.store(slot_edge_ptr + slot, tl.where(good, edge, -1), mask=m)
        tl.store(slot_nbr_ptr + slot, tl.where(good, nbr, -1), mask=m)
        tl.store(slot_col_ptr + slot, local + offs * 0, mask=m)
        tl.store(slot_valid_ptr + slot, good.to(tl.int32), mask=m)
        if CLAIM:
            tl.atomic_min(node_map_ptr + nbr, (claim_base + slot + _CAND).to(tl.int32), mask=good)
        c += BLOCK


@triton.jit(do_not_specialize=["num_slots", "claim_base"])
def first_kernel(slot_nbr_ptr, num_slots, node_map_ptr, claim_base, flag_ptr, BLOCK: tl.constexpr):
    """``flag[p]`` = 1 where slot ``p`` (claimed as ``claim_base + p``) holds the first
    appearance of a node new in this hop."""
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < num_slots
    nbr = tl.load(slot_nbr_ptr + p, mask=m, other=-1)
    live = m & (nbr >= 0)
    claim = tl.load(node_map_ptr + nbr, mask=live, other=0)
    tl.store(flag_ptr + p, (live & (claim == claim_base + p + _CAND)).to(tl.int32), mask=m)


@triton.jit(do_not_specialize=["num_slots", "hop"])
def assign_kernel(slot_nbr_ptr, num_slots, flag_ptr, rank_ptr, bounds_ptr, hop, node_map_ptr, nodes_ptr,
                  BLOCK: tl.constexpr):
    """Winners take local ids ``bounds[hop+1] + rank - 1``; ``bounds[hop+2]`` gets the new total.

    ``rank`` is the prefix sum of the flags of every edge type claiming in this map during
    the hop (this edge type's part of it); the last such launch writes the group's total.
    """
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < num_slots
    base = tl.load(bounds_ptr + hop + 1)
    flag = tl.load(flag_ptr + p, mask=m, other=0) != 0
    rank = tl.load(rank_ptr + p, mask=m, other=0).to(tl.int64)
    nbr = tl.load(slot_nbr_ptr + p, mask=m & flag, other=0)
    local = base + rank - 1
    tl.store(node_map_ptr + nbr, local.to(tl.int32), mask=m & flag)
    tl.store(nodes_ptr + local, nbr, mask=m & flag)
    total = tl.load(rank_ptr + num_slots - 1).to(tl.int64)
    tl.store(bounds_ptr + hop + 2 + p * 0, base + total + p * 0, mask=p == 0)


@triton.jit(do_not_specialize=["num_slots"])
def compact_kernel(
    slot_nbr_ptr, slot_edge_ptr, slot_col_ptr, pos_ptr, num_slots, node_map_ptr,
    row_ptr, col_ptr, edge_ptr, BLOCK: tl.constexpr,
):
    """Filled slot ``p`` becomes output edge ``pos[p] - 1``: row = local id of its neighbour."""
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < num_slots
    nbr = tl.load(slot_nbr_ptr + p, mask=m, other=-1)
    live = m & (nbr >= 0)
    out = tl.load(pos_ptr + p, mask=live, other=1) - 1
    local = tl.load(node_map_ptr + nbr, mask=live, other=0)
    tl.store(row_ptr + out, local.to(tl.int64), mask=live)
    tl.store(col_ptr + out, tl.load(slot_col_ptr + p, mask=live, other=0), mask=live)
    tl.store(edge_ptr + out, tl.load(slot_edge_ptr + p, mask=live, other=0), mask=live)


@triton.jit
def clear_kernel(nodes_ptr, count_ptr, num_nodes, node_map_ptr, BLOCK: tl.constexpr):
    """Reset ``node_map`` for the first ``count[0]`` sampled nodes (the count read on the GPU)."""
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < tl.load(count_ptr)
    v = tl.load(nodes_ptr + p, mask=m, other=-1)
    ok = m & (v >= 0) & (v < num_nodes)
    tl.store(node_map_ptr + v, tl.full([BLOCK], _EMPTY, tl.int32), mask=ok)
