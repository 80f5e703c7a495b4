"""Walks to positive samples, bucketed into the ``P x P`` block grid (numba, parallel, no GIL).

Every pair ``(walk[j], walk[j + k])`` for ``k = 1..step`` is a positive sample (GraphVite's
augmentation). Pairs are enumerated slot-major: all walks' ``(k, j)`` pair, then the next
slot, so consecutive samples come from different walks (the "light shuffle" that keeps one
walk's correlated pairs apart), and a stable counting sort by block keeps that order inside
each block. Entries ``< 0`` in a walk (a walk that stopped at a node with no neighbours) are
skipped.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


def pair_slots(walk_nodes: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(k, j)`` of every pair a walk of ``walk_nodes`` nodes yields with augmentation ``step``."""
    ks, js = [], []
    for k in range(1, step + 1):
        for j in range(walk_nodes - k):
            ks.append(k)
            js.append(j)
    return np.asarray(ks, dtype=np.int64), np.asarray(js, dtype=np.int64)


@njit(cache=True, nogil=True, inline="always")
def _pair(walks, slot_k, slot_j, num_walks, i):
    slot = i // num_walks
    w = i - slot * num_walks
    j = slot_j[slot]
    return walks[w, j], walks[w, j + slot_k[slot]]


@njit(cache=True, nogil=True, parallel=True)
def _bucket(walks, slot_k, slot_j, part_of, local_of, num_partitions, num_chunks, heads, tails):
    num_walks = walks.shape[0]
    total = num_walks * slot_k.shape[0]
    num_blocks = num_partitions * num_partitions
    chunk = (total + num_chunks - 1) // num_chunks
    counts = np.zeros((num_chunks, num_blocks), dtype=np.int64)
    for c in prange(num_chunks):
        for i in range(c * chunk, min(total, (c + 1) * chunk)):
            h, t = _pair(walks, slot_k, slot_j, num_walks, i)
            if h >= 0 and t >= 0:
                counts[c, part_of[h] * num_partitions + part_of[t]] += 1
    block_ptr = np.zeros(num_blocks + 1, dtype=np.int64)
    cursor = np.empty((num_chunks, num_blocks), dtype=np.int64)
    run = 0
    for b in range(num_blocks):
        block_ptr[b] = run
        for c in range(num_chunks):
            cursor[c, b] = run
            run += counts[c, b]
    block_ptr[num_blocks] = run
    for c in prange(num_chunks):
        for i in range(c * chunk, min(total, (c + 1) * chunk)):
            h, t = _pair(walks, slot_k, slot_j, num_walks, i)
            if h >= 0 and t >= 0:
                b = part_of[h] * num_partitions + part_of[t]
                at = cursor[c, b]
                heads[at] = local_of[h]
                tails[at] = local_of[t]
                cursor[c, b] = at + 1
    return block_ptr


def max_pairs(num_walks: int, walk_nodes: int, step: int) -> int:
    """Positive samples ``num_walks`` complete walks of ``walk_nodes`` nodes yield."""
    return num_walks * sum(max(0, walk_nodes - k) for k in range(1, step + 1))


def bucket_pairs(
    walks: np.ndarray,
    step: int,
    part_of: np.ndarray,
    local_of: np.ndarray,
    num_partitions: int,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment ``walks`` into positive pairs grouped by block.

    Cost: two parallel passes over the pairs, no intermediate pair arrays; writes into
    ``out`` (or allocates 8 bytes per pair when it is None).

    Args:
        walks: ``[num_walks, walk_nodes]`` node ids (``< 0`` marks a walk that stopped).
        step: augmentation step ``>= 1``.
        part_of: int32 ``[N]`` partition of each node.
        local_of: int32 ``[N]`` row of each node in its partition.
        num_partitions: ``P``.
        out: int32 ``(heads, tails)`` buffers of at least :func:`max_pairs` entries.

    Returns:
        ``(heads, tails, block_ptr)``: int32 local rows (views of ``out``), and int64
        ``[P*P + 1]`` offsets where block ``(i, j)`` is ``block_ptr[i*P + j]:block_ptr[i*P + j + 1]``.

    Raises:
        ValueError: ``out`` too small for every pair the walks could yield.
    """
    slot_k, slot_j = pair_slots(walks.shape[1], step)
    need = walks.shape[0] * slot_k.shape[0]
    if out is None:
        out = (np.empty(need, dtype=np.int32), np.empty(need, dtype=np.int32))
    if out[0].shape[0] < need or out[1].shape[0] < need:
        raise ValueError(f"out buffers hold {min(out[0].shape[0], out[1].shape[0])} pairs, the walks yield up to {need}")
    num_chunks = max(1, 4 * numba.get_num_threads())
    block_ptr = _bucket(walks, slot_k, slot_j, part_of, local_of, num_partitions, num_chunks, out[0], out[1])
    return out[0][: block_ptr[-1]], out[1][: block_ptr[-1]], block_ptr
