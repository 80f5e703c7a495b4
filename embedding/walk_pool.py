"""DeepWalk pools in one pass: uniform walks written straight into the block-bucketed pool.

The general producer path walks with :func:`sampling.random_walk` (int64 node ids), then maps
every node to its partition and row and buckets the pairs (:mod:`embedding.augment`): three
passes over the walks and two random lookups per node. For uniform walks (DeepWalk, node2vec
with ``p = q = 1``) this module does the same work with less memory traffic:

* the walks run on the CSR relabelled into row order (:class:`RowGraph`: node ``v`` becomes row
  ``offsets[part_of[v]] + local_of[v]``), so a walk yields embedding rows directly and a row's
  partition is the offset range it falls in (vectorized compares against the ``P + 1``
  offsets, no ``N``-entry lookup); the degree order inside each partition also packs the hot
  rows together;
* walks advance 256 at a time in lockstep (256 independent cache misses per step) into a
  ``[walk_nodes, 256]`` int32 tile, transposed so that the pairs of one slot are contiguous;
* with ``P = 1`` every chunk of walks writes its pairs straight into the pool from the tile
  (a complete walk yields exactly ``pairs_per_walk`` pairs, so a chunk knows where its pairs
  go; chunks whose walks stopped early are closed up after);
* with ``P > 1`` the tiles are kept (4 bytes per node) and written in a second pass, once every
  chunk knows where its share of each block starts. A light-shuffle block of 64 walks is seen
  as ``P x walk_nodes`` 64-bit masks (bit ``w``: node ``s`` of walk ``w`` lies in partition
  ``p``), so the pairs of slot ``(k, j)`` in block ``(a, b)`` are ``masks[a, j] & masks[b, j + k]``:
  the first pass counts a block's pairs with one popcount per slot, not one increment per pair.
  With ``P <= 2`` the second pass writes block by block, walking the set bits of those ANDs
  with the cursor in a register; with more partitions (``P * P`` masks per slot, mostly near
  empty) it writes pair by pair at per-block cursors (a counting sort).

The pool equals ``bucket_pairs(random_walk(...))`` sample for sample: a step draws the same
neighbour position (a hash of key, walk and step), the relabelled rows keep each node's
neighbour order, and the pairs keep :mod:`embedding.augment`'s order (slot-major per 64 walks,
stable inside each block).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from numba import njit, prange
from numba.core.extending import intrinsic
from numba.cpython.unsafe.numbers import trailing_zeros

from embedding.augment import _WALK_BLOCK, block_cursors, pair_slots
from embedding.partition import Partition
from sampling._rng import below, draw, make_key, stream

# Walks advanced together: four light-shuffle blocks. 256 matches sampling's walk chunk
# (enough independent misses to fill the core's miss buffers); the tile is 41 x 1 KB at the
# default walk length, well inside L2.
_GROUP = 4 * _WALK_BLOCK
# sampling.random_walk's key salt: with it the same seed draws the same walks here.
_WALK_SALT = 0x5A1C
# Up to this many partitions the P > 1 write pass goes block by block (each block's pairs of a
# slot are a mask of walks); beyond it, pair by pair. Write pass alone, one thread, Youtube-sized
# graph, step 5, ns per pair, block by block against pair by pair: P = 2: 2.4-2.6 vs 3.5-4.0;
# P = 3: 3.4 vs 3.0; P = 4: 4.8-5.1 vs 3.1; P = 8: 13-14 vs 7.4.
_BLOCK_MAJOR_PARTITIONS = 2


@dataclass(frozen=True)
class RowGraph:
    """A CSR relabelled into embedding-row order (rows grouped by partition).

    Attributes:
        indptr: int64 ``[N + 1]`` offsets, indexed by row.
        indices: int32 ``[E]`` neighbour rows; each row keeps its node's neighbour order.
        offsets: int64 ``[P + 1]``, partition ``p`` owns rows ``offsets[p]:offsets[p + 1]``.
        row_of: int32 ``[N]``, the row of each original node id.
    """

    indptr: np.ndarray
    indices: np.ndarray
    offsets: np.ndarray
    row_of: np.ndarray

    @property
    def num_partitions(self) -> int:
        return self.offsets.shape[0] - 1

    @classmethod
    def relabel(cls, indptr: torch.Tensor, indices: torch.Tensor, partition: Partition) -> RowGraph:
        """Relabel a CSR into ``partition``'s row order.

        Cost: one parallel pass over the edges (numba), a new int32 copy of ``indices`` and an
        int64 copy of ``indptr``.

        Raises:
            ValueError: more than ``2**31 - 1`` nodes (rows are int32).
        """
        num_nodes = partition.num_nodes
        if num_nodes >= 2**31:
            raise ValueError(f"RowGraph keeps int32 rows; the graph has {num_nodes} nodes (at most 2**31 - 1)")
        old_indptr = indptr.cpu().numpy().astype(np.int64, copy=False)
        perm = partition.perm.numpy()
        row_of = partition.rows().to(torch.int32).numpy()
        degree = np.diff(old_indptr)[perm]
        new_indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(degree, out=new_indptr[1:])
        new_indices = np.empty(old_indptr[-1], dtype=np.int32)
        _relabel(old_indptr, indices.cpu().numpy(), perm, row_of, new_indptr, new_indices)
        return cls(new_indptr, new_indices, partition.offsets.numpy(), row_of)


@njit(cache=True, nogil=True, parallel=True)
def _relabel(old_indptr, old_indices, perm, row_of, new_indptr, new_indices):
    for r in prange(perm.shape[0]):
        src = old_indptr[perm[r]]
        dst = new_indptr[r]
        for e in range(new_indptr[r + 1] - dst):
            new_indices[dst + e] = row_of[old_indices[src + e]]


@njit(cache=True, nogil=True, inline="always")
def _walk_group(indptr, indices, starts, w0, nw, walk_length, key, tile, bases, row_start, degree):
    """Walk ``starts[w0:w0 + nw]``: ``tile[s, w]`` is the row after ``s`` steps (``-1`` once stopped).

    The step is ``sampling``'s uniform walker's: two passes over the group (row spans, then the
    drawn neighbours), so each pass issues ``nw`` independent cache misses.
    """
    for w in range(nw):
        tile[0, w] = starts[w0 + w]
        bases[w] = stream(key, w0 + w)
    for s in range(walk_length):
        for w in range(nw):
            cur = tile[s, w]
            if cur >= 0:
                a = indptr[cur]
                row_start[w] = a
                degree[w] = indptr[cur + 1] - a
            else:
                degree[w] = 0
        for w in range(nw):
            deg = degree[w]
            nxt = -1
            if deg > 0:
                nxt = indices[row_start[w] + below(draw(bases[w], s), deg)]
            tile[s + 1, w] = nxt


@njit(cache=True, nogil=True, inline="always")
def _complete(tile, b0, bn):
    """Whether walks ``b0:b0 + bn`` of the tile all ran to the end (a stopped walk ends in -1)."""
    last = tile.shape[0] - 1
    for w in range(b0, b0 + bn):
        if tile[last, w] < 0:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _emit_single(tile, b0, bn, slot_k, slot_j, heads, tails, at):
    """The pairs of walks ``b0:b0 + bn`` (one light-shuffle block), slot-major, from ``at``; returns the end."""
    if _complete(tile, b0, bn):
        for s in range(slot_k.shape[0]):
            j = slot_j[s]
            jk = j + slot_k[s]
            for w in range(bn):
                heads[at + w] = tile[j, b0 + w]
                tails[at + w] = tile[jk, b0 + w]
            at += bn
        return at
    for s in range(slot_k.shape[0]):
        j = slot_j[s]
        jk = j + slot_k[s]
        for w in range(b0, b0 + bn):
            h = tile[j, w]
            t = tile[jk, w]
            if h >= 0 and t >= 0:
                heads[at] = h
                tails[at] = t
                at += 1
    return at


@njit(cache=True, nogil=True)
def _single_chunk(indptr, indices, starts, walk_length, key, slot_k, slot_j, g0, g1, heads, tails):
    """Walk groups ``g0:g1`` and write their pairs from their place in a pool of complete walks."""
    num_walks = starts.shape[0]
    tile = np.empty((walk_length + 1, _GROUP), dtype=np.int32)
    bases = np.empty(_GROUP, dtype=np.uint64)
    row_start = np.empty(_GROUP, dtype=np.int64)
    degree = np.empty(_GROUP, dtype=np.int64)
    first = g0 * _GROUP * slot_k.shape[0]
    at = first
    for g in range(g0, g1):
        w0 = g * _GROUP
        nw = min(_GROUP, num_walks - w0)
        _walk_group(indptr, indices, starts, w0, nw, walk_length, key, tile, bases, row_start, degree)
        for b0 in range(0, nw, _WALK_BLOCK):
            at = _emit_single(tile, b0, min(_WALK_BLOCK, nw - b0), slot_k, slot_j, heads, tails, at)
    return at - first


@njit(cache=True, nogil=True, parallel=True)
def _fill_single(indptr, indices, starts, walk_length, key, slot_k, slot_j, num_chunks, heads, tails):
    # chunk bodies are their own functions (see embedding.sgd_cpu: numba's parfor analysis)
    groups = (starts.shape[0] + _GROUP - 1) // _GROUP
    per_chunk = (groups + num_chunks - 1) // num_chunks
    counts = np.zeros(num_chunks, dtype=np.int64)
    for c in prange(num_chunks):
        g0 = min(groups, c * per_chunk)
        counts[c] = _single_chunk(indptr, indices, starts, walk_length, key, slot_k, slot_j,
                                  g0, min(groups, g0 + per_chunk), heads, tails)
    return counts


@intrinsic
def _popcount(typingctx, bits):
    """Set bits of an integer (one ``popcnt`` instruction where the CPU has it)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return bits(bits), codegen


