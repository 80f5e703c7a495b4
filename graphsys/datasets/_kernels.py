"""Compiled kernels of the synthetic-graph generator (numba, parallel over rows).

Layout: nodes live in a *rank space* of class blocks ``[offsets[c], offsets[c+1])``; inside
block ``c`` the position at quantile ``q`` has weight ``(q + q0[c]) ** -alpha`` (a power law
capped by ``q0``), sampled by inverting its CDF in closed form (O(1) per draw, no tables).
``perm`` maps a rank position to its node id, so ids carry no trace of class or degree.
"""
from __future__ import annotations

import numba
import numpy as np

from graphsys.datasets._rng import mix, normal_pair, subkey, uniform

_TOP16 = np.uint64(48)


@numba.njit(cache=True, inline="always")
def _in_class(u, c, offsets, lo_pow, hi_pow, q0, inv_beta):
    """Rank position of a weight-proportional draw inside class ``c`` from a uniform ``u``."""
    n = offsets[c + 1] - offsets[c]
    q = (lo_pow[c] + u * (hi_pow[c] - lo_pow[c])) ** inv_beta - q0[c]
    j = np.int64(q * n)
    if j < 0:
        j = 0
    elif j >= n:
        j = n - 1
    return offsets[c] + j


@numba.njit(cache=True, inline="always")
def _anywhere(u1, u2, offsets, lo_pow, hi_pow, q0, inv_beta):
    """A weight-proportional draw over all nodes: the class by size, then a position inside it."""
    num_nodes = offsets[offsets.shape[0] - 1]
    pos = np.int64(u1 * num_nodes)
    if pos >= num_nodes:
        pos = num_nodes - 1
    c = np.searchsorted(offsets, pos, side="right") - 1
    return _in_class(u2, c, offsets, lo_pow, hi_pow, q0, inv_beta)


@numba.njit(parallel=True, cache=True)
def position_mass(offsets, lo_pow, hi_pow, q0, beta):
    """Probability that one weight-proportional draw lands on each rank position (sums to 1)."""
    num_classes = offsets.shape[0] - 1
    total = offsets[num_classes]
    mass = np.empty(total, dtype=np.float64)
    for c in numba.prange(num_classes):
        n = offsets[c + 1] - offsets[c]
        span = hi_pow[c] - lo_pow[c]
        share = n / total
        for j in range(n):
            a = ((j / n + q0[c]) ** beta - lo_pow[c]) / span
            b = (((j + 1) / n + q0[c]) ** beta - lo_pow[c]) / span
            mass[offsets[c] + j] = share * (b - a)
    return mass


@numba.njit(parallel=True, cache=True)
def spread_degrees(mass, key):
    """``mass`` times an Exp(1) factor per position, so degrees vary among equal-weight nodes."""
    out = np.empty_like(mass)
    for p in numba.prange(mass.shape[0]):
        out[p] = mass[p] * -np.log(1.0 - uniform(subkey(key, p), 0))
    return out


@numba.njit(parallel=True, cache=True)
def fill_rows(indptr, labels, perm, partner, offsets, lo_pow, hi_pow, q0, inv_beta,
              homophily, partner_share, key, indices, max_draw_factor, bipartite):
    """Give row ``v`` its ``indptr[v+1] - indptr[v]`` distinct neighbours (never ``v`` itself,
    unless ``bipartite``: rows and neighbours are then nodes of two types, ids of two spaces).

    Each draw: with probability ``homophily`` a node of ``v``'s class, else with probability
    ``partner_share`` a node of the partner class, else any node, always in proportion to
    weight. Rows are sorted. Returns the number filled per row (short only when a row runs out
    of its draw budget, ``max_draw_factor`` draws per slot).
    """
    num_rows = indptr.shape[0] - 1
    filled_out = np.zeros(num_rows, dtype=np.int64)
    for v in numba.prange(num_rows):
        lo = indptr[v]
        k = indptr[v + 1] - lo
        if k == 0:
            continue
        c = labels[v]
        other = partner[c]
        row_key = subkey(key, v)
        counter = 0
        budget = max_draw_factor * k + 64
        filled = 0
        while filled < k and counter < 3 * budget:
            t = filled
            while t < k and counter < 3 * budget:
                r = uniform(row_key, counter)
                u1 = uniform(row_key, counter + 1)
                u2 = uniform(row_key, counter + 2)
                counter += 3
                if r < homophily:
                    pos = _in_class(u1, c, offsets, lo_pow, hi_pow, q0, inv_beta)
                elif r < homophily + (1.0 - homophily) * partner_share:
                    pos = _in_class(u1, other, offsets, lo_pow, hi_pow, q0, inv_beta)
                else:
                    pos = _anywhere(u1, u2, offsets, lo_pow, hi_pow, q0, inv_beta)
                node = perm[pos]
                if bipartite or node != v:
                    indices[lo + t] = node
                    t += 1
            seg = indices[lo : lo + t]
            seg.sort()
            filled = 0
            for i in range(t):
                if i == 0 or seg[i] != seg[i - 1]:
                    seg[filled] = seg[i]
                    filled += 1
        filled_out[v] = filled
    return filled_out


