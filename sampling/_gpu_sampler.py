"""The GPU path of :class:`sampling.NeighborSampler`: Triton kernels over a CSR in GPU memory
or in pinned host memory, read in place over PCIe (UVA)."""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
import triton

from sampling import _gpu_kernels as K
from sampling._rng import make_key
from sampling.csr import out_of_range_neighbour
from sampling.output import SamplerOutput

# Frontier rows per program of the sampling kernel: 64 rows x 16 slots keeps a program at
# 1024 lanes; larger blocks leave SMs idle on the small first hop.
_BLOCK_ROWS = 64
# Elements per program of the element-wise kernels (flags, assignment, compaction).
_BLOCK = 1024
# Captured graphs kept (one per batch size; an epoch's last batch is usually the second).
_MAX_GRAPHS = 4


def _grid(n: int, block: int) -> tuple[int]:
    return (max(1, triton.cdiv(n, block)),)


@dataclass(frozen=True)
class _Padded:
    """One call's results before the counts are read: padded buffers and the ``meta`` counts."""

    meta: torch.Tensor  # [bounds (hops + 2) | edges per hop (hops) | bad-seed flag]
    nodes: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    edge: torch.Tensor


class GpuNeighborSampler:
    """Samples on a GPU with a node -> local-id array of size N (int32, 4 bytes per node).

    Cost per call: 16 launches (seed; per hop sample, flag, prefix sum, assign; then a
    prefix sum, compaction and clearing) and one host sync that reads the per-hop counts;
    a fanout of -1 adds two launches and two host syncs. With ``cuda_graph`` the launches
    are captured once per batch size and replayed: one graph launch, a seed copy and four
    output copies per call. Allocates padded per-hop workspace and outputs on the GPU
    (through torch's caching allocator, or the graph's private pool).

    Args:
        indptr, indices: the CSR, both on one GPU or both in pinned host memory.
        fanouts, replace: as for NeighborSampler.
        cuda_graph: capture and replay CUDA graphs (needs every fanout >= 0).
        device: where kernels run; the CSR's GPU, else the current one. The CPU is accepted
            under ``TRITON_INTERPRET=1`` (tests run the kernels' logic there).
    """

    def __init__(
        self,
        indptr: torch.Tensor,
        indices: torch.Tensor,
        fanouts: tuple[int, ...],
        replace: bool,
        cuda_graph: bool = False,
        device: torch.device | None = None,
    ) -> None:
        if device is None:
            device = indptr.device if indptr.is_cuda else torch.device("cuda", torch.cuda.current_device())
        if cuda_graph and min(fanouts) < 0:
            raise ValueError(f"cuda_graph=True needs every fanout >= 0 (a -1 hop syncs), got fanouts {list(fanouts)}")
        self.device = device
        self._indptr = indptr
        self._indices = indices
        self._fanouts = fanouts
        self._replace = replace
        self._cuda_graph = cuda_graph
        self._num_nodes = indptr.numel() - 1
        self._node_map = torch.full((max(self._num_nodes, 1),), K.EMPTY, dtype=torch.int32, device=device)
        # Per-hop Philox seeds, written by the host before each call and read by the kernels
        # (pinned, so a replayed graph sees new values without a copy launch).
        keys = torch.zeros(max(len(fanouts), 1), dtype=torch.int64)
        self._keys = keys.pin_memory() if device.type == "cuda" else keys
        self._graphs: OrderedDict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, _Padded]] = OrderedDict()

    def _slot_bounds(self, n0: int) -> list[int] | None:
        """Slots per hop when every fanout is >= 0 (frontiers capped at N), else None."""
        sizes, rows = [], n0
        for fanout in self._fanouts:
            if fanout < 0:
                return None
            sizes.append(rows * fanout)
            rows = min(rows * fanout, self._num_nodes)
        return sizes

    def _launch(self, seeds: torch.Tensor) -> _Padded:
        """Every kernel of one call; no host sync unless a fanout is -1."""
        dev, hops, n0 = self.device, len(self._fanouts), seeds.numel()
        meta = torch.zeros(2 * hops + 3, dtype=torch.int64, device=dev)
        bounds, edge_counts, bad = meta[: hops + 2], meta[hops + 2 : 2 * hops + 2], meta[2 * hops + 2 :]
        sizes = self._slot_bounds(n0)
        capacity = n0 + (sum(sizes) if sizes is not None else self._num_nodes)
        nodes = torch.empty(max(capacity, 1), dtype=torch.int64, device=dev)
        K.seed_kernel[_grid(n0, _BLOCK)](seeds, n0, self._num_nodes, self._node_map, nodes, bounds, bad, BLOCK=_BLOCK)
        if sizes is not None:  # one workspace for every hop: no concatenation at the end
            total = sum(sizes)
            workspace = [torch.empty(total, dtype=torch.int64, device=dev) for _ in range(3)]
            valid = torch.empty(total, dtype=torch.int32, device=dev)
        parts, start, num_rows = [], 0, n0
        for hop, fanout in enumerate(self._fanouts):
            if sizes is not None:
                hop_slots = [w[start : start + sizes[hop]] for w in workspace] + [valid[start : start + sizes[hop]]]
                start += sizes[hop]
                self._sample_hop(hop, fanout, num_rows, bounds, edge_counts, nodes, hop_slots, bad)
            elif fanout < 0:
                hop_slots = self._sample_all(hop, bounds, edge_counts, nodes, bad)
            else:
                hop_slots = [torch.empty(num_rows * fanout, dtype=dt, device=dev) for dt in (torch.int64,) * 3 + (torch.int32,)]
                self._sample_hop(hop, fanout, num_rows, bounds, edge_counts, nodes, hop_slots, bad)
            self._relabel(hop, hop_slots[0], bounds, nodes)
            parts.append(hop_slots)
            num_rows = min(hop_slots[0].numel(), self._num_nodes)
        if sizes is not None:
            slot_nbr, slot_edge, slot_col = workspace
        else:
            slot_nbr, slot_edge, slot_col, valid = (torch.cat([p[i] for p in parts]) for i in range(4))
        num_slots = slot_nbr.numel()
        pos = torch.cumsum(valid, 0)
        row, col, edge = (torch.empty(num_slots, dtype=torch.int64, device=dev) for _ in range(3))
        if num_slots:
            K.compact_kernel[_grid(num_slots, _BLOCK)](
                slot_nbr, slot_edge, slot_col, pos, num_slots, self._node_map, row, col, edge, BLOCK=_BLOCK
            )
        K.clear_kernel[_grid(nodes.numel(), _BLOCK)](nodes, bounds[hops + 1 :], self._num_nodes, self._node_map, BLOCK=_BLOCK)
        return _Padded(meta, nodes, row, col, edge)

    def _sample_hop(self, hop, fanout, num_rows, bounds, edge_counts, nodes, hop_slots, bad) -> None:
        """Sample hop ``hop`` over at most ``num_rows`` frontier rows into ``hop_slots``."""
        if num_rows * fanout == 0:
            return
        K.sample_kernel[_grid(num_rows, _BLOCK_ROWS)](
            self._indptr, self._indices, nodes, bounds, hop, self._num_nodes, num_rows, self._node_map,
            *hop_slots, edge_counts, self._keys, bad,
            FANOUT=fanout, F_PAD=triton.next_power_of_2(fanout), REPLACE=self._replace, BLOCK_N=_BLOCK_ROWS,
        )

    def _sample_all(self, hop, bounds, edge_counts, nodes, bad) -> list[torch.Tensor]:
        """Fanout -1: two host syncs (frontier size, then total degree), every neighbour."""
        dev = self.device
        f_lo, f_hi = bounds[hop : hop + 2].tolist()
        num_rows = f_hi - f_lo
        offsets = torch.zeros(num_rows + 1, dtype=torch.int64, device=dev)
        if num_rows:
            K.degree_kernel[_grid(num_rows, _BLOCK)](
                self._indptr, nodes, f_lo, num_rows, self._num_nodes, offsets[1:], BLOCK=_BLOCK
            )
        torch.cumsum(offsets, 0, out=offsets)
        num_slots = int(offsets[-1])
        hop_slots = [torch.empty(num_slots, dtype=dt, device=dev) for dt in (torch.int64,) * 3 + (torch.int32,)]
        if num_slots:
            K.all_kernel[(num_rows,)](
                self._indptr, self._indices, nodes, f_lo, self._num_nodes, offsets, self._node_map, *hop_slots, bad,
                BLOCK=256,
            )
        edge_counts[hop] = num_slots
        return hop_slots

    def _relabel(self, hop: int, slot_nbr: torch.Tensor, bounds: torch.Tensor, nodes: torch.Tensor) -> None:
        """Give the hop's new nodes local ids in slot order and set ``bounds[hop + 2]``."""
        num_slots = slot_nbr.numel()
        if num_slots == 0:
            bounds[hop + 2 : hop + 3].copy_(bounds[hop + 1 : hop + 2])
            return
        flags = torch.empty(num_slots, dtype=torch.int32, device=self.device)
        K.first_kernel[_grid(num_slots, _BLOCK)](slot_nbr, num_slots, self._node_map, flags, BLOCK=_BLOCK)
        rank = torch.cumsum(flags, 0, dtype=torch.int32)
        K.assign_kernel[_grid(num_slots, _BLOCK)](
            slot_nbr, num_slots, flags, rank, bounds, hop, self._node_map, nodes, BLOCK=_BLOCK
        )

    def _replay(self, seeds: torch.Tensor) -> _Padded:
        """Replay (capturing on first sight) the graph of this batch size."""
        n0 = seeds.numel()
        entry = self._graphs.get(n0)
        if entry is None:
            static_seeds = seeds.clone()
            self._launch(static_seeds).meta.tolist()  # compile every kernel outside the capture
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                padded = self._launch(static_seeds)
            entry = (graph, static_seeds, padded)
            self._graphs[n0] = entry
            if len(self._graphs) > _MAX_GRAPHS:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(n0)
        graph, static_seeds, padded = entry
        static_seeds.copy_(seeds)
        graph.replay()
        return padded

    def capture(self, batch_sizes: list[int]) -> None:
        """Capture the graphs of these batch sizes now (with ``cuda_graph``; otherwise nothing).

        A capture fails when any other thread of the process syncs the device meanwhile, so
        a caller with other threads on the GPU captures before starting them.
        """
        if not self._cuda_graph:
            return
        with torch.cuda.device(self.device):
            for n0 in batch_sizes:
                if n0 > 0 and n0 not in self._graphs:
                    self._replay(torch.arange(n0, device=self.device) % self._num_nodes)

    def sample(self, seeds: torch.Tensor, seed: int, call: int) -> SamplerOutput:
        """Sample around ``seeds`` (any integer tensor; range checked at the final sync)."""
        # Triton launches on the current GPU: make it the sampler's.
        with torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            return self._sample(seeds, seed, call)

    def _sample(self, seeds: torch.Tensor, seed: int, call: int) -> SamplerOutput:
        # The seed kernel reads seeds[i] at offset i: a strided view (a column of a pair tensor)
        # must be made contiguous, or the kernel reads other elements and past the view's end.
        seeds = seeds.to(self.device, torch.int64, non_blocking=True).contiguous()
        hops = len(self._fanouts)
        for hop in range(hops):
            self._keys[hop] = int(make_key(seed, call, hop)) & 0x7FFFFFFF
        padded = self._replay(seeds) if self._cuda_graph else self._launch(seeds)
        counts = padded.meta.tolist()  # the one host sync of a call without fanout -1
        if counts[-1]:
            outside = ((seeds < 0) | (seeds >= self._num_nodes)).nonzero()
            if outside.numel():
                at = int(outside[0, 0])
                raise IndexError(
                    f"seeds[{at}] = {int(seeds[at])} is not a node id of this graph; "
                    f"expected ids in [0, {self._num_nodes})"
                )
            raise IndexError(out_of_range_neighbour(self._indices, self._num_nodes))
        num_nodes = counts[hops + 1]
        edge_counts = counts[hops + 2 : 2 * hops + 2]
        num_edges = sum(edge_counts)
        views = (padded.nodes[:num_nodes], padded.row[:num_edges], padded.col[:num_edges], padded.edge[:num_edges])
        if self._cuda_graph:  # the graph's buffers are overwritten by the next replay
            views = tuple(v.clone() for v in views)
        return SamplerOutput(
            node=views[0],
            row=views[1],
            col=views[2],
            edge=views[3],
            num_sampled_nodes=[counts[h + 1] - counts[h] for h in range(hops + 1)],
            num_sampled_edges=edge_counts,
        )
