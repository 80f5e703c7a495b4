"""The CPU path of :class:`sampling.NeighborSampler`: numba kernels over a CSR in host memory."""
from __future__ import annotations

import threading

import numpy as np
import torch

from sampling import _cpu_kernels as K
from sampling._rng import make_key
from sampling.output import SamplerOutput

_EMPTY = np.empty(0, dtype=np.int64)


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

    Cost per call: per hop one parallel numba pass (sampling into a reused padded
    workspace) and one sequential pass (compaction and relabelling); allocates the four
    outputs once (grown by doubling if the first guess is short); no copy of the graph.
    Thread-safe through a lock (the node map and workspace are shared by all calls).
    """

    def __init__(self, indptr: torch.Tensor, indices: torch.Tensor, fanouts: tuple[int, ...], replace: bool) -> None:
        self._indptr = indptr.numpy()
        self._indices = indices.numpy()
        self._fanouts = fanouts
        self._replace = replace
        self._num_nodes = self._indptr.shape[0] - 1
        self._node_map = np.full(self._num_nodes, -1, dtype=np.int64 if self._num_nodes >= 2**31 else np.int32)
        self._slot_edge = _Buffer(0)
        self._slot_nbr = _Buffer(0)
        self._slot_col = _Buffer(0)
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
                if fanout >= 0:
                    num_slots = frontier.shape[0] * fanout
                    slot_edge = self._slot_edge.reserve(num_slots, 0)
                    slot_nbr = self._slot_nbr.reserve(num_slots, 0)
                    slot_col = _EMPTY
                    K.sample_padded(
                        self._indptr, self._indices, frontier, fanout, self._replace,
                        make_key(seed, call, hop), slot_edge, slot_nbr,
                    )
                else:
                    offsets = np.zeros(frontier.shape[0] + 1, dtype=np.int64)
                    K.all_counts(self._indptr, frontier, offsets)
                    np.cumsum(offsets, out=offsets)
                    num_slots = int(offsets[-1])
                    slot_edge = self._slot_edge.reserve(num_slots, 0)
                    slot_nbr = self._slot_nbr.reserve(num_slots, 0)
                    slot_col = self._slot_col.reserve(num_slots, 0)
                    K.sample_all(self._indptr, self._indices, frontier, offsets, lo, slot_edge, slot_nbr, slot_col)
                need = num_edges + num_slots
                node_array = nodes.reserve(num_nodes + num_slots, num_nodes)
                new_total, added = K.compact_relabel(
                    slot_edge, slot_nbr, slot_col, num_slots, fanout, lo, self._node_map, node_array, num_nodes,
                    row.reserve(need, num_edges), col.reserve(need, num_edges), edge.reserve(need, num_edges),
                    num_edges,
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
