"""The CPU path of :class:`sampling.NeighborSampler`: numba kernels over a CSR in host memory."""
from __future__ import annotations

import numpy as np
import torch

from sampling import _cpu_kernels as K
from sampling._pool import run_split
from sampling._rng import make_key
from sampling.csr import out_of_range_neighbour
from sampling.output import SamplerOutput


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
    """Samples over numpy views of a host CSR with a node -> local-id array of size N.

    Cost per call: per hop one parallel pass (spans, draws, neighbour reads) into a reused
    workspace and one sequential relabelling pass, then a parallel compaction and clearing;
    parallel passes run on ``numba.get_num_threads()`` pool threads (``sampling._pool``).
    Allocates the four outputs; no copy of the graph. Not thread-safe (the node map and
    workspace are shared by all calls): :class:`sampling.NeighborSampler` serialises calls.
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
        self._slot_start = _Buffer(0)
        self._used = _Buffer(0)

    def sample(self, seeds: torch.Tensor, seed: int, call: int) -> SamplerOutput:
        """Sample around ``seeds`` (int64, CPU, in range). See :meth:`NeighborSampler.sample`."""
        seeds = seeds.numpy()
        n0 = seeds.shape[0]
        nodes = _Buffer(n0 * 16)
        K.map_seeds(seeds, self._node_map, nodes.array)
        num_nodes, lo, num_slots = n0, 0, 0
        node_counts, edge_counts = [n0], []
        try:
            for hop, fanout in enumerate(self._fanouts):
                hi = num_nodes
                slot_start = self._slot_start.reserve(hi + 1, lo)
                used = self._used.reserve(hi, lo)
                if fanout >= 0:
                    need = num_slots + (hi - lo) * fanout
                    slot_edge = self._slot_edge.reserve(need, num_slots)
                    slot_nbr = self._slot_nbr.reserve(need, num_slots)
                    run_split(
                        K.sample_rows, hi - lo, self._indptr, self._indices, nodes.array, lo, fanout, self._replace,
                        make_key(seed, call, hop), num_slots, slot_edge, slot_nbr, slot_start, used,
                    )
                else:
                    run_split(K.row_degrees, hi - lo, self._indptr, nodes.array, lo, used)
                    slot_start[lo] = num_slots
                    np.cumsum(used[lo : hi - 1], out=slot_start[lo + 1 : hi])
                    slot_start[lo + 1 : hi] += num_slots
                    need = num_slots + int(used[lo:hi].sum())
                    slot_edge = self._slot_edge.reserve(need, num_slots)
                    slot_nbr = self._slot_nbr.reserve(need, num_slots)
                    run_split(
                        K.take_all_rows, hi - lo, self._indptr, self._indices, nodes.array, lo, slot_start, used,
                        slot_edge, slot_nbr,
                    )
                added = int(used[lo:hi].sum())
                node_array = nodes.reserve(num_nodes + added, num_nodes)
                bad = np.full(1, -1, dtype=np.int64)
                num_nodes = K.relabel(slot_nbr, slot_start, used, lo, hi, self._node_map, node_array, num_nodes, bad)
                if bad[0] >= 0:
                    raise IndexError(out_of_range_neighbour(torch.from_numpy(self._indices), self._num_nodes))
                num_slots = need
                lo = hi
                node_counts.append(num_nodes - hi)
                edge_counts.append(added)
        finally:
            run_split(K.clear_map, num_nodes, self._node_map, nodes.array, grain=4096)
        num_rows, num_edges = lo, sum(edge_counts)
        out_at = np.zeros(num_rows + 1, dtype=np.int64)
        np.cumsum(self._used.array[:num_rows], out=out_at[1:])
        row, col, edge = (np.empty(num_edges, dtype=np.int64) for _ in range(3))
        run_split(
            K.compact, num_rows, self._slot_nbr.array, self._slot_edge.array, self._slot_start.array, self._used.array,
            out_at, row, col, edge,
        )
        return SamplerOutput(
            node=torch.from_numpy(nodes.array[:num_nodes]),
            row=torch.from_numpy(row),
            col=torch.from_numpy(col),
            edge=torch.from_numpy(edge),
            num_sampled_nodes=node_counts,
            num_sampled_edges=edge_counts,
        )
