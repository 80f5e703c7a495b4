"""The CPU path of :class:`sampling.NeighborSampler`: numba kernels over CSRs in host memory.

One code path for every graph: a homogeneous graph is one node type and one edge type. Per
hop, every edge type ``(s, r, d)`` samples its frontier (the type-``d`` nodes new at the
previous hop, read from type ``d``'s node array) with the same kernels a homogeneous graph
uses, then each edge type in order relabels its sampled neighbours through type ``s``'s
node -> local-id array, appending unseen nodes to type ``s``'s node array.
"""
from __future__ import annotations

import numpy as np
import torch

from sampling import _cpu_kernels as K
from sampling._disjoint import sample_disjoint
from sampling._disjoint_kernels import Scratch, TreeTable
from sampling._pool import run_split
from sampling._rng import draw_key
from sampling._typed import typed_csr

# Placeholders passed to the kernels for an edge type without weights or times (never read).
_NO_WEIGHT = np.zeros(1, dtype=np.float64)
_NO_TIME = np.zeros(1, dtype=np.int64)


def _row_tables(indptr: np.ndarray, weight: np.ndarray, temporal: bool) -> tuple[np.ndarray, ...]:
    """Per-row alias tables of ``weight`` (8 bytes per edge; 12 more of scratch while built) and,
    for an edge type with times, per-row running sums (float64, 8 more) for rows cut by a time
    limit. Cost: one or two parallel O(E) passes, once per sampler."""
    table = np.empty(weight.shape[0], dtype=np.int64)
    prob = np.empty(weight.shape[0], dtype=np.float64)
    alias = np.empty(weight.shape[0], dtype=np.int32)
    run_split(K.row_alias, indptr.shape[0] - 1, indptr, weight, table, prob, alias, grain=16384)
    del prob, alias
    prefix = _NO_WEIGHT
    if temporal:
        prefix = np.empty(weight.shape[0], dtype=np.float64)
        run_split(K.row_prefix, indptr.shape[0] - 1, indptr, weight, prefix, grain=65536)
    return table, prefix


