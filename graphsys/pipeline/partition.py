"""Node order, partitions, chunks and halos: the static plan every rank computes the same way.

Nodes are renumbered so that (1) each graph-parallel partition is a contiguous id range and
(2) inside a partition, ids follow a reverse Cuthill-McKee order, which keeps neighbours close:
most in-neighbours of a chunk (a contiguous range) lie in the same or an adjacent chunk, so
few reads in a pipelined epoch have to come from history.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graphsys import csr_build
from graphsys.graph import Graph
from graphsys.hetero_graph import transpose_csr
from graphsys.pipeline.config import ModelKind, Partitioner


@dataclass(frozen=True)
class Layout:
    """The renumbering of all nodes.

    Attributes:
        order: ``order[new] = old`` node id (int64).
        rank_of: ``rank_of[old] = new`` node id (int64).
        bounds: partition ``g`` owns new ids ``[bounds[g], bounds[g+1])``.
        indptr, indices: the in-neighbour CSR in new ids.
    """

    order: torch.Tensor
    rank_of: torch.Tensor
    bounds: tuple[int, ...]
    indptr: torch.Tensor
    indices: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return self.order.numel()

    def owner(self, new_ids: torch.Tensor) -> torch.Tensor:
        """Partition owning each new id. Cost: one searchsorted."""
        return torch.searchsorted(torch.tensor(self.bounds[1:-1], dtype=torch.int64), new_ids, right=True)


def locality_order(graph: Graph) -> np.ndarray:
    """A reverse Cuthill-McKee order of ``graph`` read as undirected (``order[new] = old``):
    :func:`graphsys.csr_build.locality_order` over its CSR and their transpose.

    Cost: one parallel transpose and one serial pass over both, O(N + E) on the CPU.
    """
    indptr, indices = graph.indptr.cpu(), graph.indices.cpu()
    t_indptr, t_indices, _ = transpose_csr(indptr, indices, graph.num_nodes)
    return csr_build.locality_order(indptr.numpy(), indices.numpy(), t_indptr.numpy(), t_indices.numpy())


def make_layout(graph: Graph, parts: int, partitioner: Partitioner, seed: int) -> Layout:
    """Renumber ``graph`` into ``parts`` contiguous partitions, each in locality order.

    Cost: one RCM ordering and one relabelling of every edge, O(N + E) on the CPU.
    """
    n = graph.num_nodes
    if parts > max(n, 1):
        raise ValueError(f"graph_parallel = {parts} exceeds the node count {n}")
    rcm = locality_order(graph)
    position = np.empty(n, dtype=np.int64)
    position[rcm] = np.arange(n, dtype=np.int64)
    if Partitioner(partitioner) is Partitioner.CONTIGUOUS:
        part = (position * parts) // max(n, 1)
    else:
        rng = np.random.default_rng(seed)
        part = np.empty(n, dtype=np.int64)
        part[rng.permutation(n)] = np.arange(n, dtype=np.int64) % parts
    order = np.lexsort((position, part))
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order] = np.arange(n, dtype=np.int64)
    counts = np.bincount(part, minlength=parts)
    bounds = tuple(int(b) for b in np.concatenate([[0], np.cumsum(counts)]))

    old_indptr = graph.indptr.cpu().numpy()
    old_indices = graph.indices.cpu().numpy().astype(np.int64)
    degree = np.diff(old_indptr)
    new_degree = degree[order]
    indptr = np.concatenate([[0], np.cumsum(new_degree)]).astype(np.int64)
    starts = old_indptr[order]
    gather = np.repeat(starts - indptr[:-1], new_degree) + np.arange(indptr[-1], dtype=np.int64)
    indices = rank_of[old_indices[gather]]
    return Layout(
        order=torch.from_numpy(order),
        rank_of=torch.from_numpy(rank_of),
        bounds=bounds,
        indptr=torch.from_numpy(indptr),
        indices=torch.from_numpy(indices),
    )


@dataclass(frozen=True)
class ChunkPlan:
    """What one layer needs to compute a chunk: edges into the chunk over a concatenated input.

    The input rows of a layer on this chunk are ``[own rows | ext rows | halo rows]``:
    the chunk's own previous-layer rows, rows of other chunks of the same partition
    (``ext_ids``, partition-local) and rows owned by other partitions (``halo_slots`` into
    the partition's halo buffer).

    Attributes:
        start, stop: partition-local row range of the chunk.
        edge_row: chunk-local target of every edge. edge_col: its source in the input rows.
        edge_weight: the normalised weight of every edge. self_weight: per row (GCN's self loop).
        ext_ids, halo_slots: where the non-own input rows come from.
    """

    start: int
    stop: int
    edge_row: torch.Tensor
    edge_col: torch.Tensor
    edge_weight: torch.Tensor
    self_weight: torch.Tensor
    ext_ids: torch.Tensor
    halo_slots: torch.Tensor

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def num_inputs(self) -> int:
        """Rows of the concatenated input: own, ext and halo."""
        return self.size + self.ext_ids.numel() + self.halo_slots.numel()


@dataclass(frozen=True)
class PartitionPlan:
    """One partition's chunks and halo exchange.

    Attributes:
        group: the partition index g. start, stop: its new-id range.
        chunks: its chunk plans, in pipeline order.
        halo_nodes: new ids of the remote in-neighbours, sorted (so grouped by owner).
        recv_ranges: ``{peer: (lo, hi)}`` slots of ``halo_nodes`` that ``peer`` owns.
        send_ids: ``{peer: partition-local rows}`` this partition sends to ``peer``.
    """

    group: int
    start: int
    stop: int
    chunks: tuple[ChunkPlan, ...]
    halo_nodes: torch.Tensor
    recv_ranges: dict[int, tuple[int, int]]
    send_ids: dict[int, torch.Tensor]

    @property
    def size(self) -> int:
        return self.stop - self.start


def _halo_nodes(layout: Layout, g: int) -> torch.Tensor:
    lo, hi = layout.bounds[g], layout.bounds[g + 1]
    nbrs = layout.indices[layout.indptr[lo] : layout.indptr[hi]]
    return torch.unique(nbrs[(nbrs < lo) | (nbrs >= hi)])


def edge_weights(indptr: torch.Tensor, indices: torch.Tensor, model: ModelKind) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-edge and per-node (self-loop) weights of an in-neighbour CSR.

    GCN: ``1/sqrt((d_u+1)(d_v+1))`` and ``1/(d_v+1)`` (symmetric normalisation with self loops);
    SAGE: ``1/d_v`` (mean of the in-neighbours) and 0. Cost: O(E).
    """
    counts = indptr[1:] - indptr[:-1]
    deg = counts.to(torch.float32)
    targets = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    if ModelKind(model) is ModelKind.GCN:
        inv = (deg + 1).rsqrt()
        return inv[indices.long()] * inv[targets], 1.0 / (deg + 1)
    return 1.0 / deg.clamp(min=1)[targets], torch.zeros_like(deg)


def plan_partition(layout: Layout, g: int, chunks: int, model: ModelKind) -> PartitionPlan:
    """Chunk and halo plan for partition ``g``. Cost: O(N + E) on the CPU, once per run."""
    lo, hi = layout.bounds[g], layout.bounds[g + 1]
    size = hi - lo
    if chunks > max(size, 1):
        raise ValueError(f"chunks = {chunks} exceeds the {size} nodes of partition {g}")
    weight, self_weight = edge_weights(layout.indptr, layout.indices, model)
    halo = _halo_nodes(layout, g)
    owners = layout.owner(halo)
    recv_ranges: dict[int, tuple[int, int]] = {}
    for peer in torch.unique(owners).tolist():
        where = torch.nonzero(owners == peer).flatten()
        recv_ranges[int(peer)] = (int(where[0]), int(where[-1]) + 1)
    send_ids: dict[int, torch.Tensor] = {}
    for peer in range(len(layout.bounds) - 1):
        if peer == g:
            continue
        wanted = _halo_nodes(layout, peer)
        mine = wanted[(wanted >= lo) & (wanted < hi)] - lo
        if mine.numel():
            send_ids[peer] = mine
    cuts = [lo + (size * c) // chunks for c in range(chunks + 1)]
    plans = []
    for c in range(chunks):
        c0, c1 = cuts[c], cuts[c + 1]
        e0, e1 = int(layout.indptr[c0]), int(layout.indptr[c1])
        src = layout.indices[e0:e1]
        row = torch.repeat_interleave(torch.arange(c1 - c0), layout.indptr[c0 + 1 : c1 + 1] - layout.indptr[c0:c1])
        own = (src >= c0) & (src < c1)
        local = (src >= lo) & (src < hi)
        ext = local & ~own
        ext_ids, ext_pos = torch.unique(src[ext] - lo, return_inverse=True)
        halo_slots, halo_pos = torch.unique(torch.searchsorted(halo, src[~local]), return_inverse=True)
        col = torch.empty_like(src)
        col[own] = src[own] - c0
        col[ext] = (c1 - c0) + ext_pos
        col[~local] = (c1 - c0) + ext_ids.numel() + halo_pos
        plans.append(
            ChunkPlan(
                start=c0 - lo,
                stop=c1 - lo,
                edge_row=row,
                edge_col=col,
                edge_weight=weight[e0:e1],
                self_weight=self_weight[c0:c1],
                ext_ids=ext_ids,
                halo_slots=halo_slots,
            )
        )
    return PartitionPlan(
        group=g, start=lo, stop=hi, chunks=tuple(plans), halo_nodes=halo,
        recv_ranges=recv_ranges, send_ids=send_ids,
    )