@njit(cache=True, nogil=True, inline="always")
def _partition_masks(tile, b0, bn, offsets, masks):
    """``masks[p, s]``: bit ``w`` set where node ``s`` of walk ``b0 + w`` lies in partition ``p``.

    For one light-shuffle block (``bn <= 64`` walks); a stopped walk's ``-1`` lies in no
    partition, so a pair's block is the AND of two masks and its count that AND's popcount.
    """
    keep = ~np.uint64(0) >> np.uint64(_WALK_BLOCK - bn)
    for p in range(offsets.shape[0] - 1):
        first, end = offsets[p], offsets[p + 1]
        for s in range(tile.shape[0]):
            mask = np.uint64(0)
            # all 64 columns (a fixed trip count vectorizes); those past bn are cut off by keep
            for w in range(_WALK_BLOCK):
                row = tile[s, b0 + w]
                mask |= np.uint64((row >= first) & (row < end)) << np.uint64(w)
            masks[p, s] = mask & keep


@njit(cache=True, nogil=True, inline="always")
def _map_rows(tile, offsets, part_tile, local_tile):
    """Partition and local row of every row of the tile (partition ``-1`` where a walk stopped).

    The partition is the number of partition starts at or below the row: one vectorized
    compare per partition and node, no table lookup and no branch.
    """
    for s in range(tile.shape[0]):
        for w in range(_GROUP):
            part_tile[s, w] = np.int32(tile[s, w] >= 0) - 1
        for p in range(1, offsets.shape[0] - 1):
            first = offsets[p]
            for w in range(_GROUP):
                part_tile[s, w] += np.int32(tile[s, w] >= first)
        for w in range(_GROUP):
            local_tile[s, w] = tile[s, w] - offsets[max(part_tile[s, w], 0)]


