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


#: Alias-table entries (``sampling._cpu_kernels.row_alias``): ``alias << 33 | threshold``; a row
#: whose weights are all 0 holds -1 at its first edge.
_THRESHOLD = tl.constexpr((1 << 33) - 1)
#: Philox offsets of the rejection draws (the keyed draws use the edge's position, below 2**31).
_ATTEMPT_OFFSET = tl.constexpr(2**31)


@triton.jit(do_not_specialize=["hop", "claim_base"])
def weighted_kernel(
    indptr_ptr, indices_ptr, weight_ptr, table_ptr, nodes_ptr, bounds_ptr, hop, num_dst, num_src, node_map_ptr,
    claim_base, slot_nbr_ptr, slot_edge_ptr, slot_col_ptr, slot_valid_ptr, edge_count_ptr, keys_ptr, bad_ptr,
    time_ptr, row_time_ptr,
    FANOUT: tl.constexpr, F_PAD: tl.constexpr, A_PAD: tl.constexpr, REPLACE: tl.constexpr, BLOCK: tl.constexpr,
    REJECT_FACTOR: tl.constexpr = 0, CLAIM: tl.constexpr = True, TEMPORAL: tl.constexpr = False,
    LAST: tl.constexpr = False,
):
    """Weighted draws: program ``i`` fills frontier row ``i``'s slots ``i*FANOUT ..`` as
    :func:`sample_kernel` does, drawing edge ``e`` with probability proportional to ``weight[e]``.

    A whole row draws from its alias table (``table``: a uniform bucket and one coin per draw,
    all draws at once). With replacement that is every draw; a row cut by a time limit instead
    reads its window in chunks of BLOCK edges: one pass sums the positive weights (running
    inclusive sums, computed alike in both passes so they agree bit for bit), a second locates
    each of the FANOUT uniform points of the total. Without replacement (the law of successive
    weighted draws): a whole row of at least ``REJECT_FACTOR * FANOUT`` edges makes
    ``min(4 * FANOUT, A_PAD)`` alias draws at once and keeps the first FANOUT distinct ones in
    draw order (rejection of repeats; ``REJECT_FACTOR`` 0 turns it off, for large fanouts);
    slots still open (every slot of other rows) go to the not yet chosen positive edges with the
    smallest keys ``-log(1 - u) / w`` (Efraimidis-Spirakis), kept in registers while the window
    is read in chunks; a chunk's candidates below the current largest kept key are inserted one
    at a time. Draws use a Philox stream per row (``keys[hop]`` and ``i``).
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
    row_deg = deg
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
    full = (deg == row_deg) & (deg > 0)
    # the row's alias draws: A_PAD of them (FANOUT used with replacement)
    a = tl.arange(0, A_PAD)
    r0, r1, _, _ = tl.randint4x(row_seed, (a.to(tl.int64) + _ATTEMPT_OFFSET).to(tl.uint32))
    bucket = r0.to(tl.int64) % tl.maximum(deg, 1)
    entry = tl.load(table_ptr + start + bucket, mask=(a * 0 + full.to(tl.int32)) > 0, other=-1)
    keep = r1.to(tl.int64) < (entry & _THRESHOLD)
    alias_pos = tl.where(keep, bucket, entry >> 33)
    has_weight = tl.load(table_ptr + start, mask=full, other=-1) != -1
    j = tl.arange(0, F_PAD)
    lane = tl.arange(0, BLOCK)
    if REPLACE:
        run = tl.sum(tl.zeros([BLOCK], tl.float32), axis=0)
        last = deg * 0 - 1
        c = deg * 0
        window = tl.where(full, 0, deg)  # a whole row needs no scan
        while c < window:
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
        while c < window:
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
        # a whole row: draw j is alias draw j
        drawn = tl.sum(tl.where(a[None, :] == j[:, None], alias_pos[None, :], 0), axis=1)
        pos = tl.where(full, drawn, pos)
        positive = tl.where(full, has_weight, total > 0)
        take = (j < FANOUT) & ((tl.zeros([F_PAD], tl.int32) + positive.to(tl.int32)) > 0)
    else:
        pos = tl.full([F_PAD], -1, tl.int64)
        got = deg * 0
        if REJECT_FACTOR > 0:  # rejection: the first FANOUT distinct alias draws, in draw order
            attempt = full & has_weight & (deg >= REJECT_FACTOR * FANOUT) & (a < 4 * FANOUT)
            earlier = (a[None, :] < a[:, None]) & (alias_pos[None, :] == alias_pos[:, None]) & attempt[None, :]
            fresh = attempt & (tl.max(earlier.to(tl.int32), axis=1) == 0)
            rank = tl.cumsum(fresh.to(tl.int32), axis=0)
            accept = fresh & (rank <= FANOUT)
            got = tl.sum(accept.to(tl.int64), axis=0)
            hit = accept[None, :] & (rank[None, :] == j[:, None] + 1)
            pos = tl.max(tl.where(hit, alias_pos[None, :], -1), axis=1)
        # the open slots: smallest keys among the positive edges not chosen
        best_key = tl.where(j < got, float("-inf"), tl.where(j < FANOUT, float("inf"), float("-inf")))
        c = deg * 0
        window = tl.where(got < FANOUT, deg, 0)
        while c < window:
            offs = c + lane
            m = offs < deg
            w = tl.load(weight_ptr + start + offs, mask=m, other=0.0).to(tl.float32)
            u = tl.rand(row_seed, offs.to(tl.uint32))
            chosen = tl.max(((offs[:, None] == pos[None, :]) & (j[None, :] < got)).to(tl.int32), axis=1) > 0
            key = tl.where(m & (w > 0) & ~chosen, -tl.log(1.0 - u) / tl.where(w > 0, w, 1.0), float("inf"))
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
