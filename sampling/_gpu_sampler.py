"""The GPU path of :class:`sampling.NeighborSampler`: Triton kernels over a CSR in GPU memory
or in pinned host memory, read in place over PCIe (UVA)."""
from __future__ import annotations

import torch
import triton

from sampling import _gpu_kernels as K
from sampling._rng import make_key
from sampling.output import SamplerOutput

# Frontier rows per program of the sampling kernel: 64 rows x 16 slots keeps a program at
# 1024 lanes; larger blocks leave SMs idle on the small first hop.
_BLOCK_ROWS = 64
# Elements per program of the element-wise kernels (flags, assignment, compaction).
_BLOCK = 1024


def _grid(n: int, block: int) -> tuple[int]:
    return (triton.cdiv(n, block),)


class GpuNeighborSampler:
    """Samples on a GPU with a node -> local-id array of size N (int32, 4 bytes per node).

    Cost per call: one seed kernel, per hop four launches (sample, flag, prefix sum,
    assign; a fanout of -1 takes two more and two host syncs), then a concatenation,
    a prefix sum, one compaction and one clearing kernel around a single host sync that
    reads the per-hop counts. Allocates the padded per-hop workspace and the outputs on
    the GPU (through torch's caching allocator).

    Args:
        indptr, indices: the CSR, both on one GPU or both in pinned host memory.
        fanouts, replace: as for NeighborSampler.
        device: where kernels run; the CSR's GPU, else the current one. The CPU is accepted
            under ``TRITON_INTERPRET=1`` (tests run the kernels' logic there).
    """

    def __init__(
        self,
        indptr: torch.Tensor,
        indices: torch.Tensor,
        fanouts: tuple[int, ...],
        replace: bool,
        device: torch.device | None = None,
    ) -> None:
        if device is None:
            device = indptr.device if indptr.is_cuda else torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self._indptr = indptr
        self._indices = indices
        self._fanouts = fanouts
        self._replace = replace
        self._num_nodes = indptr.numel() - 1
        self._node_map = torch.full((max(self._num_nodes, 1),), K.EMPTY, dtype=torch.int32, device=device)

    def _launch_hop(self, hop: int, fanout: int, num_rows: int, bounds, edge_counts, nodes, seed: int, call: int):
        """Sample hop ``hop`` over at most ``num_rows`` frontier rows; returns its slot buffers."""
        dev = self.device
        num_slots = num_rows * fanout
        slot_nbr = torch.empty(num_slots, dtype=torch.int64, device=dev)
        slot_edge = torch.empty(num_slots, dtype=torch.int64, device=dev)
        slot_col = torch.empty(num_slots, dtype=torch.int64, device=dev)
        if num_slots:
            K.sample_kernel[_grid(num_rows, _BLOCK_ROWS)](
                self._indptr, self._indices, nodes, bounds, hop, self._num_nodes, num_rows, self._node_map,
                slot_nbr, slot_edge, slot_col, edge_counts, int(make_key(seed, call, hop)) & 0x7FFFFFFF,
                FANOUT=fanout, F_PAD=triton.next_power_of_2(fanout), REPLACE=self._replace, BLOCK_N=_BLOCK_ROWS,
            )
        return slot_nbr, slot_edge, slot_col

    def _launch_all(self, hop: int, bounds, edge_counts, nodes):
        """Fanout -1: two host syncs (frontier size, then total degree) and every neighbour."""
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
        slot_nbr = torch.empty(num_slots, dtype=torch.int64, device=dev)
        slot_edge = torch.empty(num_slots, dtype=torch.int64, device=dev)
        slot_col = torch.empty(num_slots, dtype=torch.int64, device=dev)
        if num_slots:
            K.all_kernel[(num_rows,)](
                self._indptr, self._indices, nodes, f_lo, self._num_nodes, offsets, self._node_map,
                slot_nbr, slot_edge, slot_col, BLOCK=256,
            )
        edge_counts[hop] = num_slots
        return slot_nbr, slot_edge, slot_col

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

    def sample(self, seeds: torch.Tensor, seed: int, call: int) -> SamplerOutput:
        """Sample around ``seeds`` (any integer tensor; range checked at the final sync)."""
        dev = self.device
        seeds = seeds.to(dev, torch.int64, non_blocking=True)
        n0 = seeds.numel()
        hops = len(self._fanouts)
        # meta = [bounds (hops + 2) | edges per hop (hops) | bad-seed flag]: one read at the end.
        meta = torch.zeros(2 * hops + 3, dtype=torch.int64, device=dev)
        bounds, edge_counts, bad = meta[: hops + 2], meta[hops + 2 : 2 * hops + 2], meta[2 * hops + 2 :]
        bounds[1] = n0
        capacity, rows, known = n0, n0, True
        for fanout in self._fanouts:
            if fanout < 0:
                known = False
                break
            rows = min(rows * fanout, self._num_nodes)
            capacity += rows
        nodes = torch.empty(capacity if known else n0 + self._num_nodes, dtype=torch.int64, device=dev)
        if n0:
            K.seed_kernel[_grid(n0, _BLOCK)](seeds, n0, self._num_nodes, self._node_map, nodes, bad, BLOCK=_BLOCK)
        slots = []
        num_rows = n0
        for hop, fanout in enumerate(self._fanouts):
            if fanout < 0:
                hop_slots = self._launch_all(hop, bounds, edge_counts, nodes)
            else:
                hop_slots = self._launch_hop(hop, fanout, num_rows, bounds, edge_counts, nodes, seed, call)
            self._relabel(hop, hop_slots[0], bounds, nodes)
            slots.append(hop_slots)
            num_rows = min(hop_slots[0].numel(), self._num_nodes)
        slot_nbr, slot_edge, slot_col = (
            torch.cat([s[i] for s in slots]) if hops > 1 else slots[0][i] for i in range(3)
        )
        pos = torch.cumsum(slot_nbr >= 0, 0)
        counts = meta.tolist()  # the one host sync of a call without fanout -1
        num_nodes = counts[hops + 1]
        num_edges = sum(counts[hops + 2 : 2 * hops + 2])
        row = torch.empty(num_edges, dtype=torch.int64, device=dev)
        col = torch.empty(num_edges, dtype=torch.int64, device=dev)
        edge = torch.empty(num_edges, dtype=torch.int64, device=dev)
        if slot_nbr.numel():
            K.compact_kernel[_grid(slot_nbr.numel(), _BLOCK)](
                slot_nbr, slot_edge, slot_col, pos, slot_nbr.numel(), self._node_map, row, col, edge, BLOCK=_BLOCK
            )
        if num_nodes:
            K.clear_kernel[_grid(num_nodes, _BLOCK)](nodes, num_nodes, self._num_nodes, self._node_map, BLOCK=_BLOCK)
        if counts[-1]:
            at = int(((seeds < 0) | (seeds >= self._num_nodes)).nonzero()[0, 0])
            raise IndexError(
                f"seeds[{at}] = {int(seeds[at])} is not a node id of this graph; "
                f"expected ids in [0, {self._num_nodes})"
            )
        return SamplerOutput(
            node=nodes[:num_nodes],
            row=row,
            col=col,
            edge=edge,
            num_sampled_nodes=[counts[h + 1] - counts[h] for h in range(hops + 1)],
            num_sampled_edges=counts[hops + 2 : 2 * hops + 2],
        )
