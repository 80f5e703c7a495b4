"""Degree-balanced node partitions: the rows and columns of GraphVite's block grid.

Nodes are split into ``P`` partitions of (nearly) equal size and equal total degree, and
renumbered so that each partition is one contiguous range of embedding rows. Loading the
rows of a partition onto a device is then one slice copy (no gather), and a sample stores
its head and tail as int32 offsets inside their partitions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Rounds (of P nodes, highest degree first) dealt greedily, heaviest node to the lightest
# partition: they carry the skew of a power-law graph. The rest are dealt in snake order,
# which keeps the loads within one small node of each other at no Python cost.
_GREEDY_ROUNDS = 2048


@dataclass(frozen=True)
class Partition:
    """A split of ``num_nodes`` nodes into ``num_partitions`` contiguous row ranges.

    Attributes:
        num_partitions: ``P``.
        part_of: int32 ``[N]``, the partition of each (original) node id.
        local_of: int32 ``[N]``, the row of each node inside its partition.
        offsets: int64 ``[P + 1]``, partition ``p`` owns rows ``offsets[p]:offsets[p + 1]``.
        perm: int64 ``[N]``, the original node id stored at each row (rows in partition order).
    """

    num_partitions: int
    part_of: torch.Tensor
    local_of: torch.Tensor
    offsets: torch.Tensor
    perm: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return self.part_of.numel()

    def size(self, p: int) -> int:
        """Number of nodes in partition ``p``."""
        return int(self.offsets[p + 1] - self.offsets[p])

    def rows(self) -> torch.Tensor:
        """int64 ``[N]``: the embedding row of each original node id (inverse of ``perm``)."""
        return self.offsets[self.part_of.long()] + self.local_of.long()


def degree_balanced_partition(degree: torch.Tensor, num_partitions: int) -> Partition:
    """Split nodes into ``num_partitions`` parts of equal size and near-equal total degree.

    Nodes are ranked by degree (highest first) and dealt in rounds of ``P``, one node of
    each round to each partition, so sizes differ by at most one. The first rounds go
    heaviest node to least-loaded partition; the rest in snake order (0..P-1, P-1..0, ...).
    Within a partition the rows keep the degree order, which puts the hot rows together.

    Cost: one sort of ``N`` degrees on the CPU, plus up to 2048 small sorts of ``P`` loads.

    Args:
        degree: ``[N]`` degrees (any real dtype; weighted degrees work too).
        num_partitions: ``P >= 1``; at most ``N`` when ``N > 0``.

    Raises:
        ValueError: ``num_partitions`` below 1 or above the node count.
    """
    if not isinstance(num_partitions, int) or num_partitions < 1:
        raise ValueError(f"num_partitions must be an int >= 1, got {num_partitions!r}")
    if degree.dim() != 1:
        raise ValueError(f"degree must be 1-D, got shape {tuple(degree.shape)}")
    num_nodes = degree.numel()
    if num_nodes and num_partitions > num_nodes:
        raise ValueError(
            f"num_partitions = {num_partitions} exceeds the node count {num_nodes}; use at most {num_nodes}"
        )
    order = torch.sort(degree.detach().cpu().double(), descending=True, stable=True).indices
    rank = torch.arange(num_nodes, dtype=torch.int64)
    round_, within = rank // num_partitions, rank % num_partitions
    part_by_rank = torch.where(round_ % 2 == 0, within, num_partitions - 1 - within)
    greedy = min(_GREEDY_ROUNDS, -(-num_nodes // num_partitions)) if num_partitions > 1 else 0
    if greedy:
        sorted_degree = degree.detach().cpu().double()[order]
        load = torch.zeros(num_partitions, dtype=torch.float64)
        for r in range(greedy):
            first = r * num_partitions
            members = min(num_partitions, num_nodes - first)
            lightest = torch.argsort(load, stable=True)[:members]
            part_by_rank[first : first + members] = lightest
            load[lightest] += sorted_degree[first : first + members]
    part_of = torch.empty(num_nodes, dtype=torch.int32)
    part_of[order] = part_by_rank.to(torch.int32)
    local_of = torch.empty(num_nodes, dtype=torch.int32)
    local_of[order] = round_.to(torch.int32)
    sizes = torch.bincount(part_of.long(), minlength=num_partitions)
    offsets = torch.zeros(num_partitions + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(sizes, 0)
    perm = torch.empty(num_nodes, dtype=torch.int64)
    perm[offsets[part_of.long()] + local_of.long()] = torch.arange(num_nodes, dtype=torch.int64)
    return Partition(num_partitions, part_of, local_of, offsets, perm)
