"""The sampler's results: PyG's ``SamplerOutput`` and ``HeteroSamplerOutput`` semantics as frozen
dataclasses (DESIGN.md, Contracts)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

#: A canonical edge type, ``(src_type, relation, dst_type)`` as PyG names it.
EdgeType = tuple[str, str, str]


@dataclass(frozen=True)
class SamplerOutput:
    """A sampled subgraph, named and ordered as PyG's ``SamplerOutput``.

    Attributes:
        node: int64 global node ids, ordered ``[seeds | hop-1 new | hop-2 new | ...]``; the
            first ``len(seeds)`` entries are the seeds as given.
        row: int64 local ids (positions in ``node``) of each sampled edge's source, the
            sampled in-neighbour.
        col: int64 local ids of each sampled edge's target, the node it was sampled for.
        edge: int64 global edge ids, positions into the CSR's ``indices``.
        num_sampled_nodes: new nodes per hop, ``hops + 1`` entries (the seeds first).
        num_sampled_edges: sampled edges per hop, ``hops`` entries; edges are ordered by hop.
        batch: disjoint sampling only (else None): int64, the seed position whose tree each
            node belongs to (PyG's ``batch``); a node reached from two seeds appears twice.
    """

    node: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    edge: torch.Tensor
    num_sampled_nodes: list[int]
    num_sampled_edges: list[int]
    batch: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        """Number of distinct sampled nodes (seeds counted as given)."""
        return int(self.node.numel())

    @property
    def num_edges(self) -> int:
        """Number of sampled edges over all hops."""
        return int(self.row.numel())

    @property
    def edge_index(self) -> torch.Tensor:
        """``[2, num_edges]`` local edge index, source first (PyG's ``edge_index``). Cost: one stack."""
        return torch.stack([self.row, self.col])


@dataclass(frozen=True)
class HeteroSamplerOutput:
    """A sampled heterogeneous subgraph, named and ordered as PyG's ``HeteroSamplerOutput``.

    Every node type of the sampler is a key of ``node`` and ``num_sampled_nodes`` and every
    edge type a key of ``row``, ``col``, ``edge`` and ``num_sampled_edges``, in the sampler's
    order, whether or not anything was sampled for it (empty tensors, zero counts).

    Attributes:
        node: per node type, int64 global ids of that type ordered ``[seeds | hop-1 new |
            hop-2 new | ...]``, each node once per type (a repeated seed keeps its first
            position); the first entries are the seeds of that type as given.
        row: per edge type ``(s, r, d)``, int64 local ids into ``node[s]`` of each sampled
            edge's source (the sampled in-neighbour).
        col: per edge type, int64 local ids into ``node[d]`` of each edge's target (the
            frontier node it was sampled for).
        edge: per edge type, int64 global edge ids: positions into that edge type's ``indices``.
        num_sampled_nodes: per node type, new nodes per hop, ``hops + 1`` entries (seeds first).
        num_sampled_edges: per edge type, sampled edges per hop, ``hops`` entries; each edge
            type's edges are ordered by hop, and within a hop grouped by target in frontier order.
        batch: disjoint sampling only (else None): per node type, the tree (seed position,
            counted through the seed types in the order given) each node belongs to.
    """

    node: dict[str, torch.Tensor]
    row: dict[EdgeType, torch.Tensor]
    col: dict[EdgeType, torch.Tensor]
    edge: dict[EdgeType, torch.Tensor]
    num_sampled_nodes: dict[str, list[int]]
    num_sampled_edges: dict[EdgeType, list[int]]
    batch: dict[str, torch.Tensor] | None = None

    @property
    def num_nodes(self) -> dict[str, int]:
        """Distinct sampled nodes per node type (seeds counted as given)."""
        return {t: int(v.numel()) for t, v in self.node.items()}

    @property
    def num_edges(self) -> dict[EdgeType, int]:
        """Sampled edges per edge type over all hops."""
        return {t: int(v.numel()) for t, v in self.row.items()}

    @property
    def edge_index(self) -> dict[EdgeType, torch.Tensor]:
        """Per edge type, the ``[2, num_edges]`` local edge index, source first. Cost: one stack per type."""
        return {t: torch.stack([self.row[t], self.col[t]]) for t in self.row}
