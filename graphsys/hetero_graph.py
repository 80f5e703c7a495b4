"""The heterogeneous graph container: one in-neighbour CSR per edge type (DESIGN.md, Contracts).

Node types are strings with node counts; edge types are PyG's canonical triples
``(src_type, relation, dst_type)``. Each edge type is the CSR of :class:`~graphsys.Graph`
with a type dimension: rows are the ``dst_type`` nodes, ``indices`` hold ``src_type`` ids
(int32 when the source count allows), rows are sorted by neighbour id, ``edge_weight`` is
optional per type. A homogeneous graph is the one-type case, named as PyG names it
internally: node type ``"_N"``, edge type ``("_N", "_E", "_N")``
(:meth:`HeteroGraph.from_graph`, :meth:`HeteroGraph.to_graph`).

Building, validation and the CSR kernels are :class:`~graphsys.Graph`'s own (``graph.py``);
this module adds the type keys, their checks and the folder format.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numba
import numpy as np
import torch

from graphsys.graph import (
    Graph,
    _as_id_array,
    _as_weight_array,
    _build_csr,
    _check_count,
    _check_csr_arrays,
    _check_flags,
    _check_ids,
    _csr_to_edge_index,
    _edge_index_rows,
)
from graphsys.io import CorruptFileError, atomic_dir, read_json, read_npy, verify_dir
from sampling.csr import index_dtype_for
from zerocopy.placement import Placement, place, placement_of

EdgeType = tuple[str, str, str]

#: PyG's names for the one node type and the one edge type of a homogeneous graph.
HOMOGENEOUS_NODE_TYPE = "_N"
HOMOGENEOUS_EDGE_TYPE: EdgeType = ("_N", "_E", "_N")
#: The kind of folder :meth:`HeteroGraph.save` writes (its manifest and ``meta.json`` say so).
HETERO_GRAPH_KIND = "graphsys.HeteroGraph"
_FORMAT_VERSION = 1


def _node_type_name(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a node type name (str), got {value!r}")
    if not value:
        raise ValueError(f"{name} must be a non-empty node type name, got ''")
    return value


def _edge_type_key(name: str, key) -> EdgeType:
    """``key`` as an edge type triple, refusing anything else (a bare relation, a pair)."""
    if not isinstance(key, (tuple, list)):
        raise TypeError(f"{name} must be an edge type (src_type, relation, dst_type), got {key!r}")
    if len(key) != 3:
        raise ValueError(f"{name} must be an edge type (src_type, relation, dst_type), got {key!r} "
                         f"of {len(key)} parts")
    for part in key:
        if not isinstance(part, str) or not part:
            raise TypeError(f"{name} must be an edge type of three non-empty str, got {key!r}")
    return (key[0], key[1], key[2])


def _check_mapping(name: str, value) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    return value


def _folder(position: int) -> str:
    """The subfolder of the ``position``-th edge type in a saved graph (never a user string)."""
    return f"edge_type_{position}"


@numba.njit(parallel=True, cache=True)
def _count_sources(indices, num_src, parts):
    """``indptr`` of the reversed edges: edges per source id, summed up. Source ids are split
    into ``parts`` ranges, one thread each (every thread reads all of ``indices``)."""
    counts = np.zeros(num_src + 1, dtype=np.int64)
    for p in numba.prange(parts):
        lo, hi = num_src * p // parts, num_src * (p + 1) // parts
        for e in range(indices.shape[0]):
            u = indices[e]
            if lo <= u < hi:
                counts[u + 1] += 1
    return np.cumsum(counts)


@numba.njit(parallel=True, cache=True)
def _fill_transpose(indptr, indices, weight, has_weight, t_indptr, t_indices, t_weight, parts):
    """Write row ``u`` of the reversed edges: the rows ``v`` holding ``u``, in row order, so
    sorted (repeats kept), with their weights. Each thread owns a range of source ids and scans
    every edge, so the output does not depend on ``parts``."""
    num_src = t_indptr.shape[0] - 1
    for p in numba.prange(parts):
        lo, hi = num_src * p // parts, num_src * (p + 1) // parts
        cursor = t_indptr[lo:hi].copy()
        for v in range(indptr.shape[0] - 1):
            for e in range(indptr[v], indptr[v + 1]):
                u = indices[e]
                if lo <= u < hi:
                    at = cursor[u - lo]
                    t_indices[at] = v
                    if has_weight:
                        t_weight[at] = weight[e]
                    cursor[u - lo] = at + 1


@numba.njit(parallel=True, cache=True)
def _merge_rows(a_indptr, a_indices, a_weight, b_indptr, b_indices, b_weight, has_weight):
    """Row-wise union of two CSRs with sorted rows (repeats allowed), each neighbour kept once
    with the sum of the weights of all its copies in both. Cost: two parallel passes over both."""
    n = a_indptr.shape[0] - 1
    sizes = np.zeros(n + 1, dtype=np.int64)
    for v in numba.prange(n):
        i, i_end = a_indptr[v], a_indptr[v + 1]
        j, j_end = b_indptr[v], b_indptr[v + 1]
        m = 0
        last = -1
        while i < i_end or j < j_end:
            if j >= j_end or (i < i_end and a_indices[i] <= b_indices[j]):
                u = a_indices[i]
                i += 1
            else:
                u = b_indices[j]
                j += 1
            if u != last:
                m += 1
                last = u
        sizes[v + 1] = m
    indptr = np.cumsum(sizes)
    out = np.empty(indptr[n], dtype=a_indices.dtype)
    out_weight = np.zeros(indptr[n] if has_weight else 0, dtype=np.float32)
    for v in numba.prange(n):
        i, i_end = a_indptr[v], a_indptr[v + 1]
        j, j_end = b_indptr[v], b_indptr[v + 1]
        o = indptr[v] - 1
        last = -1
        while i < i_end or j < j_end:
            if j >= j_end or (i < i_end and a_indices[i] <= b_indices[j]):
                u = a_indices[i]
                w = a_weight[i] if has_weight else 0.0
                i += 1
            else:
                u = b_indices[j]
                w = b_weight[j] if has_weight else 0.0
                j += 1
            if u != last:
                o += 1
                out[o] = u
                last = u
            if has_weight:
                out_weight[o] += w
    return indptr, out, out_weight


def transpose_csr(indptr: torch.Tensor, indices: torch.Tensor, num_src_nodes: int,
                  edge_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The in-neighbour CSR of the reversed edges of a CPU CSR: row ``u`` lists, sorted, the old
    rows ``v`` that held ``u`` (repeated edges kept), weights following their edges.

    ``indices`` is int32 when the old row count allows. Parallel over all numba threads, each
    owning a range of source ids: two sequential reads of ``indices`` per thread, one write of
    every edge, no sort, no ``edge_index``; the result does not depend on the thread count.
    Allocates the output CSR and one cursor per source id.
    """
    parts = max(1, numba.get_num_threads())
    src = indices.numpy()
    t_indptr = _count_sources(src, int(num_src_nodes), parts)
    id_dtype = np.int32 if index_dtype_for(indptr.numel() - 1) == torch.int32 else np.int64
    t_indices = np.empty(src.shape[0], dtype=id_dtype)
    has_weight = edge_weight is not None
    weight = edge_weight.numpy().astype(np.float32, copy=False) if has_weight else np.empty(0, dtype=np.float32)
    t_weight = np.empty(src.shape[0] if has_weight else 0, dtype=np.float32)
    _fill_transpose(indptr.numpy(), src, weight, has_weight, t_indptr, t_indices, t_weight, parts)
    return torch.from_numpy(t_indptr), torch.from_numpy(t_indices), torch.from_numpy(t_weight) if has_weight else None


