"""Walks to positive samples, bucketed into the ``P x P`` block grid (numba, parallel, no GIL).

Every pair ``(walk[j], walk[j + k])`` for ``k = 1..step`` is a positive sample (GraphVite's
augmentation). Walks are taken in blocks of 64 and each block's pairs are enumerated
slot-major: the ``(k, j)`` pair of all 64 walks, then the next slot, so consecutive samples
come from different walks (the "light shuffle" that keeps one walk's correlated pairs apart)
while the block's walks stay in L1. A stable counting sort by grid block keeps that order
inside each grid block. Entries ``< 0`` in a walk (a walk that stopped at a node with no
neighbours) are skipped.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# Walks whose pairs are interleaved: enough to keep a walk's pairs 64 samples apart, few
# enough that their nodes (64 x walk length x 4 bytes, twice) stay in the L1 cache.
_WALK_BLOCK = 64


def pair_slots(walk_nodes: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(k, j)`` of every pair a walk of ``walk_nodes`` nodes yields with augmentation ``step``."""
    ks, js = [], []
    for k in range(1, step + 1):
        for j in range(walk_nodes - k):
            ks.append(k)
            js.append(j)
    return np.asarray(ks, dtype=np.int64), np.asarray(js, dtype=np.int64)


@njit(cache=True, nogil=True, inline="always")
def _map_block(walks, w0, w1, part_of, local_of, part_buf, local_buf):
    """Partition and local row of every node of walks ``w0:w1`` (``-1`` where a walk stopped)."""
    for w in range(w0, w1):
        for j in range(walks.shape[1]):
            v = walks[w, j]
            part_buf[w - w0, j] = part_of[v] if v >= 0 else -1
            local_buf[w - w0, j] = local_of[v] if v >= 0 else -1


@njit(cache=True, nogil=True)
def block_cursors(counts):
    """``(block_ptr, cursor)`` from per-chunk sample counts ``counts[c, b]`` of each pool block ``b``:
    blocks laid out one after another, each chunk's samples of a block after the earlier chunks',
    so every chunk writes its own range. Cost: one pass over ``counts``."""
    num_chunks, num_blocks = counts.shape
    block_ptr = np.zeros(num_blocks + 1, dtype=np.int64)
    cursor = np.empty((num_chunks, num_blocks), dtype=np.int64)
    run = 0
    for b in range(num_blocks):
        block_ptr[b] = run
        for c in range(num_chunks):
            cursor[c, b] = run
            run += counts[c, b]
    block_ptr[num_blocks] = run
    return block_ptr, cursor


@njit(cache=True, nogil=True, parallel=True)
def _bucket(walks, slot_k, slot_j, part_of, local_of, num_partitions, num_chunks, heads, tails):
    num_walks, walk_nodes = walks.shape
    num_slots = slot_k.shape[0]
    num_blocks = num_partitions * num_partitions
    walk_blocks = (num_walks + _WALK_BLOCK - 1) // _WALK_BLOCK
    per_chunk = (walk_blocks + num_chunks - 1) // num_chunks
    counts = np.zeros((num_chunks, num_blocks), dtype=np.int64)
    for c in prange(num_chunks):
        part_buf = np.empty((_WALK_BLOCK, walk_nodes), dtype=np.int32)
        local_buf = np.empty((_WALK_BLOCK, walk_nodes), dtype=np.int32)
        for wb in range(c * per_chunk, min(walk_blocks, (c + 1) * per_chunk)):
            w0 = wb * _WALK_BLOCK
            w1 = min(num_walks, w0 + _WALK_BLOCK)
            _map_block(walks, w0, w1, part_of, local_of, part_buf, local_buf)
            for s in range(num_slots):
                j, k = slot_j[s], slot_k[s]
                for w in range(w1 - w0):
                    ph, pt = part_buf[w, j], part_buf[w, j + k]
                    if ph >= 0 and pt >= 0:
                        counts[c, ph * num_partitions + pt] += 1
    block_ptr, cursor = block_cursors(counts)
    for c in prange(num_chunks):
        part_buf = np.empty((_WALK_BLOCK, walk_nodes), dtype=np.int32)
        local_buf = np.empty((_WALK_BLOCK, walk_nodes), dtype=np.int32)
        for wb in range(c * per_chunk, min(walk_blocks, (c + 1) * per_chunk)):
            w0 = wb * _WALK_BLOCK
            w1 = min(num_walks, w0 + _WALK_BLOCK)
            _map_block(walks, w0, w1, part_of, local_of, part_buf, local_buf)
            for s in range(num_slots):
                j, k = slot_j[s], slot_k[s]
                for w in range(w1 - w0):
                    ph, pt = part_buf[w, j], part_buf[w, j + k]
                    if ph >= 0 and pt >= 0:
                        b = ph * num_partitions + pt
                        at = cursor[c, b]
                        heads[at] = local_buf[w, j]
                        tails[at] = local_buf[w, j + k]
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
        held = min(out[0].shape[0], out[1].shape[0])
        raise ValueError(f"out buffers hold {held} pairs, the walks yield up to {need}")
    num_chunks = max(1, 4 * numba.get_num_threads())
    block_ptr = _bucket(walks, slot_k, slot_j, part_of, local_of, num_partitions, num_chunks, out[0], out[1])
    return out[0][: block_ptr[-1]], out[1][: block_ptr[-1]], block_ptr
