"""Power-law graphs with communities (Chung-Lu style), built row by row in parallel.

Every node gets a weight from a power law; an edge endpoint is drawn in proportion to
weight, inside the node's own class with probability ``homophily``, else from a partner
class or anywhere. Rows (in-neighbour lists) are generated directly in CSR order, sorted and
de-duplicated in parallel, so no global sort of the edge list is ever needed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import torch

from graphsys.datasets import _kernels as K
from graphsys.datasets._rng import root_key
from graphsys.graph import Graph
from sampling.csr import index_dtype_for

# Stage keys: each random stage draws from its own stream of the seed.
_PERMUTATION, _DEGREES, _ROWS, _TRIM = 1, 2, 3, 4
#: Draws allowed per neighbour slot before a row gives up (hit only by rows asking for
#: nearly every node of a tiny graph); larger costs time only on such rows.
_MAX_DRAW_FACTOR = 64


@dataclass(frozen=True)
class GraphSpec:
    """What :func:`community_graph` builds.

    Attributes:
        num_nodes: node count.
        num_edges: exact edge count: directed edges, or undirected pairs (stored both ways).
        class_sizes: nodes per class (sums to ``num_nodes``); one class for a plain graph.
        exponent: power-law exponent of the degree distribution (> 2).
        max_degree: the expected degree of the heaviest node before each node's random
            spread factor (a soft cap: the largest degree drawn can be a few times higher);
            default ``2 * sqrt(2 * num_edges)``.
        homophily: share of endpoints drawn from the node's own class.
        partner_share: share of the other endpoints drawn from the class's partner class
            (the rest from anywhere): what makes neighbourhoods of two classes look alike.
        directed: keep edges one way (citation-like) instead of storing both directions.
    """

    num_nodes: int
    num_edges: int
    class_sizes: tuple[int, ...]
    exponent: float = 2.5
    max_degree: float | None = None
    homophily: float = 0.0
    partner_share: float = 0.0
    directed: bool = False

    def __post_init__(self) -> None:
        n, e = self.num_nodes, self.num_edges
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"num_nodes must be an int >= 2, got {n!r}")
        if not isinstance(e, (int, np.integer)) or e < 0:
            raise ValueError(f"num_edges must be a non-negative int, got {e!r}")
        # Rows hold at most half the other nodes each, so the graph stays far from complete.
        limit = n * ((n - 1) // 2) if self.directed else n * ((n - 1) // 2) // 2
        if e > limit:
            raise ValueError(f"num_edges = {e} is too many for {n} nodes (at most {limit} here)")
        if not self.exponent > 2.0:
            raise ValueError(f"exponent must be > 2 (a finite mean degree), got {self.exponent}")
        if sum(self.class_sizes) != n or min(self.class_sizes) < 1:
            raise ValueError(
                f"class_sizes must be positive and sum to num_nodes = {n}, got sum {sum(self.class_sizes)}"
            )
        for name in ("homophily", "partner_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.max_degree is not None and self.max_degree <= 0:
            raise ValueError(f"max_degree must be positive, got {self.max_degree}")


@dataclass(frozen=True)
class GeneratedGraph:
    """A generated graph and the class of every node (int64, ``[num_nodes]``)."""

    graph: Graph
    classes: np.ndarray


@dataclass(frozen=True)
class RankSpace:
    """Where weight-proportional draws of one node type land (see ``_kernels``).

    Attributes:
        perm: rank position -> node id (int32 when the count allows).
        classes: class of every node id (int64).
        offsets: class blocks ``[offsets[c], offsets[c+1])`` of rank positions.
        lo_pow, hi_pow, q0, beta: the capped power law of each class block (closed-form CDF).
        mass: probability of each rank position under one draw (sums to 1).
    """

    perm: np.ndarray
    classes: np.ndarray
    offsets: np.ndarray
    lo_pow: np.ndarray
    hi_pow: np.ndarray
    q0: np.ndarray
    beta: float
    mass: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.offsets[-1])


def rank_space(num_nodes: int, class_sizes, exponent: float, max_degree: float, endpoints: int,
               key: np.uint64) -> RankSpace:
    """The rank space of ``num_nodes`` nodes in classes of ``class_sizes`` (in order), weights a
    power law of ``exponent`` whose heaviest node gets about ``max_degree`` of ``endpoints``
    draws, node ids shuffled by a permutation seeded by ``key``. Cost: O(n) in parallel kernels
    plus one numpy permutation."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    num_classes = sizes.shape[0]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    id_dtype = np.int32 if index_dtype_for(num_nodes) == torch.int32 else np.int64
    perm = np.random.default_rng(int(key)).permutation(num_nodes).astype(id_dtype)
    classes = np.empty(num_nodes, dtype=np.int64)
    classes[perm] = np.repeat(np.arange(num_classes, dtype=np.int64), sizes)
    beta = 1.0 - 1.0 / (exponent - 1.0)
    class_endpoints = np.maximum(endpoints * sizes / num_nodes, 1.0)
    q0 = _solve_q0(np.minimum(max_degree / class_endpoints, 1.0), sizes.astype(np.float64), beta)
    lo_pow, hi_pow = q0**beta, (1.0 + q0) ** beta
    mass = K.position_mass(offsets, lo_pow, hi_pow, q0, beta)
    return RankSpace(perm, classes, offsets, lo_pow, hi_pow, q0, beta, mass)


