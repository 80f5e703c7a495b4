"""COO -> CSR construction kernels (numba): counting sort by target, then per-row sort and dedup.

No Python loop touches an edge; 120 M edges build in well under a minute on 2 cores.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _scatter_by_target(src, dst, weight, num_nodes, has_weight):
    counts = np.zeros(num_nodes + 1, dtype=np.int64)
    for e in range(dst.shape[0]):
        counts[dst[e] + 1] += 1
    indptr = np.cumsum(counts)
    cursor = indptr[:-1].copy()
    indices = np.empty(dst.shape[0], dtype=src.dtype)
    out_weight = np.empty(dst.shape[0] if has_weight else 0, dtype=np.float32)
    for e in range(dst.shape[0]):
        pos = cursor[dst[e]]
        indices[pos] = src[e]
        if has_weight:
            out_weight[pos] = weight[e]
        cursor[dst[e]] = pos + 1
    return indptr, indices, out_weight


@numba.njit(parallel=True, cache=True)
def _sort_rows(indptr, indices, weight, has_weight):
    for v in numba.prange(indptr.shape[0] - 1):
        lo, hi = indptr[v], indptr[v + 1]
        if hi - lo > 1:
            order = np.argsort(indices[lo:hi], kind="mergesort")
            indices[lo:hi] = indices[lo:hi][order]
            if has_weight:
                weight[lo:hi] = weight[lo:hi][order]


@numba.njit(parallel=True, cache=True)
def _dedup_sorted_rows(indptr, indices, weight, has_weight):
    """Drop repeated neighbours in sorted rows; a repeated edge keeps its largest weight."""
    n = indptr.shape[0] - 1
    kept = np.zeros(n + 1, dtype=np.int64)
    for v in numba.prange(n):
        lo, hi = indptr[v], indptr[v + 1]
        c = 0
        for i in range(lo, hi):
            if i == lo or indices[i] != indices[i - 1]:
                c += 1
        kept[v + 1] = c
    new_indptr = np.cumsum(kept)
    new_indices = np.empty(new_indptr[n], dtype=indices.dtype)
    new_weight = np.full(new_indptr[n] if has_weight else 0, -np.inf, dtype=np.float32)
    for v in numba.prange(n):
        lo, hi = indptr[v], indptr[v + 1]
        out = new_indptr[v] - 1
        for i in range(lo, hi):
            if i == lo or indices[i] != indices[i - 1]:
                out += 1
                new_indices[out] = indices[i]
            if has_weight and weight[i] > new_weight[out]:
                new_weight[out] = weight[i]
    return new_indptr, new_indices, new_weight


def coo_to_csr(
    src: np.ndarray,
    dst: np.ndarray,
    num_nodes: int,
    weight: np.ndarray | None = None,
    dedup: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Build the in-neighbour CSR of edges ``src[e] -> dst[e]`` (validated by the caller).

    Rows come out sorted by neighbour id. Cost: two passes over the edges plus a
    parallel per-row sort; allocates the CSR once (and once more with ``dedup``).
    """
    has_weight = weight is not None
    w = weight.astype(np.float32, copy=False) if has_weight else np.empty(0, dtype=np.float32)
    indptr, indices, out_w = _scatter_by_target(src, dst, w, num_nodes, has_weight)
    _sort_rows(indptr, indices, out_w, has_weight)
    if dedup:
        indptr, indices, out_w = _dedup_sorted_rows(indptr, indices, out_w, has_weight)
    return indptr, indices, (out_w if has_weight else None)
