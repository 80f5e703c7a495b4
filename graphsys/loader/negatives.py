"""Negative edges for link batches, drawn where the sampler runs (on its GPU for a GPU sampler).

:class:`NegativeSampling` is the configuration (PyG's ``NegativeSampling`` with the node
distribution as an Enum and a ``strict`` switch); :class:`NegativeDrawer` draws with it. Nodes
are drawn uniformly or by ``in-degree ** power`` (an alias table from
:func:`sampling.degree_alias_table`, held on the device); strict draws are redrawn until no
pair is an edge of the graph or a seed edge, in either direction.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch

from sampling import degree_alias_table

#: Rounds of redrawing a strict draw before giving up: on a graph of density ``p`` a pair is an
#: edge with probability about ``p`` (with both directions ``2p``), so ``k`` rounds leave a pair
#: unresolved with probability ``(2p) ** k``; 100 rounds fail only for graphs that are nearly complete.
STRICT_ROUNDS = 100


class NegativeMode(str, enum.Enum):
    """PyG's modes: "binary" draws random (source, destination) pairs labelled 0; "triplet" draws
    ``amount`` random destinations for each positive edge's source."""

    BINARY = "binary"
    TRIPLET = "triplet"


class NegativeWeight(str, enum.Enum):
    """The node distribution: "uniform" over all nodes, or "degree": ``in-degree ** power`` (nodes
    without in-edges are never drawn), word2vec's popularity-corrected distribution."""

    UNIFORM = "uniform"
    DEGREE = "degree"


@dataclass(frozen=True)
class NegativeSampling:
    """How a :class:`~graphsys.loader.LinkLoader` draws negatives.

    Args:
        mode: "binary" or "triplet" (:class:`NegativeMode`).
        amount: negatives per positive edge; binary takes a ratio (``ceil(amount * batch)``
            negative pairs per batch), triplet a whole number (destinations per source).
        weight: "uniform" or "degree" (:class:`NegativeWeight`).
        power: the exponent of the degree distribution (0.75, as word2vec and PyTorch-BigGraph).
        strict: redraw until no negative pair is an edge of the graph or a seed edge, in either
            direction; costs a sorted key array of all those edges on the device (8 bytes an edge,
            both directions) and one host sync per batch.

    Example:
        >>> NegativeSampling("triplet", 5, weight="degree").num_negatives(1024)
        5120
    """

    mode: NegativeMode = NegativeMode.BINARY
    amount: float = 1
    weight: NegativeWeight = NegativeWeight.UNIFORM
    power: float = 0.75
    strict: bool = False

    def __post_init__(self) -> None:
        for name, kind in (("mode", NegativeMode), ("weight", NegativeWeight)):
            allowed = [member.value for member in kind]
            if getattr(self, name) not in allowed:  # a member equals its value (str Enums)
                raise ValueError(f"{name} = {getattr(self, name)!r} is not one of {', '.join(map(repr, allowed))}")
            object.__setattr__(self, name, kind(getattr(self, name)))
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) \
                or amount <= 0:
            raise ValueError(f"amount = {amount!r}; expected a finite number of negatives per positive, > 0")
        if self.mode is NegativeMode.TRIPLET and amount != int(amount):
            raise ValueError(f"amount = {amount!r}; triplet mode draws a whole number of destinations per source")
        if not isinstance(self.power, (int, float)) or not math.isfinite(self.power):
            raise ValueError(f"power = {self.power!r}; expected a finite number such as 0.75")
        if not isinstance(self.strict, bool):
            raise TypeError(f"strict must be True or False, got {self.strict!r}")

    def num_negatives(self, num_positive: int) -> int:
        """Negative pairs (binary) or destinations (triplet) for ``num_positive`` positive edges."""
        if self.mode is NegativeMode.TRIPLET:
            return num_positive * int(self.amount)
        return math.ceil(num_positive * self.amount)