@numba.njit(parallel=True, cache=True)
def compact_rows(indptr, indices, keep_len):
    """Keep the first ``keep_len[v]`` entries of each row; returns the new (indptr, indices)."""
    n = indptr.shape[0] - 1
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    new_indptr[1:] = np.cumsum(keep_len)
    out = np.empty(new_indptr[n], dtype=indices.dtype)
    for v in numba.prange(n):
        src = indptr[v]
        dst = new_indptr[v]
        for i in range(keep_len[v]):
            out[dst + i] = indices[src + i]
    return new_indptr, out


@numba.njit(cache=True)
def transpose(indptr, indices, num_nodes):
    """The CSR of the reversed edges; its rows come out sorted (rows are visited in order)."""
    counts = np.zeros(num_nodes + 1, dtype=np.int64)
    for e in range(indices.shape[0]):
        counts[indices[e] + 1] += 1
    t_indptr = np.cumsum(counts)
    cursor = t_indptr[:-1].copy()
    t_indices = np.empty(indices.shape[0], dtype=indices.dtype)
    for v in range(indptr.shape[0] - 1):
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            t_indices[cursor[u]] = v
            cursor[u] += 1
    return t_indptr, t_indices


@numba.njit(parallel=True, cache=True)
def union_rows(a_indptr, a_indices, b_indptr, b_indices):
    """Row-wise sorted union of two CSRs with sorted, duplicate-free rows."""
    n = a_indptr.shape[0] - 1
    sizes = np.zeros(n + 1, dtype=np.int64)
    for v in numba.prange(n):
        i, i_end = a_indptr[v], a_indptr[v + 1]
        j, j_end = b_indptr[v], b_indptr[v + 1]
        m = 0
        while i < i_end and j < j_end:
            if a_indices[i] < b_indices[j]:
                i += 1
            elif a_indices[i] > b_indices[j]:
                j += 1
            else:
                i += 1
                j += 1
            m += 1
        sizes[v + 1] = m + (i_end - i) + (j_end - j)
    indptr = np.cumsum(sizes)
    out = np.empty(indptr[n], dtype=a_indices.dtype)
    for v in numba.prange(n):
        i, i_end = a_indptr[v], a_indptr[v + 1]
        j, j_end = b_indptr[v], b_indptr[v + 1]
        o = indptr[v]
        while i < i_end or j < j_end:
            if j >= j_end or (i < i_end and a_indices[i] < b_indices[j]):
                out[o] = a_indices[i]
                i += 1
            elif i >= i_end or b_indices[j] < a_indices[i]:
                out[o] = b_indices[j]
                j += 1
            else:
                out[o] = a_indices[i]
                i += 1
                j += 1
            o += 1
    return indptr, out


@numba.njit(cache=True, inline="always")
def pair_hash(key, a, b):
    """A hash of the undirected pair {a, b} (the same for both directions)."""
    lo = min(a, b)
    hi = max(a, b)
    return mix(subkey(key, lo) ^ mix(np.uint64(hi) + np.uint64(1)))


@numba.njit(parallel=True, cache=True)
def pair_hash_histogram(indptr, indices, key, chunks):
    """Counts of the top 16 bits of ``pair_hash`` over the pairs ``{u, v}`` with ``u < v``."""
    n = indptr.shape[0] - 1
    hist = np.zeros((chunks, 65536), dtype=np.int64)
    step = (n + chunks - 1) // chunks
    for t in numba.prange(chunks):
        for v in range(t * step, min(n, (t + 1) * step)):
            for e in range(indptr[v], indptr[v + 1]):
                u = indices[e]
                if u < v:
                    hist[t, pair_hash(key, u, v) >> _TOP16] += 1
    return hist.sum(axis=0)


