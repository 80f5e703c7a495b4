"""numba kernels of the CPU neighbour sampler: parallel sampling, sequential compact-and-relabel.

A hop with fanout ``k >= 0`` is two passes. ``sample_padded`` (parallel over the frontier)
writes frontier node ``i``'s sampled edge ids and neighbours into slots ``i*k .. i*k+k-1``
of a padded workspace, ``-1`` in unused slots. ``compact_relabel`` (sequential, one pass)
walks the slots in order, drops the empty ones and gives every newly seen node the next
local id through a node -> local-id array of size N, so nodes come in order of first
appearance. A fanout of ``-1`` first sizes each node's slice with ``all_counts``. The
draws of frontier node ``i`` are a hash of (key, i, j): the result does not depend on the
thread count.
"""
from __future__ import annotations

from numba import njit, prange

from sampling._rng import below, draw, stream


@njit(parallel=True, cache=True)
def sample_padded(indptr, indices, frontier, fanout, replace, key, out_edge, out_nbr):
    """Write frontier node ``i``'s sample into slots ``[i*fanout, (i+1)*fanout)``, -1 where unused.

    Without replacement and degree above the fanout, Floyd's algorithm draws ``fanout``
    distinct positions with ``fanout`` draws (each checked against those already taken).
    """
    for i in prange(frontier.shape[0]):
        v = frontier[i]
        start = indptr[v]
        deg = indptr[v + 1] - start
        lo = i * fanout
        if replace:
            k = fanout if deg > 0 else 0
            base = stream(key, i)
            for j in range(k):
                out_edge[lo + j] = start + below(draw(base, j), deg)
        elif deg <= fanout:
            k = deg
            for j in range(k):
                out_edge[lo + j] = start + j
        else:
            k = fanout
            base = stream(key, i)
            j = 0
            for t in range(deg - k, deg):
                r = start + below(draw(base, j), t + 1)
                for c in range(j):
                    if out_edge[lo + c] == r:
                        r = start + t
                        break
                out_edge[lo + j] = r
                j += 1
        for j in range(k):
            out_nbr[lo + j] = indices[out_edge[lo + j]]
        for j in range(k, fanout):
            out_nbr[lo + j] = -1


@njit(parallel=True, cache=True)
def all_counts(indptr, frontier, offsets):
    """``offsets[i+1]`` = degree of frontier node ``i`` (the caller prefix-sums)."""
    for i in prange(frontier.shape[0]):
        v = frontier[i]
        offsets[i + 1] = indptr[v + 1] - indptr[v]


@njit(parallel=True, cache=True)
def sample_all(indptr, indices, frontier, offsets, col_base, out_edge, out_nbr, out_col):
    """Fanout -1: every neighbour of frontier node ``i`` at ``offsets[i]:offsets[i+1]``."""
    for i in prange(frontier.shape[0]):
        v = frontier[i]
        start = indptr[v]
        lo = offsets[i]
        for j in range(offsets[i + 1] - lo):
            out_edge[lo + j] = start + j
            out_nbr[lo + j] = indices[start + j]
            out_col[lo + j] = col_base + i


@njit(cache=True)
def compact_relabel(slot_edge, slot_nbr, slot_col, num_slots, fanout, col_base, node_map, nodes, num_nodes, row, col, edge, at):
    """Append the hop's filled slots to ``row``/``col``/``edge`` from position ``at``.

    ``fanout`` is the slots per frontier node; for fanout -1 the targets come from ``slot_col``.
    Returns ``(num_nodes after the hop, edges written)``. Cost: one sequential pass.
    """
    n = num_nodes
    e = at
    for s in range(num_slots):
        u = slot_nbr[s]
        if u < 0:
            continue
        local = node_map[u]
        if local < 0:
            local = n
            node_map[u] = n
            nodes[n] = u
            n += 1
        row[e] = local
        edge[e] = slot_edge[s]
        col[e] = col_base + s // fanout if fanout > 0 else slot_col[s]
        e += 1
    return n, e - at


@njit(cache=True)
def map_seeds(seeds, node_map, nodes):
    """Give the seeds local ids ``0..len-1`` (a repeated seed maps to its first position)."""
    for i in range(seeds.shape[0]):
        nodes[i] = seeds[i]
    for i in range(seeds.shape[0] - 1, -1, -1):
        node_map[seeds[i]] = i


@njit(cache=True)
def clear_map(node_map, nodes, num_nodes):
    """Reset the node -> local-id array for the nodes this call touched."""
    for i in range(num_nodes):
        node_map[nodes[i]] = -1