def edge_keys(src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """One int64 key per pair, ``src * num_nodes + dst``. Cost: two kernels."""
    return src.long() * num_nodes + dst.long()


def csr_edges(indptr: torch.Tensor, indices: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every edge of a CSR over in-neighbours as ``(source, target)`` int64 on ``device``.
    Cost: one copy of the CSR to ``device`` when it is elsewhere, ``2 x E`` int64 there."""
    indptr, indices = indptr.to(device), indices.to(device)
    counts = indptr[1:] - indptr[:-1]
    target = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts,
                                     output_size=indices.numel())
    return indices.long(), target


class NegativeDrawer:
    """Draws negative node ids on ``device`` as ``config`` says.

    Args:
        config: the negative sampling.
        indptr, indices: the graph (a CSR over in-neighbours, anywhere); read once, for the degree
            table and (strict) the edge keys.
        seed_edges: ``[2, S]`` positive seed edges, also forbidden to strict draws.
        device: where draws land.

    Cost at construction: "degree" builds an alias table (O(N) on the CPU, one copy to ``device``);
    "strict" sorts ``2 (E + S)`` int64 keys on ``device``.
    """

    def __init__(self, config: NegativeSampling, indptr: torch.Tensor, indices: torch.Tensor,
                 seed_edges: torch.Tensor, device: torch.device) -> None:
        self.config = config
        self.num_nodes = int(indptr.numel()) - 1
        self.device = device
        self._alias = None
        if config.weight is NegativeWeight.DEGREE:
            self._alias = degree_alias_table(indptr, power=config.power, device=device)
        self._forbidden = None
        if config.strict:
            src, dst = csr_edges(indptr, indices, device)
            s, d = seed_edges[0].to(device).long(), seed_edges[1].to(device).long()
            n = self.num_nodes
            keys = torch.cat([edge_keys(src, dst, n), edge_keys(dst, src, n), edge_keys(s, d, n), edge_keys(d, s, n)])
            self._forbidden = torch.unique(keys)  # sorted

    def nodes(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` int64 node ids from the configured distribution. Cost: one to five kernels, no sync."""
        if self._alias is not None:
            return self._alias.sample(count, generator=generator)
        return torch.randint(self.num_nodes, (count,), generator=generator, device=self.device)

    def is_forbidden(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """Whether each pair is an edge or seed edge in either direction (all False unless strict).
        Cost: a binary search per pair, no sync."""
        if self._forbidden is None or self._forbidden.numel() == 0:
            return torch.zeros(src.shape, dtype=torch.bool, device=src.device)
        keys = edge_keys(src, dst, self.num_nodes)
        at = torch.searchsorted(self._forbidden, keys).clamp_(max=self._forbidden.numel() - 1)
        return self._forbidden[at] == keys

    def pairs(self, src: torch.Tensor | None, count: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative pairs: with ``src`` (triplet), ``count`` destinations for those sources (``src``
        repeated to ``count``, block after block); without, ``count`` random sources and destinations.

        Strict: pairs that are edges are redrawn (the destination, and the source without ``src``)
        until none is, whole-size draws merged by ``torch.where`` so that the result depends on the
        generator alone. Cost: a few kernels; strict adds one host sync per round (usually one).

        Raises:
            RuntimeError: strict draws still hit edges after :data:`STRICT_ROUNDS` rounds.
        """
        fixed = src is not None
        if fixed:
            src = src.repeat(max(count // max(src.numel(), 1), 1))[:count]
        else:
            src = self.nodes(count, generator)
        dst = self.nodes(count, generator)
        if self._forbidden is None:
            return src, dst
        for _ in range(STRICT_ROUNDS):
            bad = self.is_forbidden(src, dst)
            if not bool(bad.any()):  # the host sync of a strict draw
                return src, dst
            dst = torch.where(bad, self.nodes(count, generator), dst)
            if not fixed:
                src = torch.where(bad, self.nodes(count, generator), src)
        raise RuntimeError(f"strict negative sampling found no non-edge for some pairs in {STRICT_ROUNDS} rounds; "
                           "the graph is too dense for strict negatives: pass strict=False")
