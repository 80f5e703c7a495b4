"""numba relabelling of disjoint trees on the CPU: ``(tree, node)`` keys -> local ids through a
hash table, new keys numbered in order of first appearance (the shared-tree ``relabel``'s
order, with a hash table in place of the node -> local-id array, whose key space would be
batch size x node count).

Keys are stamped with their call, so a call leaves nothing to clear (:class:`TreeTable`).
The table is split into ``P`` parts, one per pool thread, each owning a contiguous range of
trees (so parts never probe the same cells, and a thread needs no atomics). Within a part a
key's home cell is ``tree_offset * region + hash(node) % region`` (linear probing past it):
a tree's keys share one region, and since a hop's slots come grouped by tree (by edge type,
then tree, in a heterogeneous graph), the cells being probed stay in cache. A hop is three
passes: :func:`claim` (parallel over parts, each in slot order) finds or inserts every key and
flags a slot holding a key's first appearance; a prefix sum of the flags ranks them; and
:func:`assign` (parallel over parts, in slot order) gives flagged slots the next local ids
and every slot its key's local id. Slot order decides the numbering, not the partition: the
result does not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit

from sampling._pool import run_split, thread_count
from sampling._rng import mix64

EMPTY = -1
_S33 = np.uint64(33)


@njit(inline="always", cache=True)
def _region(cap, trees):
    """Cells per tree in a part of ``cap`` cells serving ``trees`` trees (a power of two >= 1)."""
    r = np.int64(1)
    while r * 2 * trees <= cap:
        r *= 2
    return r


@njit(inline="always", cache=True)
def _probe(table_key, base, mask, t, t_lo, v, region, stamped, shift, gen):
    """The cell of ``stamped`` (a key with this call's stamp) in the part at ``base``, or the
    free cell where it would go (a cell is free when its stamp is not this call's)."""
    h = np.int64(mix64(np.uint64(v)) >> _S33) & (region - 1)
    c = ((t - t_lo) * region + h) & mask
    while True:
        k = table_key[base + c]
        if k == stamped or (k >> shift) != gen:
            return base + c
        c = (c + 1) & mask


@njit(inline="always", cache=True)
def _span(trees, ordered, t_lo, t_hi):
    """The slots a part visits: with ``ordered`` (slots sorted by tree, as a homogeneous graph's
    always are) the range of its trees, found by binary search; else every slot."""
    if not ordered:
        return 0, trees.shape[0]
    return np.searchsorted(trees, t_lo), np.searchsorted(trees, t_hi)


@njit(cache=True, error_model="numpy")
def is_ordered(trees):
    """Whether ``trees`` never decreases."""
    for i in range(1, trees.shape[0]):
        if trees[i] < trees[i - 1]:
            return False
    return True


@njit(nogil=True, cache=True, error_model="numpy")
def claim(part_lo, part_hi, trees, ordered, nodes, part_tree, num_nodes, table_key, table_val, cap, shift, gen, filled,
          over, cell_of, flag):
    """Parts ``part_lo .. part_hi - 1``: find or insert the key ``trees[i] * num_nodes + nodes[i]``
    of every slot ``i`` whose tree is the part's (stored with the stamp ``gen << shift``);
    ``cell_of[i]`` gets its cell, ``flag[i]`` 1 where the key was inserted (its first
    appearance). A part that would fill past half its ``cap`` cells stops and sets ``over[p]``
    (the caller grows the table and repeats the hop)."""
    mask = cap - 1
    for p in range(part_lo, part_hi):
        t_lo, t_hi = part_tree[p], part_tree[p + 1]
        if t_hi == t_lo:
            continue
        base = p * cap
        region = _region(cap, t_hi - t_lo)
        n = filled[p]
        stamp = gen << shift
        i_lo, i_hi = _span(trees, ordered, t_lo, t_hi)
        for i in range(i_lo, i_hi):
            t = trees[i]
            if t < t_lo or t >= t_hi:
                continue
            v = nodes[i]
            key = (t * num_nodes + v) | stamp
            c = _probe(table_key, base, mask, t, t_lo, v, region, key, shift, gen)
            if table_key[c] != key:
                if 2 * (n + 1) > cap:
                    over[p] = 1
                    break
                table_key[c] = key
                table_val[c] = -1
                n += 1
                flag[i] = 1
            else:
                flag[i] = 0
            cell_of[i] = c
        filled[p] = n


@njit(nogil=True, cache=True, error_model="numpy")
def assign(part_lo, part_hi, trees, ordered, nodes, part_tree, cell_of, flag, rank, first_local, table_val, local,
           new_nodes, new_trees):
    """After :func:`claim` and ``rank`` = inclusive prefix sum of ``flag``: a flagged slot's key
    becomes local id ``first_local + rank[i] - 1`` (its node and tree appended at ``rank[i] - 1``
    of ``new_nodes`` / ``new_trees``), and every slot's ``local[i]`` is its key's local id."""
    for p in range(part_lo, part_hi):
        t_lo, t_hi = part_tree[p], part_tree[p + 1]
        if t_hi == t_lo:
            continue
        i_lo, i_hi = _span(trees, ordered, t_lo, t_hi)
        for i in range(i_lo, i_hi):
            t = trees[i]
            if t < t_lo or t >= t_hi:
                continue
            c = cell_of[i]
            if flag[i]:
                at = rank[i] - 1
                table_val[c] = first_local + at
                new_nodes[at] = nodes[i]
                new_trees[at] = t
            local[i] = table_val[c]


@njit(nogil=True, cache=True, error_model="numpy")
def insert_known(part_lo, part_hi, trees, nodes, part_tree, num_nodes, table_key, table_val, cap, shift, gen,
                 filled):
    """Re-insert nodes ``0 .. len(nodes) - 1`` (distinct keys, local id = position) into an empty,
    larger table (after :func:`claim` ran out of room)."""
    mask = cap - 1
    for p in range(part_lo, part_hi):
        t_lo, t_hi = part_tree[p], part_tree[p + 1]
        if t_hi == t_lo:
            continue
        base = p * cap
        region = _region(cap, t_hi - t_lo)
        n = 0
        stamp = gen << shift
        for i in range(trees.shape[0]):
            t = trees[i]
            if t < t_lo or t >= t_hi:
                continue
            v = nodes[i]
            key = (t * num_nodes + v) | stamp
            c = _probe(table_key, base, mask, t, t_lo, v, region, key, shift, gen)
            table_key[c] = key
            table_val[c] = i
            n += 1
        filled[p] = n


def _next_pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


class Scratch:
    """Named host arrays reused from call to call: ``get(key, n, dtype)`` is a view of ``n`` entries
    of the array kept under ``key`` (grown by half again when short; contents not kept).

    The disjoint path's per-hop pieces (slots, draws, relabelling) live here rather than in fresh
    arrays: the output is copied out of them at the end of a call, and fresh arrays of that size
    come from the kernel as new pages each call (thousands of page faults a batch). A key holds
    one piece of one call, so a call names every piece it keeps to the end (hop, edge type) apart.
    """

    def __init__(self) -> None:
        self._arrays: dict = {}

    def get(self, key, n: int, dtype=np.int64) -> np.ndarray:
        array = self._arrays.get(key)
        if array is None or array.shape[0] < n or array.dtype != dtype:
            array = np.empty(max(n, 16, 0 if array is None else array.shape[0] * 3 // 2), dtype=dtype)
            self._arrays[key] = array
        return array[:n]


class TreeTable:
    """One node type's ``(tree, node)`` hash table, kept by the CPU sampler across calls. Keys
    carry a stamp of their call (``gen << 40``; a cell whose stamp is another call's is free),
    so nothing is cleared between calls; where ``trees x nodes`` keys need more than 40 bits
    the table is emptied at each call instead (one O(cells) fill). Grows by doubling when a part
    would pass half full and keeps its size, so later calls of a similar batch do not grow.
    Memory: 16 bytes per cell, at most about 4 cells per node of the largest batch seen."""

    _SHIFT = 40
    _GENERATIONS = 1 << (63 - _SHIFT)

    def __init__(self, num_nodes: int) -> None:
        self.num_nodes = num_nodes
        self.parts = 0
        self.cap = 0
        self.key = np.zeros(0, dtype=np.int64)
        self.val = np.zeros(0, dtype=np.int64)
        self.gen = 0
        self.shift = 63
        self._raw = False  # whether unstamped keys may be left in the table
        self.scratch = Scratch()  # the relabelling's per-hop arrays

    def relabel(self, num_trees: int) -> HashRelabel:
        """The relabelling of one call over ``num_trees`` trees (see :class:`HashRelabel`)."""
        parts = max(1, min(thread_count(), num_trees))
        if parts != self.parts:
            cells = max(self.parts * self.cap, 1024 * parts)
            self._allocate(parts, _next_pow2(cells // parts))
        if num_trees * max(self.num_nodes, 1) < (1 << self._SHIFT):
            if self._raw or self.gen + 1 >= self._GENERATIONS:
                self.key.fill(EMPTY)
                self.gen, self._raw = 0, False
            self.gen, self.shift = self.gen + 1, self._SHIFT
        else:
            self.key.fill(EMPTY)
            self.gen, self.shift, self._raw = 0, 63, True
        return HashRelabel(self, num_trees)

    def _allocate(self, parts: int, cap: int) -> None:
        self.parts, self.cap = parts, cap
        self.key = np.full(parts * cap, EMPTY, dtype=np.int64)
        self.val = np.empty(parts * cap, dtype=np.int64)


class HashRelabel:
    """One call's relabelling of a node type (the disjoint driver's ``Relabel``): :meth:`hop`
    numbers the new keys of each hop.

    Cost per hop: a check that the slots come sorted by tree, two parallel passes over the hop's
    slots (each pool thread handles its own trees' slots: a range when sorted, else it reads
    every slot's tree), one prefix sum; allocates the outputs.
    """

    def __init__(self, table: TreeTable, num_trees: int) -> None:
        self._t = table
        p = table.parts
        self._part_tree = np.array([num_trees * i // p for i in range(p + 1)], dtype=np.int64)
        self._filled = np.zeros(p, dtype=np.int64)
        self._nodes: list[np.ndarray] = []
        self._trees: list[np.ndarray] = []
        self.count = 0
        self._hops = 0

    def hop(self, trees: torch.Tensor, nodes: torch.Tensor, valid=None):
        """Local ids of the slots' keys (``trees``, ``nodes``: int64 CPU tensors of one length;
        every slot filled, ``valid`` None), new keys numbered from :attr:`count` in slot order.
        Returns ``(local, new_nodes, new_trees, number of new nodes)``."""
        assert valid is None, "CPU draws are compacted"
        t = self._t
        tr, nd = trees.numpy(), nodes.numpy()
        n = tr.shape[0]
        hop, scratch = self._hops, t.scratch
        self._hops += 1
        cell_of = scratch.get(("cell", hop), n)
        flag = scratch.get(("flag", hop), n, np.int8)
        flag[:] = 0
        ordered = is_ordered(tr)
        while True:
            over = np.zeros(t.parts, dtype=np.int8)
            filled = self._filled.copy()
            run_split(claim, t.parts, tr, ordered, nd, self._part_tree, t.num_nodes, t.key, t.val, t.cap, t.shift,
                      t.gen, filled, over, cell_of, flag, grain=1)
            if not over.any():
                self._filled = filled
                break
            self._grow()
        rank = np.cumsum(flag, dtype=np.int64, out=scratch.get(("rank", hop), n))
        added = int(rank[-1]) if n else 0
        new_nodes = scratch.get(("nodes", hop), added)
        new_trees = scratch.get(("trees", hop), added)
        local = scratch.get(("local", hop), n)
        run_split(assign, t.parts, tr, ordered, nd, self._part_tree, cell_of, flag, rank, self.count, t.val, local,
                  new_nodes, new_trees, grain=1)
        self.count += added
        self._nodes.append(new_nodes)
        self._trees.append(new_trees)
        return torch.from_numpy(local), torch.from_numpy(new_nodes), torch.from_numpy(new_trees), added

    def _grow(self) -> None:
        """Double the table and re-insert the keys numbered so far (this hop's claims are dropped)."""
        t = self._t
        t._allocate(t.parts, 2 * t.cap)
        self._filled[:] = 0
        if self.count:
            run_split(insert_known, t.parts, np.concatenate(self._trees), np.concatenate(self._nodes),
                      self._part_tree, t.num_nodes, t.key, t.val, t.cap, t.shift, t.gen, self._filled, grain=1)
