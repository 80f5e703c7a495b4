"""The type dimension of neighbour sampling: one description of the graph for the homogeneous
and the heterogeneous form, so the CPU and GPU implementations have a single code path.

A heterogeneous graph is given as dicts keyed by canonical edge type ``(src, rel, dst)``: one
in-neighbour CSR per edge type over the ``dst`` nodes whose ``indices`` are ids of ``src``
nodes, with ``num_nodes`` per node type (DESIGN.md, Contracts). A homogeneous graph (plain
tensors) is the one-type case, named as PyG names it internally: node type ``"_N"``, edge
type ``("_N", "_E", "_N")``. :func:`typed_csr` checks either form and returns a
:class:`TypedCSR`; the implementations index node and edge types by position in it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from sampling._checks import as_index_tensor, check_edge_time, check_edge_weight, check_fanouts
from sampling.csr import check_csr, out_of_range_neighbour
from sampling.output import EdgeType, HeteroSamplerOutput, SamplerOutput

HOMOGENEOUS_NODE = "_N"
HOMOGENEOUS_EDGE = ("_N", "_E", "_N")


@dataclass(frozen=True)
class TypedCSR:
    """A checked graph with fanouts, node and edge types indexed by position.

    ``src[e]`` and ``dst[e]`` are the node-type positions of edge type ``e``; ``fanouts[e]``
    its per-hop counts (every edge type has ``hops`` of them). ``hetero`` is False for the
    tensor form, whose results are :class:`SamplerOutput` rather than the dict form.
    """

    hetero: bool
    node_types: tuple[str, ...]
    edge_types: tuple[EdgeType, ...]
    num_nodes: tuple[int, ...]
    src: tuple[int, ...]
    dst: tuple[int, ...]
    fanouts: tuple[tuple[int, ...], ...]
    indptr: tuple[torch.Tensor, ...]
    indices: tuple[torch.Tensor, ...]
    #: per edge type, float edge weights aligned with ``indices`` (None: uniform draws)
    weight: tuple[torch.Tensor | None, ...] = ()
    #: per edge type, edge times aligned with ``indices``, non-decreasing within rows (None: no time limit)
    time: tuple[torch.Tensor | None, ...] = ()

    def __post_init__(self) -> None:
        none = (None,) * len(self.edge_types)
        if not self.weight:
            object.__setattr__(self, "weight", none)
        if not self.time:
            object.__setattr__(self, "time", none)

    @property
    def weighted(self) -> bool:
        return any(w is not None for w in self.weight)

    @property
    def temporal(self) -> bool:
        return any(t is not None for t in self.time)

    @property
    def hops(self) -> int:
        return len(self.fanouts[0])

    def sources(self, t: int) -> list[int]:
        """Positions of the edge types whose source type is node type ``t``, in order."""
        return [e for e, s in enumerate(self.src) if s == t]

    def seed_name(self, t: int) -> str:
        """How errors name the seeds of node type ``t``."""
        return f"seeds[{self.node_types[t]!r}]" if self.hetero else "seeds"

    def id_space(self, t: int) -> str:
        """How errors name the ids of node type ``t``."""
        return f"node type {self.node_types[t]!r}" if self.hetero else "this graph"

    def public_fanouts(self):
        """Fanouts as the user sees them: a tuple, or a dict edge type -> tuple."""
        return dict(zip(self.edge_types, self.fanouts, strict=True)) if self.hetero else self.fanouts[0]

    def public_num_nodes(self):
        """Node count, or a dict node type -> count."""
        return dict(zip(self.node_types, self.num_nodes, strict=True)) if self.hetero else self.num_nodes[0]

    def seeds_by_type(self, seeds) -> list[torch.Tensor]:
        """Seeds per node type (an empty int64 tensor for a type without seeds); no copy.

        Raises:
            TypeError: a dict for a homogeneous graph, a tensor for a heterogeneous one, or
                non-integer ids.
            ValueError: an unknown node type, or ids that are not 1-D.
        """
        if not self.hetero:
            if isinstance(seeds, Mapping):
                raise TypeError(
                    "seeds is a dict but this sampler was built from plain CSR tensors (one node type); "
                    "pass a 1-D tensor of node ids"
                )
            return [as_index_tensor("seeds", seeds)]
        if not isinstance(seeds, Mapping):
            raise TypeError(
                f"seeds must be a dict node type -> ids for a heterogeneous graph, got {type(seeds).__name__}; "
                f"e.g. {{{self.node_types[0]!r}: torch.tensor([0, 1])}}"
            )
        out: list[torch.Tensor | None] = [None] * len(self.node_types)
        for name, ids in seeds.items():
            if name not in self.node_types:
                raise ValueError(
                    f"seeds has node type {name!r}, which this graph does not have; node types: {list(self.node_types)}"
                )
            out[self.node_types.index(name)] = as_index_tensor(f"seeds[{name!r}]", ids)
        return [torch.zeros(0, dtype=torch.int64) if s is None else s for s in out]

    def neighbour_error(self) -> str:
        """The message naming the first edge type with a neighbour id outside its source type
        (an unvalidated CSR). Cost: one O(E) pass per edge type, only on this error path."""
        for e, indices in enumerate(self.indices):
            n = self.num_nodes[self.src[e]]
            if indices.numel() and bool(((indices < 0) | (indices >= n)).any()):
                message = out_of_range_neighbour(indices, n)
                return f"edge type {self.edge_types[e]!r}: {message}" if self.hetero else message
        return "indices holds a node id outside its node type"  # pragma: no cover - a kernel saw one

    def output(self, node, row, col, edge, num_sampled_nodes, num_sampled_edges, batch=None):
        """Per-type results (lists by position) as :class:`SamplerOutput` or :class:`HeteroSamplerOutput`."""
        if not self.hetero:
            return SamplerOutput(node[0], row[0], col[0], edge[0], num_sampled_nodes[0], num_sampled_edges[0],
                                 None if batch is None else batch[0])
        nt, et = self.node_types, self.edge_types
        return HeteroSamplerOutput(
            node=dict(zip(nt, node, strict=True)),
            row=dict(zip(et, row, strict=True)),
            col=dict(zip(et, col, strict=True)),
            edge=dict(zip(et, edge, strict=True)),
            num_sampled_nodes=dict(zip(nt, num_sampled_nodes, strict=True)),
            num_sampled_edges=dict(zip(et, num_sampled_edges, strict=True)),
            batch=None if batch is None else dict(zip(nt, batch, strict=True)),
        )


def typed_csr(indptr, indices, fanouts, num_nodes=None, *, validate: bool | None = True,
              edge_weight=None, edge_time=None) -> TypedCSR:
    """Check a graph in either form with its fanouts and describe it as a :class:`TypedCSR`.

    ``indptr``/``indices`` are tensors (homogeneous) or dicts keyed by edge type;
    ``fanouts`` is one list for every edge type or a dict edge type -> list; ``num_nodes`` is
    a dict node type -> count for the dict form (its order is the node types' order) and
    None or the node count for the tensor form. ``validate``: True checks every CSR fully
    (:func:`sampling.check_csr`, one O(E) pass each), False only its shape and sizes, None
    only the sizes against ``num_nodes`` (for implementations given a checked graph).

    Raises:
        TypeError: arguments of the wrong kind (a dict beside a tensor, a bad edge-type key,
            non-integer arrays or fanouts).
        ValueError: unknown node types, CSR sizes that disagree with ``num_nodes``, fanouts
            missing an edge type, naming an unknown one, or with unequal hop counts.
        IndexError: a neighbour id outside its source node type (``validate=True``).

    ``edge_weight`` / ``edge_time`` (optional) take the form of ``indices``: a tensor, or a dict
    edge type -> tensor naming some of the edge types (the others are sampled uniformly, or
    without a time limit); checked by :func:`sampling._checks.check_edge_weight` /
    :func:`~sampling._checks.check_edge_time` unless ``validate`` is None.
    """
    graph = _typed_csr(indptr, indices, fanouts, num_nodes, validate)
    weight = _per_edge_type("edge_weight", edge_weight, graph, validate,
                            lambda label, w, _indptr, num_edges: check_edge_weight(label, w, num_edges))
    time = _per_edge_type("edge_time", edge_time, graph, validate, check_edge_time)
    return dataclasses.replace(graph, weight=weight, time=time)


def _per_edge_type(name, values, graph: TypedCSR, validate, check) -> tuple:
    """Per-edge values (weights or times) per edge type position, checked against each CSR."""
    if values is None:
        return (None,) * len(graph.edge_types)
    if isinstance(values, Mapping) != graph.hetero:
        kind = "a dict edge type -> tensor" if graph.hetero else "a tensor"
        raise TypeError(f"{name} must be {kind} for this graph, got {type(values).__name__}")
    if not graph.hetero:
        values = {graph.edge_types[0]: values}
    unknown = [et for et in values if et not in graph.edge_types]
    if unknown:
        raise ValueError(
            f"{name} has edge type {unknown[0]!r}, which is not an edge type of this graph; "
            f"edge types: {list(graph.edge_types)}"
        )
    out = []
    for e, et in enumerate(graph.edge_types):
        value = values.get(et)
        if value is not None:
            label = f"{name}[{et!r}]" if graph.hetero else name
            if validate is not None:
                check(label, value, graph.indptr[e], graph.indices[e].numel())
            elif value.numel() != graph.indices[e].numel():
                raise ValueError(f"{label} has {value.numel()} entries; expected {graph.indices[e].numel()}")
        out.append(value)
    return tuple(out)


def _typed_csr(indptr, indices, fanouts, num_nodes, validate) -> TypedCSR:
    if not isinstance(indptr, Mapping):
        if isinstance(indices, Mapping):
            raise TypeError("indptr is a tensor but indices is a dict; give both as tensors or both as dicts")
        hops = check_fanouts(fanouts)
        if validate is not None:
            n = check_csr(indptr, indices, full=validate)
        else:
            n = indptr.numel() - 1
        if num_nodes is not None and (isinstance(num_nodes, bool) or num_nodes != n):
            raise ValueError(
                f"num_nodes = {num_nodes!r} disagrees with indptr, which has {n} + 1 entries; "
                "leave num_nodes out for plain CSR tensors, or pass dicts for a heterogeneous graph"
            )
        return TypedCSR(False, (HOMOGENEOUS_NODE,), (HOMOGENEOUS_EDGE,), (n,), (0,), (0,), (hops,), (indptr,),
                        (indices,))
    if not isinstance(indices, Mapping):
        raise TypeError("indptr is a dict (a heterogeneous graph) but indices is not; give indices as a dict too")
    if set(indptr) != set(indices):
        raise ValueError(
            f"indptr and indices have different edge types: {sorted(map(str, set(indptr) ^ set(indices)))} "
            "appear in only one of them"
        )
    if not isinstance(num_nodes, Mapping):
        raise TypeError(
            f"num_nodes must be a dict node type -> node count for a heterogeneous graph, got {num_nodes!r}"
        )
    node_types = tuple(num_nodes)
    counts = []
    for name, count in num_nodes.items():
        if not isinstance(name, str):
            raise TypeError(f"num_nodes keys must be node type names (str), got {name!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"num_nodes[{name!r}] = {count!r}; expected a node count >= 0")
        counts.append(int(count))
    if not indptr:
        raise ValueError("indptr is an empty dict; give one CSR per edge type (src_type, relation, dst_type)")
    edge_types = tuple(indptr)
    src, dst = [], []
    for et in edge_types:
        if not (isinstance(et, tuple) and len(et) == 3 and all(isinstance(p, str) for p in et)):
            raise TypeError(f"edge types must be (src_type, relation, dst_type) tuples of str, got {et!r}")
        for role, name in (("source", et[0]), ("destination", et[2])):
            if name not in num_nodes:
                raise ValueError(
                    f"edge type {et!r} has {role} node type {name!r}, which num_nodes does not have; "
                    f"node types: {list(node_types)}"
                )
        src.append(node_types.index(et[0]))
        dst.append(node_types.index(et[2]))
    for e, et in enumerate(edge_types):
        p, i = indptr[et], indices[et]
        if validate is not None:
            try:
                check_csr(p, i, full=validate, num_src_nodes=counts[src[e]])
            except (TypeError, ValueError, IndexError) as err:
                raise type(err)(f"edge type {et!r}: {err}") from None
        if p.numel() != counts[dst[e]] + 1:
            raise ValueError(
                f"indptr[{et!r}] has {p.numel()} entries; expected num_nodes[{et[2]!r}] + 1 = {counts[dst[e]] + 1} "
                "(one CSR row per destination node)"
            )
    return TypedCSR(
        True, node_types, edge_types, tuple(counts), tuple(src), tuple(dst), _typed_fanouts(fanouts, edge_types),
        tuple(indptr[et] for et in edge_types), tuple(indices[et] for et in edge_types),
    )


def _typed_fanouts(fanouts, edge_types: tuple[EdgeType, ...]) -> tuple[tuple[int, ...], ...]:
    """Per-edge-type fanouts from one list for all or a dict with one list per edge type."""
    if not isinstance(fanouts, Mapping):
        if isinstance(fanouts, Sequence) and not isinstance(fanouts, (str, bytes)):
            hops = check_fanouts(fanouts)
            return tuple(hops for _ in edge_types)
        raise TypeError(f"fanouts must be a list of ints or a dict edge type -> list of ints, got {fanouts!r}")
    unknown = [et for et in fanouts if et not in edge_types]
    if unknown:
        raise ValueError(
            f"fanouts has edge type {unknown[0]!r}, which is not an edge type of this graph; "
            f"edge types: {list(edge_types)}"
        )
    missing = [et for et in edge_types if et not in fanouts]
    if missing:
        raise ValueError(
            f"fanouts has no entry for edge type {missing[0]!r}; give one list per edge type, "
            "or one list for all of them"
        )
    out = tuple(check_fanouts(fanouts[et], f"fanouts[{et!r}]") for et in edge_types)
    for et, hops in zip(edge_types, out, strict=True):
        if len(hops) != len(out[0]):
            raise ValueError(
                f"fanouts[{et!r}] has {len(hops)} hops but fanouts[{edge_types[0]!r}] has {len(out[0])}; "
                "every edge type needs the same number of hops (0 samples none at a hop)"
            )
    return out