@njit(cache=True, nogil=True)
def _count_chunk(indptr, indices, starts, walk_length, key, slot_k, slot_j, offsets, g0, g1, store, counts):
    """Walk groups ``g0:g1`` into ``store`` and count their pairs per block into ``counts``."""
    num_walks = starts.shape[0]
    num_partitions = offsets.shape[0] - 1
    bases = np.empty(_GROUP, dtype=np.uint64)
    row_start = np.empty(_GROUP, dtype=np.int64)
    degree = np.empty(_GROUP, dtype=np.int64)
    masks = np.empty((num_partitions, walk_length + 1), dtype=np.uint64)
    for g in range(g0, g1):
        w0 = g * _GROUP
        nw = min(_GROUP, num_walks - w0)
        _walk_group(indptr, indices, starts, w0, nw, walk_length, key, store[g], bases, row_start, degree)
        for b0 in range(0, nw, _WALK_BLOCK):
            _partition_masks(store[g], b0, min(_WALK_BLOCK, nw - b0), offsets, masks)
            for ph in range(num_partitions):
                for pt in range(num_partitions):
                    pairs = 0
                    for s in range(slot_k.shape[0]):
                        j = slot_j[s]
                        pairs += _popcount(masks[ph, j] & masks[pt, j + slot_k[s]])
                    counts[ph * num_partitions + pt] += pairs


