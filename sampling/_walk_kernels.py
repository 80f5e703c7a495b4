"""numba kernels of the random walkers (uniform and node2vec), over a part of the walks.

The walkers are ``nogil`` and take a part ``[part_lo, part_hi)`` of the walks;
``sampling._pool.run_split`` runs the parts on a thread pool (the caller's thread waits
without the GIL, so e.g. a trainer thread keeps running). Each part advances a chunk of
``CHUNK`` walks one step at a time, so the loads of different walks are independent and the
core overlaps their cache misses (a walk step is two dependent random reads: ``indptr[cur]``
then ``indices[...]``). Draw ``s`` of walk ``w``
is a hash of (key, w, s): the walks do not depend on the thread count.

``CHUNK = 256``: on a 2 M-node graph, 256 walks per chunk with the two reads in separate
passes ran 1.8x faster than 64 walks with both reads in one loop body (one thread);
larger chunks gained nothing and spill the chunk's rows of ``out`` from L2.

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
STEP_BITS = 32
"""node2vec draws of step ``s`` are numbers ``s << STEP_BITS`` onwards of the walk's stream: no
step's rejections (two draws per attempt, up to 2**31 attempts) reach the next step's draws,
however low ``p`` and ``q`` far from 1 make the acceptance rate."""


@njit(nogil=True, cache=True, error_model="numpy")
def uniform_walks(part_lo, part_hi, indptr, indices, starts, walk_length, key, out):
    """DeepWalk: each step moves to a uniformly drawn in-neighbour; -1 once a walk is stuck.

    A step is two passes over the chunk: read every walk's row span, then every walk's
    next node, so each pass issues ``CHUNK`` independent cache misses.
    """
    for lo in range(part_lo, part_hi, CHUNK):
        hi = min(part_hi, lo + CHUNK)
        row_start = np.empty(hi - lo, dtype=np.int64)
        degree = np.empty(hi - lo, dtype=np.int64)
        for w in range(lo, hi):
            out[w, 0] = starts[w]
        for s in range(walk_length):
            for w in range(lo, hi):
                cur = out[w, s]
                if cur >= 0:
                    a = indptr[cur]
                    row_start[w - lo] = a
                    degree[w - lo] = indptr[cur + 1] - a
                else:
                    degree[w - lo] = 0
            for w in range(lo, hi):
                deg = degree[w - lo]
                nxt = -1
                if deg > 0:
                    nxt = indices[row_start[w - lo] + below(draw(stream(key, w), s), deg)]
                out[w, s + 1] = nxt


@njit(inline="always", cache=True)
def _is_neighbor(indptr, indices, sorted_rows, v, x):
    """Whether ``x`` is an in-neighbour of ``v`` (binary search when rows are sorted)."""
    lo = indptr[v]
    hi = indptr[v + 1]
    if sorted_rows:
        while lo < hi:
            mid = (lo + hi) >> 1
            if indices[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo < indptr[v + 1] and indices[lo] == x
    for e in range(lo, hi):
        if indices[e] == x:
            return True
    return False


@njit(nogil=True, cache=True, error_model="numpy")
def node2vec_walks(part_lo, part_hi, indptr, indices, starts, walk_length, inv_p, inv_q, sorted_rows, key, out):
    """node2vec by rejection: draw ``x`` uniformly among the current node's neighbours and
    keep it with probability ``w(x) / max(1/p, 1, 1/q)``, where ``w = 1/p`` if ``x`` is the
    previous node, 1 if ``x`` neighbours it, ``1/q`` otherwise (the first step is uniform).
    The adjacency test (a binary search) runs only when the coin falls between 1 and 1/q.
    """
    top = max(inv_p, 1.0, inv_q)
    low = min(1.0, inv_q)  # a coin below both weights of a non-return move accepts it outright
    high = max(1.0, inv_q)  # a coin above both rejects it outright
    for lo in range(part_lo, part_hi, CHUNK):
        hi = min(part_hi, lo + CHUNK)
        for w in range(lo, hi):
            out[w, 0] = starts[w]
        for s in range(walk_length):
            for w in range(lo, hi):
                cur = out[w, s]
                nxt = -1
                if cur >= 0:
                    a = indptr[cur]
                    deg = indptr[cur + 1] - a
                    if deg > 0:
                        base = stream(key, w)
                        j = s << STEP_BITS
                        while True:
                            x = indices[a + below(draw(base, j), deg)]
                            if s == 0:
                                break
                            prev = out[w, s - 1]
                            coin = unit(draw(base, j + 1)) * top
                            j += 2
                            if x == prev:
                                if coin < inv_p:
                                    break
                            elif coin < low:
                                break  # accepted whichever weight x has: no adjacency check
                            elif coin < high:
                                weight = 1.0 if _is_neighbor(indptr, indices, sorted_rows, prev, x) else inv_q
                                if coin < weight:
                                    break
                        nxt = x
                out[w, s + 1] = nxt


@njit(nogil=True, cache=True, error_model="numpy")
def rows_sorted(indptr, indices):
    """Whether every row of the CSR is sorted ascending. Cost: one sequential pass over E."""
    for v in range(indptr.shape[0] - 1):
        for e in range(indptr[v] + 1, indptr[v + 1]):
            if indices[e - 1] > indices[e]:
                return False
    return True