def partner_classes(num_classes: int, rng_seed: int) -> np.ndarray:
    """Each class's partner class: one cycle through all classes seeded by ``rng_seed`` (itself when alone)."""
    partner = np.arange(num_classes, dtype=np.int64)
    if num_classes > 1:
        cycle = np.random.default_rng(rng_seed).permutation(num_classes)
        partner[cycle] = np.roll(cycle, -1)
    return partner


def bipartite_rows(owner: RankSpace, other: RankSpace, owner_labels: np.ndarray, partner: np.ndarray,
                   num_edges: int, homophily: float, partner_share: float, key: np.uint64
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``num_edges`` edges from ``owner`` nodes to distinct ``other`` nodes, as a CSR
    over owner ids holding other ids (rows sorted).

    Row lengths follow ``owner``'s weights (an Exp(1) spread each); each neighbour is drawn
    in proportion to ``other``'s weights, from the class ``owner_labels[v]`` with probability
    ``homophily``, else from its ``partner`` class with ``partner_share``, else anywhere.
    Rows that run out of draws (a class block smaller than its rows) come out short, so the
    edge count can fall a little under ``num_edges``. Cost: O(E log d) in parallel kernels.
    """
    n = owner.num_nodes
    cap = max(1, (other.num_nodes - 1) // 2)
    lengths = np.empty(n, dtype=np.int64)
    lengths[owner.perm] = _row_lengths(owner.mass, num_edges, cap, subkey_of(key, 0))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    id_dtype = np.int32 if index_dtype_for(other.num_nodes) == torch.int32 else np.int64
    indices = np.empty(int(indptr[-1]), dtype=id_dtype)
    filled = K.fill_rows(indptr, owner_labels, other.perm, partner, other.offsets, other.lo_pow, other.hi_pow,
                         other.q0, 1.0 / other.beta, float(homophily), float(partner_share), subkey_of(key, 1),
                         indices, _MAX_DRAW_FACTOR, True)
    if (filled < lengths).any():
        return K.compact_rows(indptr, indices, filled)
    return indptr, indices


def subkey_of(key: np.uint64, index: int) -> np.uint64:
    """Sub-stream ``index`` of the stage key ``key`` (independent draws for each part of a stage)."""
    return np.uint64(int(root_key(int(key), index)))


def _solve_q0(top_share: np.ndarray, sizes: np.ndarray, beta: float) -> np.ndarray:
    """Per class, the offset ``q0`` whose heaviest position gets ``top_share`` of the class's draws."""

    def share(q0: np.ndarray) -> np.ndarray:
        return ((1.0 / sizes + q0) ** beta - q0**beta) / ((1.0 + q0) ** beta - q0**beta)

    lo = np.full(sizes.shape, 1e-15)
    hi = np.full(sizes.shape, 1e9)
    for _ in range(200):  # bisection in log space: share() falls as q0 grows
        mid = np.sqrt(lo * hi)
        too_heavy = share(mid) > top_share
        lo = np.where(too_heavy, mid, lo)
        hi = np.where(too_heavy, hi, mid)
    q0 = np.sqrt(lo * hi)
    return np.where(share(np.zeros_like(q0)) <= top_share, 0.0, q0)


def _row_lengths(mass: np.ndarray, total: int, cap: int, key: np.uint64) -> np.ndarray:
    """Integer row lengths summing to ``total``, each about ``total * mass`` (x an Exp(1) factor), at most ``cap``.

    Systematic rounding of the running sum: every row gets the floor or the ceiling of its
    share and the total is exact.
    """
    lam = K.spread_degrees(mass, key)
    for _ in range(20):
        lam *= total / lam.sum()
        over = lam > cap
        if not over.any():
            break
        lam[over] = cap
    lam *= total / lam.sum()
    edges = np.floor(np.concatenate([[0.0], np.cumsum(lam)]) + 0.5).astype(np.int64)
    edges[-1] = total
    return np.minimum(np.diff(edges), cap + 1)


def community_graph(spec: GraphSpec, seed: int = 0, on_stage: Callable[[str], None] | None = None) -> GeneratedGraph:
    """Generate the graph ``spec`` describes; the same seed gives the same graph on any machine.

    ``on_stage`` (if given) is called with the name of each stage as it starts (``"rows"``,
    ``"symmetrize"``, ``"trim"``), for progress display.

    Cost: O(E log d) work in parallel numba kernels (per-row sort), one serial pass over the
    edges to transpose for undirected graphs; peak memory about three times the CSR.

    Raises:
        RuntimeError: a graph so dense that ``num_edges`` distinct edges cannot be drawn.
    """
    stage = on_stage or (lambda name: None)
    n, num_classes = int(spec.num_nodes), len(spec.class_sizes)
    endpoints = (1 if spec.directed else 2) * spec.num_edges
    max_degree = spec.max_degree if spec.max_degree is not None else 2.0 * math.sqrt(max(endpoints, 1))
    space = rank_space(n, spec.class_sizes, spec.exponent, max_degree, endpoints, root_key(seed, _PERMUTATION))
    perm, classes, offsets, mass = space.perm, space.classes, space.offsets, space.mass
    lo_pow, hi_pow, q0, beta = space.lo_pow, space.hi_pow, space.q0, space.beta
    partner = partner_classes(num_classes, int(root_key(seed, _PERMUTATION)) + 1)
    id_dtype = perm.dtype

    def rows(total: int) -> tuple[np.ndarray, np.ndarray]:
        stage("rows")
        lengths_by_pos = _row_lengths(mass, total, (n - 1) // 2, root_key(seed, _DEGREES))
        lengths = np.empty(n, dtype=np.int64)
        lengths[perm] = lengths_by_pos
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.empty(int(indptr[-1]), dtype=id_dtype)
        filled = K.fill_rows(indptr, classes, perm, partner, offsets, lo_pow, hi_pow, q0, 1.0 / beta,
                             float(spec.homophily), float(spec.partner_share), root_key(seed, _ROWS),
                             indices, _MAX_DRAW_FACTOR, False)
        if (filled < lengths).any():
            return K.compact_rows(indptr, indices, filled)
        return indptr, indices

    if spec.directed:
        indptr, indices = rows(spec.num_edges)
        if indices.shape[0] != spec.num_edges:
            raise RuntimeError(
                f"could not place {spec.num_edges} distinct directed edges on {n} nodes "
                f"(reached {indices.shape[0]}); lower num_edges or max_degree"
            )
        return GeneratedGraph(_graph(indptr, indices), classes)

    # Undirected: rows hold one endpoint's draws; the union with the reverse loses the pairs
    # drawn from both ends, so draw a little more than needed and trim to the exact count.
    extra = 0.04
    for _ in range(8):
        a_indptr, a_indices = rows(int(math.ceil(spec.num_edges * (1.0 + extra))))
        stage("symmetrize")
        t_indptr, t_indices = K.transpose(a_indptr, a_indices, n)
        indptr, indices = K.union_rows(a_indptr, a_indices, t_indptr, t_indices)
        del a_indices, t_indices
        pairs = indices.shape[0] // 2
        if pairs >= spec.num_edges:
            stage("trim")
            indptr, indices = _trim_pairs(indptr, indices, pairs - spec.num_edges, root_key(seed, _TRIM))
            return GeneratedGraph(_graph(indptr, indices), classes)
        extra = (1.0 + extra) * spec.num_edges / max(pairs, 1) * 1.01 - 1.0
    raise RuntimeError(
        f"could not place {spec.num_edges} distinct undirected edges on {n} nodes "
        f"(reached {pairs}); lower num_edges or max_degree"
    )


def _trim_pairs(indptr: np.ndarray, indices: np.ndarray, drop: int, key: np.uint64):
    """Remove ``drop`` undirected pairs, those of smallest hash (exact unless two hashes tie)."""
    if drop == 0:
        return indptr, indices
    hist = K.pair_hash_histogram(indptr, indices, key, max(1, numba.get_num_threads()))
    cum = np.cumsum(hist)
    bucket = int(np.searchsorted(cum, drop))  # first bucket where the running count reaches drop
    before = int(cum[bucket - 1]) if bucket else 0
    hashes = np.sort(K.pair_hashes_in_bucket(indptr, indices, key, np.uint64(bucket), int(hist[bucket])))
    threshold = hashes[drop - before - 1]
    return K.drop_pairs_below(indptr, indices, key, threshold)


def _graph(indptr: np.ndarray, indices: np.ndarray) -> Graph:
    return Graph(torch.from_numpy(indptr), torch.from_numpy(indices), validate=False)


def chung_lu(
    num_nodes: int,
    num_edges: int,
    exponent: float = 2.5,
    seed: int = 0,
    *,
    max_degree: float | None = None,
) -> Graph:
    """A symmetric power-law graph (Chung-Lu style) with exactly ``num_edges`` undirected edges.

    Stored both ways (``graph.num_edges == 2 * num_edges``), no self loops, no repeated
    edges; degrees follow a power law of ``exponent`` whose head is softly capped by
    ``max_degree`` (see :class:`GraphSpec`; 2 M nodes / 20 M edges gave a largest degree of
    33 K and a median of 11). Node ids are shuffled, so id order says nothing about degree.

    Cost: 18 s for 2 M nodes / 20 M edges on 2 busy cores (parallel numba kernels).

    Example:
        >>> from graphsys.datasets import chung_lu
        >>> g = chung_lu(1000, 5000, exponent=2.5, seed=0)
        >>> g.num_nodes, g.num_edges
        (1000, 10000)
    """
    spec = GraphSpec(num_nodes, num_edges, (num_nodes,), exponent, max_degree)
    return community_graph(spec, seed).graph
