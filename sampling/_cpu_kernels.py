"""numba kernels of the CPU neighbour sampler: parallel sampling passes, sequential relabelling.

A hop is five passes. ``row_spans`` (parallel) reads each frontier node's row start and
degree; ``draw_positions`` (parallel, no memory misses) picks the sampled edge ids of
frontier row ``i`` into slots ``[i*k, i*k + used[i])`` of a padded workspace;
``gather_neighbors`` (parallel) reads the neighbour behind every used slot. Splitting the
dependent reads into independent passes lets the core keep many cache misses in flight:
on a 2 M-node graph the three passes take a third of the time of one fused loop.
``relabel`` (sequential) walks the used slots in order and gives every newly seen node
the next local id through a node -> local-id array of size N, so nodes come in order of
first appearance; ``compact`` (parallel) writes ``row``/``col``/``edge``. A fanout of -1
takes every neighbour (``all_positions``). Draws of frontier row ``i`` are a hash of
(key, i, j): the result does not depend on the thread count.
"""
from __future__ import annotations

from numba import njit, prange

from sampling._rng import below, draw, stream


@njit(parallel=True, cache=True)
def row_spans(indptr, frontier, start, degree):
    """``start[i]``, ``degree[i]`` of frontier node ``i``'s row."""
    for i in prange(frontier.shape[0]):
        v = frontier[i]
        a = indptr[v]
        start[i] = a
        degree[i] = indptr[v + 1] - a


@njit(parallel=True, cache=True)
def draw_positions(start, degree, num_rows, fanout, replace, key, slot_edge, used):
    """Sampled edge ids of row ``i`` into slots ``[i*fanout, (i+1)*fanout)``, -1 in the unused
    ones; ``used[i]`` = how many are used.

    Without replacement and degree above the fanout, Floyd's algorithm draws ``fanout``
    distinct positions with ``fanout`` draws (each checked against those already taken).
    """
    for i in prange(num_rows):
        s0 = start[i]
        d = degree[i]
        lo = i * fanout
        if replace:
            k = fanout if d > 0 else 0
            base = stream(key, i)
            for j in range(k):
                slot_edge[lo + j] = s0 + below(draw(base, j), d)
        elif d <= fanout:
            k = d
            for j in range(k):
                slot_edge[lo + j] = s0 + j
        else:
            k = fanout
            base = stream(key, i)
            j = 0
            for t in range(d - k, d):
                r = s0 + below(draw(base, j), t + 1)
                for c in range(j):
                    if slot_edge[lo + c] == r:
                        r = s0 + t
                        break
                slot_edge[lo + j] = r
                j += 1
        used[i] = k
        for j in range(k, fanout):
            slot_edge[lo + j] = -1


@njit(parallel=True, cache=True)
def all_positions(start, offsets, num_rows, slot_edge):
    """Fanout -1: every edge id of row ``i`` into slots ``[offsets[i], offsets[i+1])``."""
    for i in prange(num_rows):
        s0 = start[i]
        lo = offsets[i]
        for j in range(offsets[i + 1] - lo):
            slot_edge[lo + j] = s0 + j


@njit(parallel=True, cache=True)
def gather_neighbors(indices, slot_edge, num_slots, slot_nbr):
    """``slot_nbr[s] = indices[slot_edge[s]]`` for every slot holding an edge id (not -1).

    One flat loop over the slots: the reads are independent, so many are in flight at once.
    """
    for s in prange(num_slots):
        e = slot_edge[s]
        if e >= 0:
            slot_nbr[s] = indices[e]


@njit(cache=True)
def relabel(slot_nbr, slots, used, num_rows, node_map, nodes, num_nodes):
    """Replace each used slot's neighbour by its local id, appending unseen nodes to ``nodes``.

    Returns the node count after the hop. Cost: one sequential pass, one random read of
    ``node_map`` per slot.
    """
    n = num_nodes
    for i in range(num_rows):
        lo = slots[i]
        for s in range(lo, lo + used[i]):
            u = slot_nbr[s]
            local = node_map[u]
            if local < 0:
                local = n
                node_map[u] = n
                nodes[n] = u
                n += 1
            slot_nbr[s] = local
    return n


@njit(parallel=True, cache=True)
def compact(slot_local, slot_edge, slots, used, out_at, num_rows, col_base, row, col, edge):
    """Row ``i``'s used slots to outputs ``[out_at[i], out_at[i] + used[i])``, target ``col_base + i``."""
    for i in prange(num_rows):
        lo = slots[i]
        at = out_at[i]
        for j in range(used[i]):
            row[at + j] = slot_local[lo + j]
            col[at + j] = col_base + i
            edge[at + j] = slot_edge[lo + j]


@njit(cache=True)
def map_seeds(seeds, node_map, nodes):
    """Give the seeds local ids ``0..len-1`` (a repeated seed maps to its first position)."""
    for i in range(seeds.shape[0]):
        nodes[i] = seeds[i]
    for i in range(seeds.shape[0] - 1, -1, -1):
        node_map[seeds[i]] = i


@njit(parallel=True, cache=True)
def clear_map(node_map, nodes, num_nodes):
    """Reset the node -> local-id array for the nodes this call touched."""
    for i in prange(num_nodes):
        node_map[nodes[i]] = -1