def alias_tables(indptr: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-row alias tables of ``weight`` over a CSR, packed one int64 per edge (see
    ``_cpu_kernels.row_alias``), on the CPU; the GPU sampler places them beside its CSR.
    Cost: copies to the host when the arrays are elsewhere; one parallel O(E) pass."""
    ip = indptr.detach().to("cpu").contiguous().numpy()
    w = weight.detach().to("cpu", torch.float64).contiguous().numpy()
    return torch.from_numpy(_row_tables(ip, w, False)[0])


class _Buffer:
    """A growable int64 array: ``reserve(n, used)`` keeps the first ``used`` entries."""

    def __init__(self, capacity: int) -> None:
        self.array = np.empty(max(capacity, 16), dtype=np.int64)

    def reserve(self, needed: int, used: int) -> np.ndarray:
        if needed > self.array.shape[0]:
            grown = np.empty(max(needed, 2 * self.array.shape[0]), dtype=np.int64)
            grown[:used] = self.array[:used]
            self.array = grown
        return self.array


class CpuNeighborSampler:
    """Samples over numpy views of host CSRs with one node -> local-id array per node type.

    Takes the arguments of :class:`sampling.NeighborSampler` (tensors or dicts per edge
    type); the graph is assumed checked. The node maps of all node types are views of one
    array of ``sum(num_nodes)`` entries.

    Cost per call: per hop and edge type one parallel pass (spans, draws, neighbour reads)
    into a reused workspace and one sequential relabelling pass, then per edge type a
    parallel compaction, and per node type a clearing pass; parallel passes run on
    ``numba.get_num_threads()`` pool threads (``sampling._pool``). Allocates the outputs; no
    copy of the graph. Not thread-safe (node maps and workspace are shared by all calls):
    :class:`sampling.NeighborSampler` serialises calls.
    """

    device = torch.device("cpu")

    def __init__(self, indptr, indices, fanouts, replace: bool, *, num_nodes=None, edge_weight=None,
                 edge_time=None) -> None:
        self._graph = g = typed_csr(indptr, indices, fanouts, num_nodes, validate=None, edge_weight=edge_weight,
                                    edge_time=edge_time)
        self._indptr = [p.contiguous().numpy() for p in g.indptr]
        self._indices = [i.contiguous().numpy() for i in g.indices]
        # Per edge type: weights as float64 (None: uniform) and times (None: no time limit).
        self._weight = [None if w is None else w.contiguous().to(torch.float64).numpy() for w in g.weight]
        self._time = [None if t is None else t.contiguous().numpy() for t in g.time]
        # Per weighted edge type: the O(1) draw tables (and running sums under times), beside the CSR.
        self._tables_w = [None if w is None else _row_tables(p, w, t is not None)
                          for p, w, t in zip(self._indptr, self._weight, self._time, strict=True)]
        self._replace = replace
        wide = max(g.num_nodes) >= 2**31
        self._node_map = np.full(sum(g.num_nodes), -1, dtype=np.int64 if wide else np.int32)
        at = np.concatenate([[0], np.cumsum(g.num_nodes)])
        self._maps = [self._node_map[at[t] : at[t + 1]] for t in range(len(g.node_types))]
        edges = range(len(g.edge_types))
        self._slot_edge = [_Buffer(0) for _ in edges]
        self._slot_nbr = [_Buffer(0) for _ in edges]
        self._slot_start = [_Buffer(0) for _ in edges]
        self._used = [_Buffer(0) for _ in edges]
        self._tables = [TreeTable(n) for n in g.num_nodes]  # disjoint relabelling, one per node type
        self._scratch = Scratch()  # the disjoint draws' workspace

    def capture(self, batch_sizes: list) -> None:
        """Nothing to capture: the CPU path launches no CUDA graphs."""

    def sample(self, seeds, seed: int, call: int):
        """Sample around ``seeds`` (per node type int64, CPU, in range). See :meth:`NeighborSampler.sample`."""
        g = self._graph
        types, edges = range(len(g.node_types)), range(len(g.edge_types))
        seed_arrays = [s.numpy() for s in g.seeds_by_type(seeds)]
        nodes = [_Buffer(s.shape[0] * 16) for s in seed_arrays]
        count = [s.shape[0] for s in seed_arrays]  # nodes per type so far
        lo = [0] * len(count)  # start of each type's frontier
        node_counts = [[c] for c in count]
        edge_counts: list[list[int]] = [[] for _ in edges]
        num_slots = [0] * len(edges)
        for t in types:
            K.map_seeds(seed_arrays[t], self._maps[t], nodes[t].array)
        try:
            for hop in range(g.hops):
                hi = list(count)
                need = [self._sample_edge_type(e, hop, lo[g.dst[e]], hi[g.dst[e]], nodes[g.dst[e]].array, num_slots[e],
                                               draw_key(seed, call, hop, e)) for e in edges]
                for e in edges:  # relabel in edge-type order: new nodes in order of first appearance
                    s, d = g.src[e], g.dst[e]
                    used = self._used[e].array
                    added = int(used[lo[d] : hi[d]].sum())
                    node_array = nodes[s].reserve(count[s] + added, count[s])
                    bad = np.full(1, -1, dtype=np.int64)
                    count[s] = K.relabel(self._slot_nbr[e].array, self._slot_start[e].array, used, lo[d], hi[d],
                                         self._maps[s], node_array, count[s], bad)
                    if bad[0] >= 0:
                        raise IndexError(g.neighbour_error())
                    num_slots[e] = need[e]
                    edge_counts[e].append(added)
                for t in types:
                    node_counts[t].append(count[t] - hi[t])
                lo = hi
        finally:
            for t in types:
                run_split(K.clear_map, count[t], self._maps[t], nodes[t].array, grain=4096)
        rows, cols, eids = [], [], []
        for e in edges:
            num_rows, num_edges = lo[g.dst[e]], sum(edge_counts[e])
            used = self._used[e].reserve(num_rows, num_rows)
            out_at = np.zeros(num_rows + 1, dtype=np.int64)
            np.cumsum(used[:num_rows], out=out_at[1:])
            row, col, edge = (np.empty(num_edges, dtype=np.int64) for _ in range(3))
            run_split(
                K.compact, num_rows, self._slot_nbr[e].array, self._slot_edge[e].array, self._slot_start[e].array,
                used, out_at, row, col, edge,
            )
            rows.append(torch.from_numpy(row))
            cols.append(torch.from_numpy(col))
            eids.append(torch.from_numpy(edge))
        return g.output(
            [torch.from_numpy(nodes[t].array[: count[t]]) for t in types], rows, cols, eids, node_counts, edge_counts
        )

    def sample_disjoint(self, seeds, order, seed_time, seed: int, call: int, last: bool = False):
        """One tree per seed (see :mod:`sampling._disjoint`): seeds and ``seed_time`` per node
        type (int64, CPU, in range), ``order`` the seed types' order; ``last`` keeps the latest
        neighbours of a temporal edge type. Cost: per hop and edge type one parallel draw pass,
        per hop and node type the hash-table relabelling (two parallel passes, one prefix sum)."""

        def draw(e, hop, frontier, trees, count, row_time, col_base):
            key = draw_key(seed, call, hop, e)
            return self._draw(e, hop, frontier.numpy(), trees.numpy(), None if row_time is None else row_time.numpy(),
                              key, last, col_base)

        seeds = list(seeds)
        num_trees = sum(s.numel() for s in seeds)
        relabel = [table.relabel(num_trees) for table in self._tables]
        return sample_disjoint(self._graph, draw, relabel, seeds, order, seed_time)

    def _draw(self, e: int, hop: int, frontier: np.ndarray, trees: np.ndarray, row_time, key, last: bool,
              col_base: int):
        """Edge type ``e``'s filled slots over ``frontier`` (global ids; ``trees`` their trees), in slot
        order, as tensors: neighbour, edge id, ``col_base`` + frontier position and tree per slot
        (the disjoint path's draws). Cost: the parallel draw pass, a prefix sum, a parallel compaction."""
        g = self._graph
        fanout = g.fanouts[e][hop]
        indptr, indices = self._indptr[e], self._indices[e]
        weights, times = self._edge_values(e, row_time)
        n = frontier.shape[0]
        # Every piece in the reused workspace (its slots, and the draws _assemble copies out at the end)
        scratch = self._scratch
        used = scratch.get(("used", e), n)
        slot_start = scratch.get(("slot_start", e), n + 1)
        if fanout >= 0:
            slot_edge = scratch.get(("slot_edge", e), n * fanout)
            slot_nbr = scratch.get(("slot_nbr", e), n * fanout)
            run_split(K.sample_rows, n, indptr, indices, frontier, 0, fanout, self._replace, key, 0,
                      slot_edge, slot_nbr, slot_start, used, *weights, *times, last)
        else:
            run_split(K.row_degrees, n, indptr, frontier, 0, used, weights[0], weights[-1], *times)
            slot_start[0] = 0
            np.cumsum(used, out=slot_start[1:])
            slot_edge = scratch.get(("slot_edge", e), int(slot_start[-1]))
            slot_nbr = scratch.get(("slot_nbr", e), int(slot_start[-1]))
            run_split(K.take_all_rows, n, indptr, indices, frontier, 0, slot_start, used, slot_edge, slot_nbr,
                      weights[0], weights[-1])
        out_at = scratch.get(("out_at", e), n + 1)
        out_at[0] = 0
        np.cumsum(used, out=out_at[1:])
        nbr, edge, col, tree = (scratch.get((name, e, hop), int(out_at[-1])) for name in ("nbr", "edge", "col", "tree"))
        bad = np.zeros(1, dtype=np.int64)
        run_split(K.compact_trees, n, slot_nbr, slot_edge, slot_start, used, out_at, trees, int(col_base),
                  g.num_nodes[g.src[e]], nbr, edge, col, tree, bad)
        if bad[0]:
            raise IndexError(g.neighbour_error())
        return torch.from_numpy(nbr), torch.from_numpy(edge), torch.from_numpy(col), torch.from_numpy(tree), None

    def _edge_values(self, e: int, row_time: np.ndarray | None):
        """The kernels' weight and time arguments of edge type ``e`` (placeholders when unused)."""
        weight, time = self._weight[e], self._time[e]
        temporal = time is not None and row_time is not None
        if time is None or row_time is None:
            time = row_time = _NO_TIME
        elif row_time.dtype != time.dtype:
            row_time = row_time.astype(time.dtype)
        tables = self._tables_w[e]
        if weight is None or tables is None:
            return (_NO_WEIGHT, _NO_TIME, _NO_WEIGHT, False), (time, row_time, temporal)
        return (weight, *tables, True), (time, row_time, temporal)

    def _sample_edge_type(self, e: int, hop: int, lo: int, hi: int, frontier: np.ndarray, num_slots: int, key,
                          row_time: np.ndarray | None = None, last: bool = False) -> int:
        """Draw edge type ``e``'s neighbours of frontier rows ``[lo, hi)`` (local ids of its
        destination type, global ids in ``frontier``); returns its slot count after the hop.
        ``row_time[r - lo]``: the time limit of row ``r`` (temporal graphs; ``last`` keeps the latest)."""
        fanout = self._graph.fanouts[e][hop]
        indptr, indices = self._indptr[e], self._indices[e]
        weights, times = self._edge_values(e, row_time)
        slot_start = self._slot_start[e].reserve(hi + 1, lo)
        used = self._used[e].reserve(hi, lo)
        if fanout >= 0:
            need = num_slots + (hi - lo) * fanout
            slot_edge = self._slot_edge[e].reserve(need, num_slots)
            slot_nbr = self._slot_nbr[e].reserve(need, num_slots)
            run_split(
                K.sample_rows, hi - lo, indptr, indices, frontier, lo, fanout, self._replace, key, num_slots,
                slot_edge, slot_nbr, slot_start, used, *weights, *times, last,
            )
            return need
        run_split(K.row_degrees, hi - lo, indptr, frontier, lo, used, weights[0], weights[-1], *times)
        slot_start[lo] = num_slots
        np.cumsum(used[lo : hi - 1], out=slot_start[lo + 1 : hi])
        slot_start[lo + 1 : hi] += num_slots
        need = num_slots + int(used[lo:hi].sum())
        slot_edge = self._slot_edge[e].reserve(need, num_slots)
        slot_nbr = self._slot_nbr[e].reserve(need, num_slots)
        run_split(K.take_all_rows, hi - lo, indptr, indices, frontier, lo, slot_start, used, slot_edge, slot_nbr,
                  weights[0], weights[-1])
        return need