@njit(cache=True, nogil=True)
def _write_by_block(num_walks, slot_k, slot_j, offsets, g0, g1, store, cursor, heads, tails):
    """Write the pairs of groups ``g0:g1`` one block at a time: each (block, slot) is a mask of walks.

    No store waits for an earlier one (a block's cursor stays in a register), but every
    (block, slot) ends its bit loop with a mispredicted branch: ``P * P`` of them per slot of 64
    walks, about even with the counting sort at ``P = 3`` and dearer beyond
    (see ``_BLOCK_MAJOR_PARTITIONS``).
    """
    num_partitions = offsets.shape[0] - 1
    masks = np.empty((num_partitions, store.shape[1]), dtype=np.uint64)
    for g in range(g0, g1):
        tile = store[g]
        nw = min(_GROUP, num_walks - g * _GROUP)
        for b0 in range(0, nw, _WALK_BLOCK):
            _partition_masks(tile, b0, min(_WALK_BLOCK, nw - b0), offsets, masks)
            for ph in range(num_partitions):
                head_first = offsets[ph]
                for pt in range(num_partitions):
                    tail_first = offsets[pt]
                    at = cursor[ph * num_partitions + pt]
                    for s in range(slot_k.shape[0]):
                        j = slot_j[s]
                        jk = j + slot_k[s]
                        pending = masks[ph, j] & masks[pt, jk]
                        while pending:
                            w = b0 + trailing_zeros(pending)
                            heads[at] = tile[j, w] - head_first
                            tails[at] = tile[jk, w] - tail_first
                            at += 1
                            pending &= pending - np.uint64(1)
                    cursor[ph * num_partitions + pt] = at


@njit(cache=True, nogil=True)
def _write_by_pair(num_walks, slot_k, slot_j, offsets, g0, g1, store, cursor, heads, tails):
    """Write the pairs of groups ``g0:g1`` in pool order, each at its block's cursor (a counting sort)."""
    num_partitions = offsets.shape[0] - 1
    walk_nodes = store.shape[1]
    part_tile = np.empty((walk_nodes, _GROUP), dtype=np.int32)
    local_tile = np.empty((walk_nodes, _GROUP), dtype=np.int32)
    for g in range(g0, g1):
        nw = min(_GROUP, num_walks - g * _GROUP)
        _map_rows(store[g], offsets, part_tile, local_tile)
        for b0 in range(0, nw, _WALK_BLOCK):
            for s in range(slot_k.shape[0]):
                j = slot_j[s]
                jk = j + slot_k[s]
                for w in range(b0, min(nw, b0 + _WALK_BLOCK)):
                    ph = part_tile[j, w]
                    pt = part_tile[jk, w]
                    if ph >= 0 and pt >= 0:
                        b = ph * num_partitions + pt
                        at = cursor[b]
                        heads[at] = local_tile[j, w]
                        tails[at] = local_tile[jk, w]
                        cursor[b] = at + 1


