"""Negative edges for link batches, drawn where the sampler runs (on its GPU for a GPU sampler).

:class:`NegativeSampling` is the configuration (PyG's ``NegativeSampling`` with the node
distribution as an Enum and a ``strict`` switch); :class:`NegativeDrawer` draws with it. Nodes
are drawn uniformly or by degree ``** power`` (an alias table from
:func:`sampling.degree_alias_table`, held on the device); strict draws are redrawn until no
pair is an edge of the graph or a seed edge, in either direction.

A heterogeneous graph is the same drawer over one edge type ``(src_type, relation, dst_type)``:
sources are drawn over the source type's nodes, destinations over the destination type's, and
an edge type from a node type to itself is the homogeneous case (one node type, one
distribution, both directions forbidden to strict draws).
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
    without in-edges are never drawn), word2vec's popularity-corrected distribution. Over an edge
    type between two node types the sources, which have no in-edges of that type, are drawn by
    their out-degree in it instead."""

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
    """One int64 key per pair, ``src * num_nodes + dst``; ``num_nodes`` counts the destinations'
    node type (every node of a homogeneous graph). Cost: two kernels."""
    return src.long() * num_nodes + dst.long()


def source_offsets(indices: torch.Tensor, num_src_nodes: int) -> torch.Tensor:
    """The ``indptr`` of the reversed edges of a CSR over in-neighbours (row ``u``: the edges out of
    source ``u``), whose differences are the sources' out-degrees. Cost: one bincount and one
    cumsum where ``indices`` lives, ``num_src_nodes + 1`` int64 there."""
    counts = torch.bincount(indices.long(), minlength=num_src_nodes)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


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
        indptr, indices: the graph (a CSR over in-neighbours, anywhere); for a heterogeneous graph
            the CSR of the seed edge type. Read once, for the degree tables and (strict) the edge keys.
        seed_edges: ``[2, S]`` positive seed edges, also forbidden to strict draws.
        device: where draws land.
        num_src_nodes: the source type's node count when the sources are another node type than
            the destinations (an edge type between two node types); ``None`` (the default) when they
            are one node type: a homogeneous graph, or an edge type from a node type to itself.

    Cost at construction: "degree" builds an alias table per node type drawn from (O(N) on the CPU,
    one copy to ``device``); "strict" sorts ``2 (E + S)`` int64 keys on ``device`` (``E + S`` between
    two node types, where a pair has one direction only).

    Raises:
        ValueError: a ``num_src_nodes`` that is not a node count.
    """

    def __init__(self, config: NegativeSampling, indptr: torch.Tensor, indices: torch.Tensor,
                 seed_edges: torch.Tensor, device: torch.device, *, num_src_nodes: int | None = None) -> None:
        self.config = config
        #: the destinations' node count (every node of a homogeneous graph)
        self.num_nodes = int(indptr.numel()) - 1
        #: whether sources and destinations are two node types
        self.bipartite = num_src_nodes is not None
        if self.bipartite and (isinstance(num_src_nodes, bool) or not isinstance(num_src_nodes, int)
                               or num_src_nodes < 0):
            raise ValueError(f"num_src_nodes must be a node count (an int >= 0) or None, got {num_src_nodes!r}")
        self.num_src_nodes = num_src_nodes if self.bipartite else self.num_nodes
        self.device = device
        self._alias = self._src_alias = None
        if config.weight is NegativeWeight.DEGREE:
            self._alias = self._src_alias = degree_alias_table(indptr, power=config.power, device=device)
            if self.bipartite:
                offsets = source_offsets(indices, self.num_src_nodes)
                self._src_alias = degree_alias_table(offsets, power=config.power, device=device)
        self._forbidden = None
        if config.strict:
            src, dst = csr_edges(indptr, indices, device)
            s, d = seed_edges[0].to(device).long(), seed_edges[1].to(device).long()
            n = self.num_nodes
            keys = [edge_keys(src, dst, n), edge_keys(s, d, n)]
            if not self.bipartite:  # one node type: a pair is forbidden in either direction
                keys += [edge_keys(dst, src, n), edge_keys(d, s, n)]
            self._forbidden = torch.unique(torch.cat(keys))  # sorted

    def nodes(self, count: int, generator: torch.Generator, *, endpoint: str = "dst") -> torch.Tensor:
        """``count`` int64 node ids from the configured distribution over the destinations' node type
        (``endpoint="dst"``) or the sources' (``"src"``; the same one unless :attr:`bipartite`).
        Cost: one to five kernels, no sync.

        Raises:
            ValueError: an ``endpoint`` other than "src" and "dst".
        """
        if endpoint not in ("src", "dst"):
            raise ValueError(f"endpoint = {endpoint!r}; expected 'src' or 'dst'")
        alias = self._src_alias if endpoint == "src" else self._alias
        if alias is not None:
            return alias.sample(count, generator=generator)
        num = self.num_src_nodes if endpoint == "src" else self.num_nodes
        return torch.randint(num, (count,), generator=generator, device=self.device)

    def is_forbidden(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """Whether each pair is an edge or seed edge (in either direction over one node type; all
        False unless strict). Cost: a binary search per pair, no sync."""
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
            src = self.nodes(count, generator, endpoint="src")
        dst = self.nodes(count, generator)
        if self._forbidden is None:
            return src, dst
        for _ in range(STRICT_ROUNDS):
            bad = self.is_forbidden(src, dst)
            if not bool(bad.any()):  # the host sync of a strict draw
                return src, dst
            dst = torch.where(bad, self.nodes(count, generator), dst)
            if not fixed:
                src = torch.where(bad, self.nodes(count, generator, endpoint="src"), src)
        raise RuntimeError(f"strict negative sampling found no non-edge for some pairs in {STRICT_ROUNDS} rounds; "
                           "the graph is too dense for strict negatives: pass strict=False")
