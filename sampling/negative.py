"""Negative sampling for link prediction and skip-gram: nodes drawn by ``degree ** power``."""
from __future__ import annotations

import math

import torch

from sampling.alias import AliasTable


def _degrees(indptr: torch.Tensor) -> torch.Tensor:
    """In-degrees from ``indptr`` as float64 on the CPU, checking it is a valid offset array."""
    if not isinstance(indptr, torch.Tensor):
        raise TypeError(f"indptr must be a torch.Tensor, got {type(indptr).__name__}")
    if indptr.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"indptr must be int32 or int64, got {indptr.dtype}")
    if indptr.dim() != 1 or indptr.numel() < 2:
        raise ValueError(f"indptr must be 1-D with num_nodes + 1 >= 2 entries, got shape {tuple(indptr.shape)}")
    degree = (indptr[1:] - indptr[:-1]).cpu()
    if (degree < 0).any():
        v = int((degree < 0).nonzero()[0, 0])
        raise ValueError(f"indptr decreases at node {v}: indptr[{v}] > indptr[{v + 1}]")
    return degree.to(torch.float64)


def degree_alias_table(
    indptr: torch.Tensor, *, power: float = 0.75, device: str | torch.device = "cpu", seed: int = 0
) -> AliasTable:
    """An :class:`AliasTable` over nodes weighted by ``in-degree ** power`` (word2vec's 0.75).

    Nodes of degree 0 get weight 0 and are never drawn. Cost: O(N) on the CPU, one copy
    of the table to ``device``.

    Raises:
        TypeError: a non-integer ``indptr``.
        ValueError: a malformed ``indptr``, ``power`` not finite, or a graph without edges.
    """
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not math.isfinite(power):
        raise ValueError(f"power = {power!r}; expected a finite number such as 0.75")
    degree = _degrees(indptr)
    if not (degree > 0).any():
        raise ValueError("the graph has no edges, so no node can be drawn by degree")
    weights = torch.where(degree > 0, degree.pow(power), torch.zeros_like(degree))
    return AliasTable(weights, device, seed=seed)


def degree_negatives(
    indptr: torch.Tensor,
    num: int,
    *,
    power: float = 0.75,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``num`` int64 node ids drawn with probability proportional to ``in-degree ** power``.

    Builds a fresh table every call (O(N) on the CPU); to draw repeatedly keep a
    :func:`degree_alias_table` and call its ``sample`` (five kernels, no sync).

    Raises:
        TypeError: a non-integer ``indptr`` or ``num``.
        ValueError: ``num < 0``, bad ``power``, a malformed ``indptr`` or a graph without edges.
    """
    if isinstance(num, bool) or not isinstance(num, int):
        raise TypeError(f"num must be an int, got {num!r}")
    if num < 0:
        raise ValueError(f"num = {num}; expected a draw count >= 0")
    return degree_alias_table(indptr, power=power, device=device, seed=seed).sample(num)
