"""The sampler's result: PyG's ``SamplerOutput`` semantics as a frozen dataclass (DESIGN.md, Contracts)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


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
    """

    node: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    edge: torch.Tensor
    num_sampled_nodes: list[int]
    num_sampled_edges: list[int]

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