def _symmetrize_csr(indptr: torch.Tensor, indices: torch.Tensor, edge_weight: torch.Tensor | None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The CSR of a type to itself with every edge's reverse added, each edge once, its weight the
    sum over its copies both ways (PyG's ``to_undirected`` with ``reduce="add"``). Cost: one
    :func:`transpose_csr` and two parallel merge passes."""
    t_indptr, t_indices, t_weight = transpose_csr(indptr, indices, indptr.numel() - 1, edge_weight)
    has_weight = edge_weight is not None
    empty = np.empty(0, dtype=np.float32)
    m_indptr, m_indices, m_weight = _merge_rows(
        indptr.numpy(), indices.numpy(), edge_weight.numpy().astype(np.float32, copy=False) if has_weight else empty,
        t_indptr.numpy(), t_indices.numpy().astype(indices.numpy().dtype, copy=False),
        t_weight.numpy() if has_weight else empty, has_weight)
    return torch.from_numpy(m_indptr), torch.from_numpy(m_indices), torch.from_numpy(m_weight) if has_weight else None


class HeteroGraph:
    """A heterogeneous directed graph: one CSR over in-neighbours per edge type.

    For edge type ``(s, r, d)`` and a node ``v`` of type ``d``, ``indices[indptr[v]:indptr[v+1]]``
    of ``csr((s, r, d))`` are the ``s`` nodes with an ``r`` edge into ``v``. ``indptr`` is int64
    with ``num_nodes(d) + 1`` entries, ``indices`` is int32 when ``num_nodes(s)`` allows, else
    int64. Ids are per node type, from 0. The arrays are shared, never copied, by the accessors.

    Args:
        num_nodes_dict: node count of every node type, in the order the types are listed.
        csr_dict: ``(indptr, indices)`` of every edge type.
        edge_weight_dict: optional float tensors aligned with ``indices``, for some edge types.
        validate: check the arrays (one O(E) pass per edge type); off only for trusted arrays.

    Example:
        >>> import torch
        >>> from graphsys import HeteroGraph
        >>> g = HeteroGraph.from_edge_index_dict(
        ...     {("author", "writes", "paper"): torch.tensor([[0, 0, 1], [0, 1, 1]])},
        ...     {"author": 2, "paper": 3}, add_reverse=True)
        >>> g.edge_types
        [('author', 'writes', 'paper'), ('paper', 'rev_writes', 'author')]
        >>> indptr, indices = g.csr(("author", "writes", "paper"))
        >>> indptr.tolist(), indices.tolist()  # paper 1 receives from authors 0 and 1
        ([0, 1, 3, 3], [0, 0, 1])
    """

    def __init__(
        self,
        num_nodes_dict: Mapping[str, int],
        csr_dict: Mapping[EdgeType, tuple[torch.Tensor, torch.Tensor]],
        edge_weight_dict: Mapping[EdgeType, torch.Tensor] | None = None,
        *,
        validate: bool = True,
    ) -> None:
        _check_flags(validate=validate)
        self._num_nodes: dict[str, int] = {}
        for key, count in _check_mapping("num_nodes_dict", num_nodes_dict).items():
            node_type = _node_type_name(f"num_nodes_dict key {key!r}", key)
            self._num_nodes[node_type] = _check_count(f"num_nodes_dict[{node_type!r}]", count)
        weights = dict(_check_mapping("edge_weight_dict", edge_weight_dict or {}))
        self._csr: dict[EdgeType, tuple[torch.Tensor, torch.Tensor]] = {}
        self._edge_weight: dict[EdgeType, torch.Tensor] = {}
        placements: dict[EdgeType, Placement] = {}
        for key, arrays in _check_mapping("csr_dict", csr_dict).items():
            edge_type = self._known_edge_type(f"csr_dict key {key!r}", key)
            src, _, dst = edge_type
            if not isinstance(arrays, (tuple, list)) or len(arrays) != 2:
                raise TypeError(f"csr_dict[{edge_type!r}] must be a pair (indptr, indices), "
                                f"got {type(arrays).__name__}")
            indptr, indices = arrays
            weight = weights.pop(edge_type, None)
            try:
                rows = _check_csr_arrays(indptr, indices, weight, full=validate, num_src_nodes=self._num_nodes[src])
            except (TypeError, ValueError, IndexError) as err:
                raise type(err)(f"csr_dict[{edge_type!r}]: {err}") from None
            if rows != self._num_nodes[dst]:
                raise ValueError(f"csr_dict[{edge_type!r}]: indptr has {rows + 1} entries, expected "
                                 f"num_nodes_dict[{dst!r}] + 1 = {self._num_nodes[dst] + 1} (one row per {dst!r} node)")
            self._csr[edge_type] = (indptr, indices)
            if weight is not None:
                self._edge_weight[edge_type] = weight
            placements[edge_type] = placement_of(indices)
        if weights:
            raise ValueError(f"edge_weight_dict has edge type {next(iter(weights))!r}, which csr_dict does not; "
                             f"edge types: {list(self._csr)}")
        if len(set(placements.values())) > 1:
            where = {edge_type: str(placement) for edge_type, placement in placements.items()}
            raise ValueError(f"the edge types lie in different placements ({where}); move them to one "
                             "with HeteroGraph.to or zerocopy.placement.place")

    def _known_edge_type(self, name: str, key) -> EdgeType:
        edge_type = _edge_type_key(name, key)
        for side, node_type in (("source", edge_type[0]), ("destination", edge_type[2])):
            if node_type not in self._num_nodes:
                raise ValueError(f"edge type {edge_type!r} names {side} node type {node_type!r}, which is not a node "
                                 f"type of the graph (node types: {list(self._num_nodes)}); add it to num_nodes_dict")
        return edge_type

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_edge_index_dict(
        cls,
        edge_index_dict: Mapping[EdgeType, object],
        num_nodes_dict: Mapping[str, int | None] | None = None,
        *,
        edge_weight_dict: Mapping[EdgeType, object] | None = None,
        add_reverse: bool = False,
        dedup: bool = False,
    ) -> HeteroGraph:
        """Build from PyG ``edge_index`` per edge type (2 x E, row 0 = source ids, row 1 = target ids).

        Args:
            edge_index_dict: ``{(src_type, relation, dst_type): edge_index}`` (tensors or arrays).
            num_nodes_dict: node count per node type. ``None`` (or a ``None`` count) infers it as
                ``max id + 1`` over the edge types touching the type. When given, it must name
                every node type the edge types use; its order is the order of ``node_types``.
            edge_weight_dict: optional weights (``E`` finite numbers) for some edge types.
            add_reverse: then :meth:`add_reverse` (what PyG's ``ToUndirected`` does).
            dedup: keep one copy of repeated edges per type (with their largest weight).

        Cost: one pass over each edge type to check its ids, then the CSR build of
        :meth:`Graph.from_coo` per edge type (and :meth:`add_reverse`'s transposes).

        Raises:
            TypeError: float or bool ids, a non-bool flag, a key that is not an edge type.
            ValueError: a malformed ``edge_index``, a node type missing from ``num_nodes_dict``,
                a count that cannot be inferred, non-finite weights, a reverse type that exists.
            IndexError: an id outside its node type's ``[0, num_nodes)`` (edge type, row,
                position and value named).
        """
        _check_flags(add_reverse=add_reverse, dedup=dedup)
        edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]] = {}
        for key, edge_index in _check_mapping("edge_index_dict", edge_index_dict).items():
            edge_type = _edge_type_key(f"edge_index_dict key {key!r}", key)
            name = f"edge_index_dict[{edge_type!r}]"
            src, dst = _edge_index_rows(name, edge_index)
            edges[edge_type] = (_as_id_array(f"{name}[0]", src), _as_id_array(f"{name}[1]", dst))
        weights: dict[EdgeType, np.ndarray] = {}
        for key, weight in _check_mapping("edge_weight_dict", edge_weight_dict or {}).items():
            edge_type = _edge_type_key(f"edge_weight_dict key {key!r}", key)
            if edge_type not in edges:
                raise ValueError(f"edge_weight_dict has edge type {edge_type!r}, which edge_index_dict does not; "
                                 f"edge types: {list(edges)}")
            weights[edge_type] = _as_weight_array(f"edge_weight_dict[{edge_type!r}]", weight,
                                                  edges[edge_type][0].shape[0])
        num_nodes = _node_counts(edges, num_nodes_dict)
        for edge_type, (src, dst) in edges.items():
            name = f"edge_index_dict[{edge_type!r}]"
            for row, ids, node_type in ((0, src, edge_type[0]), (1, dst, edge_type[2])):
                side = "source" if row == 0 else "target"
                _check_ids(f"{name}[{row}]", ids, num_nodes[node_type], count=f"num_nodes_dict[{node_type!r}]",
                           note=f" (row {row} holds the {side} ids, of node type {node_type!r})")
        csr, out_weights = {}, {}
        for edge_type, (src, dst) in edges.items():
            indptr, indices, weight = _build_csr(src, dst, num_nodes[edge_type[0]], num_nodes[edge_type[2]],
                                                 weights.get(edge_type), dedup=dedup)
            csr[edge_type] = (indptr, indices)
            if weight is not None:
                out_weights[edge_type] = weight
        graph = cls(num_nodes, csr, out_weights, validate=False)
        return graph.add_reverse() if add_reverse else graph

    @classmethod
    def from_pyg(cls, data, **options) -> HeteroGraph:
        """Build from a ``torch_geometric.data.HeteroData``: each node type's ``num_nodes`` and each
        edge type's ``edge_index`` (other attributes are not read). Options as
        :meth:`from_edge_index_dict`. A node type PyG cannot count gets ``max id + 1`` of its edges.

        Raises:
            TypeError: ``data`` is not a ``HeteroData``. ValueError: an edge type without
                ``edge_index``; otherwise as :meth:`from_edge_index_dict`.
        """
        from torch_geometric.data import HeteroData

        if not isinstance(data, HeteroData):
            raise TypeError(f"data must be a torch_geometric.data.HeteroData, got {type(data).__name__} "
                            "(for a homogeneous Data: HeteroGraph.from_graph(Graph.from_pyg(data)))")
        num_nodes = {node_type: data[node_type].num_nodes for node_type in data.node_types}
        edge_index_dict = {}
        for edge_type in data.edge_types:
            if "edge_index" not in data[edge_type]:
                raise ValueError(f"data[{edge_type!r}] has no edge_index")
            edge_index_dict[edge_type] = data[edge_type].edge_index
            for node_type in (edge_type[0], edge_type[2]):
                num_nodes.setdefault(node_type, None)
        return cls.from_edge_index_dict(edge_index_dict, num_nodes, **options)

    @classmethod
    def from_graph(cls, graph: Graph) -> HeteroGraph:
        """The one-type case of a :class:`~graphsys.Graph`: node type ``"_N"``, edge type
        ``("_N", "_E", "_N")``, sharing its arrays (no copy)."""
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a graphsys.Graph, got {type(graph).__name__}")
        weights = {HOMOGENEOUS_EDGE_TYPE: graph.edge_weight} if graph.edge_weight is not None else None
        return cls({HOMOGENEOUS_NODE_TYPE: graph.num_nodes},
                   {HOMOGENEOUS_EDGE_TYPE: (graph.indptr, graph.indices)}, weights, validate=False)

    # ------------------------------------------------------------------ conversions
    def to_graph(self) -> Graph:
        """The :class:`~graphsys.Graph` of a graph with one node type and one edge type (arrays shared).

        Raises:
            ValueError: more or fewer node or edge types (they are named).
        """
        if len(self._num_nodes) != 1 or len(self._csr) != 1:
            raise ValueError(f"to_graph needs exactly one node type and one edge type; this graph has node types "
                             f"{self.node_types} and edge types {self.edge_types}")
        (edge_type,) = self._csr
        indptr, indices = self._csr[edge_type]
        return Graph(indptr, indices, self._edge_weight.get(edge_type), validate=False)

    def to_edge_index_dict(self) -> dict[EdgeType, torch.Tensor]:
        """PyG's ``edge_index`` (2 x E int64, row = source, col = target) per edge type, on the
        graph's device, in CSR order (so column ``e`` has weight ``edge_weight(edge_type)[e]``).
        Cost: one int64 copy of each ``indices`` and one ``repeat_interleave`` per edge type."""
        return {edge_type: _csr_to_edge_index(indptr, indices) for edge_type, (indptr, indices) in self._csr.items()}

    def to(self, placement) -> HeteroGraph:
        """The same graph in ``placement`` ("cpu", "pinned", "cuda", "cuda:k"). Cost: one copy per array that moves."""
        Placement.parse(placement)
        csr = {k: (place(indptr, placement), place(indices, placement)) for k, (indptr, indices) in self._csr.items()}
        weights = {k: place(w, placement) for k, w in self._edge_weight.items()}
        return HeteroGraph(self._num_nodes, csr, weights, validate=False)

    def add_reverse(self, *, merge: bool = True) -> HeteroGraph:
        """A new graph with reverse edges added exactly as PyG's ``ToUndirected(merge=merge)``.

        An edge type ``(s, r, d)`` between two node types (or any type, with ``merge=False``)
        gets a reverse type ``(d, "rev_" + r, s)`` holding every edge reversed, repeated edges
        kept, with the same weights; the new types are listed after all the existing ones, in
        their order. With ``merge`` an edge type from a type to itself becomes undirected in
        place: every edge's reverse is added and each edge kept once, its weight the sum of
        the weights of all its copies both ways (a self-loop counts twice), as PyG's
        ``to_undirected(reduce="add")``. Where PyG would overwrite a reverse type that already
        exists, this refuses (call it once per graph).

        Cost: one parallel transpose per edge type on the CPU (:func:`transpose_csr`, never an
        ``edge_index``), plus a parallel merge for the types to themselves; a graph on a GPU
        is copied to the CPU for it; the new arrays are put in the graph's placement. The CSRs of the other types are
        shared, not copied.

        Raises:
            TypeError: ``merge`` is not a bool.
            ValueError: a reverse type that the graph already has.
        """
        _check_flags(merge=merge)
        placement = self.placement
        host = self if placement.kind != "cuda" else self.to("cpu")
        csr = dict(host._csr)
        weights = dict(host._edge_weight)
        for edge_type, (indptr, indices) in host._csr.items():
            src_type, relation, dst_type = edge_type
            weight = host._edge_weight.get(edge_type)
            if src_type == dst_type and merge:
                m_indptr, m_indices, m_weight = _symmetrize_csr(indptr, indices, weight)
                csr[edge_type] = (m_indptr, m_indices)
                if m_weight is not None:
                    weights[edge_type] = m_weight
                continue
            reverse = (dst_type, f"rev_{relation}", src_type)
            if reverse in csr:
                raise ValueError(f"add_reverse would add edge type {reverse!r} for {edge_type!r}, but the graph "
                                 "already has it; rename the relation or add the reverse yourself")
            t_indptr, t_indices, t_weight = transpose_csr(indptr, indices, host._num_nodes[src_type], weight)
            csr[reverse] = (t_indptr, t_indices)
            if t_weight is not None:
                weights[reverse] = t_weight
        if placement.kind != "cpu":  # the new arrays join the placement of the shared ones
            csr = {k: (place(indptr, placement), place(indices, placement)) for k, (indptr, indices) in csr.items()}
            weights = {k: place(w, placement) for k, w in weights.items()}
        return HeteroGraph(self._num_nodes, csr, weights, validate=False)

    # ------------------------------------------------------------------- accessors
    @property
    def node_types(self) -> list[str]:
        return list(self._num_nodes)

    @property
    def edge_types(self) -> list[EdgeType]:
        return list(self._csr)

    def metadata(self) -> tuple[list[str], list[EdgeType]]:
        """``(node_types, edge_types)``, as PyG's ``HeteroData.metadata()`` (what ``to_hetero`` takes)."""
        return self.node_types, self.edge_types

    @property
    def num_nodes_dict(self) -> dict[str, int]:
        return dict(self._num_nodes)

    @property
    def num_edges_dict(self) -> dict[EdgeType, int]:
        return {edge_type: indices.numel() for edge_type, (_, indices) in self._csr.items()}

    def num_nodes(self, node_type: str | None = None) -> int:
        """Node count of ``node_type`` (which may be left out when there is only one)."""
        return self._num_nodes[self._node_type(node_type)]

    def num_edges(self, edge_type: EdgeType | None = None) -> int:
        """Edge count of ``edge_type`` (which may be left out when there is only one)."""
        return self._csr[self._edge_type(edge_type)][1].numel()

    def csr(self, edge_type: EdgeType | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indptr, indices)`` of ``edge_type``: rows are its target nodes, ``indices`` its source ids."""
        return self._csr[self._edge_type(edge_type)]

    def edge_weight(self, edge_type: EdgeType | None = None) -> torch.Tensor | None:
        """The weights of ``edge_type``, aligned with its ``indices`` (None when it has none)."""
        return self._edge_weight.get(self._edge_type(edge_type))

    @property
    def placement(self) -> Placement:
        """Where the arrays are (one placement for all; "cpu" for a graph without edge types)."""
        for _, indices in self._csr.values():
            return placement_of(indices)
        return Placement("cpu")

    def _node_type(self, node_type: str | None) -> str:
        if node_type is None:
            if len(self._num_nodes) == 1:
                return next(iter(self._num_nodes))
            raise ValueError(f"this graph has node types {self.node_types}; name one")
        if node_type not in self._num_nodes:
            raise KeyError(f"{node_type!r} is not a node type of this graph; node types: {self.node_types}")
        return node_type

    def _edge_type(self, edge_type) -> EdgeType:
        if edge_type is None:
            if len(self._csr) == 1:
                return next(iter(self._csr))
            raise ValueError(f"this graph has edge types {self.edge_types}; name one")
        key = _edge_type_key("edge_type", edge_type)
        if key not in self._csr:
            raise KeyError(f"{key!r} is not an edge type of this graph; edge types: {self.edge_types}")
        return key

    def __repr__(self) -> str:
        weighted = [k for k in self._csr if k in self._edge_weight]
        return (f"HeteroGraph(num_nodes={self._num_nodes}, num_edges={self.num_edges_dict}, "
                f"weighted={weighted}, placement={self.placement})")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the graph as a folder with a manifest (a whole folder or none): ``meta.json``
        (node types with counts, edge types and their subfolders) and per edge type a subfolder
        ``edge_type_<i>`` of ``indptr.npy``, ``indices.npy`` and, when weighted, ``edge_weight.npy``.

        ``path`` must be new, empty or a heterogeneous graph this method wrote before; anything
        else is refused (:class:`~graphsys.io.OutputError`). Cost: one copy of every array to
        disk and one read of it back (the checksums).
        """
        with atomic_dir(path, HETERO_GRAPH_KIND) as tmp:
            edge_types = []
            for position, (edge_type, (indptr, indices)) in enumerate(self._csr.items()):
                folder = tmp / _folder(position)
                folder.mkdir()
                np.save(folder / "indptr.npy", indptr.cpu().numpy())
                np.save(folder / "indices.npy", indices.cpu().numpy())
                weight = self._edge_weight.get(edge_type)
                if weight is not None:
                    np.save(folder / "edge_weight.npy", weight.cpu().numpy())
                edge_types.append({"edge_type": list(edge_type), "folder": _folder(position),
                                   "num_edges": indices.numel(), "edge_weight": weight is not None})
            meta = {"format": HETERO_GRAPH_KIND, "version": _FORMAT_VERSION,
                    "node_types": [{"name": k, "num_nodes": n} for k, n in self._num_nodes.items()],
                    "edge_types": edge_types}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, validate: bool = False,
             checksums: bool = True) -> HeteroGraph:
        """Open a graph written by :meth:`save`, refusing one that does not match its manifest.

        As :meth:`Graph.load`: with ``mmap`` the arrays are memory-mapped copy-on-write (they page
        in as they are used); ``checksums`` reads every file once to compare it with the manifest,
        without it only the sizes are compared; ``validate`` adds the O(E) range check per type.

        Raises:
            FileNotFoundError: nothing at ``path``.
            CorruptFileError: no manifest or another kind's (a :class:`~graphsys.Graph` folder,
                say), a missing, truncated or altered file, or a ``meta.json`` that is malformed
                or contradicts the arrays (the file is named).
        """
        root = Path(path)
        manifest = verify_dir(root, HETERO_GRAPH_KIND, checksums=checksums)
        meta_file = root / "meta.json"
        meta = read_json(meta_file)
        if meta.get("format") != HETERO_GRAPH_KIND:
            raise CorruptFileError(f"{meta_file} has format {meta.get('format')!r}, expected {HETERO_GRAPH_KIND!r}")
        if meta.get("version") != _FORMAT_VERSION:
            raise CorruptFileError(f"{meta_file} has version {meta.get('version')!r}; this graphsys reads version "
                                   f"{_FORMAT_VERSION}")
        mode = "c" if mmap else None

        def read(rel: str) -> torch.Tensor:
            if rel not in manifest["files"]:
                raise CorruptFileError(f"{root / rel} is named by {meta_file} but not listed in the manifest")
            return torch.from_numpy(read_npy(root / rel, mmap_mode=mode))

        try:
            num_nodes = {entry["name"]: entry["num_nodes"] for entry in meta["node_types"]}
            entries = [(tuple(e["edge_type"]), e["folder"], e["num_edges"], e["edge_weight"])
                       for e in meta["edge_types"]]
        except (KeyError, TypeError) as err:
            raise CorruptFileError(f"{meta_file} is malformed ({type(err).__name__}: {err})") from None
        csr, weights = {}, {}
        for position, (edge_type, folder, _, weighted) in enumerate(entries):
            if folder != _folder(position):
                raise CorruptFileError(f"{meta_file} puts edge type {position} in folder {folder!r}, "
                                       f"expected {_folder(position)!r}")
            csr[edge_type] = (read(f"{folder}/indptr.npy"), read(f"{folder}/indices.npy"))
            if weighted:
                weights[edge_type] = read(f"{folder}/edge_weight.npy")
        try:
            graph = cls(num_nodes, csr, weights, validate=validate)
        except (ValueError, TypeError, IndexError) as err:
            raise CorruptFileError(f"{root}: the arrays do not form a heterogeneous graph ({err})") from None
        for edge_type, _, num_edges, _ in entries:
            if graph.num_edges(edge_type) != num_edges:
                raise CorruptFileError(f"{root}: edge type {edge_type!r} has {graph.num_edges(edge_type)} edges, "
                                       f"{meta_file.name} says {num_edges}")
        return graph


def _node_counts(edges: Mapping[EdgeType, tuple[np.ndarray, np.ndarray]],
                 num_nodes_dict: Mapping[str, int | None] | None) -> dict[str, int]:
    """The node count of every node type: the given ones checked, the others ``max id + 1``."""
    given = num_nodes_dict is not None
    counts: dict[str, int | None] = {}
    for key, count in _check_mapping("num_nodes_dict", num_nodes_dict or {}).items():
        node_type = _node_type_name(f"num_nodes_dict key {key!r}", key)
        counts[node_type] = None if count is None else _check_count(f"num_nodes_dict[{node_type!r}]", count)
    inferred: dict[str, int] = {}
    for edge_type, (src, dst) in edges.items():
        for side, node_type, ids in (("source", edge_type[0], src), ("target", edge_type[2], dst)):
            if given and node_type not in counts:
                raise ValueError(f"edge type {edge_type!r} names {side} node type {node_type!r}, which num_nodes_dict "
                                 f"does not have (node types: {list(counts)}); add {node_type!r} with its node count, "
                                 "or pass num_nodes_dict=None to infer every count")
            counts.setdefault(node_type, None)
            inferred[node_type] = max(inferred.get(node_type, 0), int(ids.max(initial=-1)) + 1)
    for node_type, count in counts.items():
        if count is None:
            if node_type not in inferred:
                raise ValueError(f"num_nodes_dict[{node_type!r}] is None and no edge type has {node_type!r} nodes to "
                                 f"count; give its node count (for a HeteroData, set data[{node_type!r}].num_nodes)")
            counts[node_type] = inferred[node_type]
    return counts  # type: ignore[return-value]