@njit(cache=True, nogil=True, parallel=True)
def _fill_blocks(indptr, indices, starts, walk_length, key, slot_k, slot_j, offsets, num_chunks, by_block,
                 heads, tails):
    num_walks = starts.shape[0]
    num_partitions = offsets.shape[0] - 1
    groups = (num_walks + _GROUP - 1) // _GROUP
    per_chunk = (groups + num_chunks - 1) // num_chunks
    store = np.empty((groups, walk_length + 1, _GROUP), dtype=np.int32)
    counts = np.zeros((num_chunks, num_partitions * num_partitions), dtype=np.int64)
    for c in prange(num_chunks):
        g0 = min(groups, c * per_chunk)
        _count_chunk(indptr, indices, starts, walk_length, key, slot_k, slot_j, offsets,
                     g0, min(groups, g0 + per_chunk), store, counts[c])
    block_ptr, cursor = block_cursors(counts)
    for c in prange(num_chunks):
        g0 = min(groups, c * per_chunk)
        g1 = min(groups, g0 + per_chunk)
        if by_block:
            _write_by_block(num_walks, slot_k, slot_j, offsets, g0, g1, store, cursor[c], heads, tails)
        else:
            _write_by_pair(num_walks, slot_k, slot_j, offsets, g0, g1, store, cursor[c], heads, tails)
    return block_ptr


def walk_pool(
    graph: RowGraph,
    starts: np.ndarray,
    walk_length: int,
    step: int,
    seed: int,
    out: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform walks from ``starts``, augmented and bucketed into ``out``: one pool.

    Cost: one parallel numba pass (walk, pairs) with ``P = 1``, plus one copy of the pairs that
    follow a stopped walk (none on graphs where every node has neighbours); with ``P > 1`` two
    passes (walk and count by popcount, then write) and a 4-byte-per-node walk store. The numba
    passes release the GIL.

    Args:
        graph: the row-relabelled CSR.
        starts: int32 ``[W]`` start rows (``graph.row_of`` of the start nodes).
        walk_length: steps per walk.
        step: augmentation step ``>= 1``.
        seed: the pool's walk seed (as :func:`sampling.random_walk`'s ``seed``).
        out: int32 ``(heads, tails)`` buffers of at least :func:`embedding.augment.max_pairs` entries.

    Returns:
        ``(heads, tails, block_ptr)`` as :func:`embedding.augment.bucket_pairs` returns them.

    Raises:
        ValueError: ``out`` too small for every pair the walks could yield.
    """
    slot_k, slot_j = pair_slots(walk_length + 1, step)
    need = starts.shape[0] * slot_k.shape[0]
    if out[0].shape[0] < need or out[1].shape[0] < need:
        held = min(out[0].shape[0], out[1].shape[0])
        raise ValueError(f"out buffers hold {held} pairs, the walks yield up to {need}")
    key = make_key(seed, _WALK_SALT)
    num_chunks = max(1, 4 * numba.get_num_threads())
    heads, tails = out
    if graph.num_partitions > 1:
        by_block = graph.num_partitions <= _BLOCK_MAJOR_PARTITIONS
        block_ptr = _fill_blocks(graph.indptr, graph.indices, starts, walk_length, key, slot_k, slot_j,
                                 graph.offsets, num_chunks, by_block, heads, tails)
        return heads[: block_ptr[-1]], tails[: block_ptr[-1]], block_ptr
    counts = _fill_single(graph.indptr, graph.indices, starts, walk_length, key, slot_k, slot_j, num_chunks,
                          heads, tails)
    total = int(counts.sum())
    if total < need:  # some walks stopped: close the gaps, chunk by chunk, in order
        groups = -(-starts.shape[0] // _GROUP)
        per_chunk = -(-groups // num_chunks)
        at = 0
        for c, count in enumerate(counts.tolist()):
            first = min(groups, c * per_chunk) * _GROUP * slot_k.shape[0]
            if count and first != at:
                heads[at : at + count] = heads[first : first + count]
                tails[at : at + count] = tails[first : first + count]
            at += count
    return heads[:total], tails[:total], np.array([0, total], dtype=np.int64)
