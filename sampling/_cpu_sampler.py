"""The CPU path of :class:`sampling.NeighborSampler`: numba kernels over a CSR in host memory."""
from __future__ import annotations

import threading

import numpy as np
import torch

from sampling import _cpu_kernels as K
from sampling._rng import make_key
from sampling.output import SamplerOutput

class _Buffer:
    """A growable int64 array: ``reserve(n)`` keeps the first ``used`` entries."""

    def __init__(self, capacity: int) -> None:
        self.array = np.empty(max(capacity, 16), dtype=np.int64)

    def reserve(self, needed: int, used: int) -> np.ndarray:
        if needed > self.array.shape[0]:
            grown = np.empty(max(needed, 2 * self.array.shape[0]), dtype=np.int64)
            grown[:used] = self.array[:used]
            self.array = grown
        return self.array


class CpuNeighborSampler:
    """Samples over numpy views of a host CSR with a node -> local-id array of size N.

    Cost per call: per hop three parallel numba passes (row spans, draws, neighbour
    gather) into a reused padded workspace, one sequential relabelling pass and one
    parallel compaction into the outputs; allocates
    the four outputs once (grown by doubling if the first guess is short); no copy of the
    graph. Thread-safe through a lock (the node map and workspace are shared by all calls).
    """

    def __init__(self, indptr: torch.Tensor, indices: torch.Tensor, fanouts: tuple[int, ...], replace: bool) -> None:
        self._indptr = indptr.numpy()
        self._indices = indices.numpy()
        self._fanouts = fanouts
        self._replace = replace
        self._num_nodes = self._indptr.shape[0] - 1
        self._node_map = np.full(self._num_nodes, -1, dtype=np.int64 if self._num_nodes >= 2**31 else np.int32)
        self._start = _Buffer(0)
        self._degree = _Buffer(0)
        self._slot_edge = _Buffer(0)
        self._slot_nbr = _Buffer(0)
        self._lock = threading.Lock()

    def _edge_guess(self, num_seeds: int) -> int:
        """Upper bound on the edges of a call when every fanout is >= 0 (frontiers capped at N)."""
        total, frontier = 0, num_seeds
        for fanout in self._fanouts:
            if fanout < 0:
                return total + frontier * 8
            total += frontier * fanout
            frontier = min(frontier * fanout, self._num_nodes)
        return total

    def sample(self, seeds: torch.Tensor, seed: int, call: int) -> SamplerOutput:
        """Sample around ``seeds`` (int64, CPU, in range). See :meth:`NeighborSampler.sample`."""
        seeds_np = seeds.numpy()
        with self._lock:
            return self._sample_locked(seeds_np, seed, call)

    def _hop_slots(self, frontier: np.ndarray, fanout: int, key: np.uint64) -> tuple[np.ndarray, ...]:
        """Sample one hop into the workspace: ``(slot_edge, slot_nbr, slots, used)``.

        Row ``i`` of the frontier owns slots from ``slots[i]``; the first ``used[i]`` are filled.
        """
        num_rows = frontier.shape[0]
        start = self._start.reserve(num_rows, 0)
        degree = self._degree.reserve(num_rows, 0)
        K.row_spans(self._indptr, frontier, start, degree)
        slots = np.empty(num_rows + 1, dtype=np.int64)
        if fanout >= 0:
            np.multiply(np.arange(num_rows + 1, dtype=np.int64), fanout, out=slots)
            used = np.empty(num_rows, dtype=np.int64)
            slot_edge = self._slot_edge.reserve(int(slots[-1]), 0)
            K.draw_positions(start, degree, num_rows, fanout, self._replace, key, slot_edge, used)
        else:
            used = degree[:num_rows]
            slots[0] = 0
            np.cumsum(used, out=slots[1:])
            slot_edge = self._slot_edge.reserve(int(slots[-1]), 0)
            K.all_positions(start, slots, num_rows, slot_edge)
        slot_nbr = self._slot_nbr.reserve(int(slots[-1]), 0)
        K.gather_neighbors(self._indices, slot_edge, int(slots[-1]), slot_nbr)
        return slot_edge, slot_nbr, slots, used

    def _sample_locked(self, seeds: np.ndarray, seed: int, call: int) -> SamplerOutput:
        n0 = seeds.shape[0]
        guess = self._edge_guess(n0)
        nodes = _Buffer(n0 + guess)
        row, col, edge = _Buffer(guess), _Buffer(guess), _Buffer(guess)
        K.map_seeds(seeds, self._node_map, nodes.array)
        num_nodes, lo, num_edges = n0, 0, 0
        node_counts, edge_counts = [n0], []
        try:
            for hop, fanout in enumerate(self._fanouts):
                frontier = nodes.array[lo:num_nodes]
                num_rows = frontier.shape[0]
                slot_edge, slot_nbr, slots, used = self._hop_slots(frontier, fanout, make_key(seed, call, hop))
                out_at = np.empty(num_rows + 1, dtype=np.int64)
                out_at[0] = num_edges
                np.cumsum(used, out=out_at[1:])
                out_at[1:] += num_edges
                added = int(out_at[-1]) - num_edges
                node_array = nodes.reserve(num_nodes + added, num_nodes)
                new_total = K.relabel(slot_nbr, slots, used, num_rows, self._node_map, node_array, num_nodes)
                need = num_edges + added
                K.compact(
                    slot_nbr, slot_edge, slots, used, out_at, num_rows, lo,
                    row.reserve(need, num_edges), col.reserve(need, num_edges), edge.reserve(need, num_edges),
                )
                lo, num_nodes = num_nodes, new_total
                num_edges += added
                node_counts.append(num_nodes - lo)
                edge_counts.append(added)
        finally:
            K.clear_map(self._node_map, nodes.array, num_nodes)
        return SamplerOutput(
            node=torch.from_numpy(nodes.array[:num_nodes]),
            row=torch.from_numpy(row.array[:num_edges]),
            col=torch.from_numpy(col.array[:num_edges]),
            edge=torch.from_numpy(edge.array[:num_edges]),
            num_sampled_nodes=node_counts,
            num_sampled_edges=edge_counts,
        )