@numba.njit(cache=True)
def pair_hashes_in_bucket(indptr, indices, key, bucket, size):
    """Every ``pair_hash`` (over ``u < v``) whose top 16 bits equal ``bucket``."""
    out = np.empty(size, dtype=np.uint64)
    k = 0
    for v in range(indptr.shape[0] - 1):
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            if u < v:
                h = pair_hash(key, u, v)
                if (h >> _TOP16) == bucket:
                    out[k] = h
                    k += 1
    return out[:k]


@numba.njit(parallel=True, cache=True)
def drop_pairs_below(indptr, indices, key, threshold):
    """Remove both directions of every pair whose hash is ``<= threshold``."""
    n = indptr.shape[0] - 1
    keep = np.zeros(n, dtype=np.int64)
    for v in numba.prange(n):
        o = indptr[v]
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            if pair_hash(key, u, v) > threshold:
                indices[o] = u
                o += 1
        keep[v] = o - indptr[v]
    return compact_rows(indptr, indices, keep)


@numba.njit(parallel=True, cache=True)
def fill_features(out, row_start, true_class, centroids, noise, flip, key):
    """Rows ``row_start ..`` of the features: a class centroid plus Gaussian noise.

    With probability ``flip`` a node's centroid is that of a random other class (its own
    features mislead; only its neighbours can tell).
    """
    num_classes = centroids.shape[0]
    width = centroids.shape[1]
    for i in numba.prange(out.shape[0]):
        v = row_start + i
        row_key = subkey(key, v)
        c = true_class[v]
        if num_classes > 1 and uniform(row_key, 0) < flip:
            c = (c + 1 + np.int64(uniform(row_key, 1) * (num_classes - 1))) % num_classes
        for f in range(0, width, 2):
            z0, z1 = normal_pair(row_key, 2 + f)
            out[i, f] = centroids[c, f] + noise * z0
            if f + 1 < width:
                out[i, f + 1] = centroids[c, f + 1] + noise * z1


@numba.njit(cache=True, inline="always")
def _find(indptr, indices, src, dst):
    """Position of ``src`` in the sorted row ``dst`` of an in-neighbour CSR (the edge ``src -> dst``), or -1."""
    lo = indptr[dst]
    hi = indptr[dst + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < src:
            lo = mid + 1
        else:
            hi = mid
    if lo < indptr[dst + 1] and indices[lo] == src:
        return lo
    return -1


@numba.njit(parallel=True, cache=True)
def find_edges(indptr, indices, src, dst):
    """Positions in ``indices`` of the edges ``src[i] -> dst[i]`` (-1 where absent). Rows must be sorted."""
    out = np.empty(src.shape[0], dtype=np.int64)
    for i in numba.prange(src.shape[0]):
        out[i] = _find(indptr, indices, src[i], dst[i])
    return out


@numba.njit(parallel=True, cache=True)
def draw_negatives(indptr, indices, sources, num_nodes, key, out, strict, max_tries, exclude_self):
    """Fill row ``i`` of ``out`` with ``out.shape[1]`` targets drawn uniformly from
    ``[0, num_nodes)``, never ``sources[i]`` itself when ``exclude_self`` (sources and targets
    of one node type) and, with ``strict``, never a ``t`` with an edge ``sources[i] -> t`` in the
    (sorted) in-neighbour CSR. A slot still unfilled after ``max_tries`` draws takes its last
    (non-self) draw (only a source linked to nearly every node gets there). Draws are keyed by
    row, so the result does not depend on threads."""
    width = out.shape[1]
    for i in numba.prange(sources.shape[0]):
        s = sources[i]
        row_key = subkey(key, i)
        counter = 0
        for j in range(width):
            t = s
            for _ in range(max_tries):
                t = np.int64(uniform(row_key, counter) * num_nodes)
                counter += 1
                if t >= num_nodes:
                    t = num_nodes - 1
                if exclude_self and t == s:
                    continue
                if not strict or _find(indptr, indices, s, t) < 0:
                    break
            if exclude_self and t == s:
                t = (s + 1) % num_nodes
            out[i, j] = t
