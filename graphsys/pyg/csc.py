"""The CSR over in-neighbours (PyG's CSC) that graphsys samplers read, built from what PyG hands a loader.

PyG keeps edges as ``edge_index`` (COO) in a ``Data`` / ``HeteroData`` or behind a ``GraphStore``;
our samplers take ``indptr`` / ``indices`` (DESIGN.md, Contracts), one pair per edge type for a
heterogeneous graph. This module converts once, at loader construction, and keeps the edge
permutation of every edge type so that sampled edge ids map back to PyG's order.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Data, FeatureStore, GraphStore, HeteroData, remote_backend_utils

from sampling.csr import index_dtype_for

#: A canonical edge type, ``(src_type, relation, dst_type)``.
EdgeType = tuple[str, str, str]


@dataclass(frozen=True)
class InEdgeCSR:
    """A CSR over in-neighbours and the permutation back to the source's edge order.

    Attributes:
        indptr: int64, ``num_nodes + 1`` offsets.
        indices: int32 (int64 past 2**31 nodes) source node of each CSR edge.
        perm: ``perm[k]`` is the position in the original ``edge_index`` of CSR edge ``k``,
            or ``None`` when the two orders agree (PyG's ``edge_permutation``).
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    perm: torch.Tensor | None

    @property
    def num_nodes(self) -> int:
        return self.indptr.numel() - 1


@dataclass(frozen=True)
class TypedInEdgeCSR:
    """A heterogeneous graph as the sampler reads it: node counts and one CSR per edge type.

    Attributes:
        num_nodes: node count per node type, in PyG's order of the node types.
        csr: per canonical edge type ``(s, r, d)``, the CSR over the in-neighbours of the ``d``
            nodes whose ``indices`` are ``s`` ids, with its permutation back to PyG's edge order.
    """

    num_nodes: dict[str, int]
    csr: dict[EdgeType, InEdgeCSR]

    @property
    def perm(self) -> dict[EdgeType, torch.Tensor | None]:
        """PyG's ``edge_permutation`` of a heterogeneous sampler: one entry per edge type."""
        return {edge_type: csr.perm for edge_type, csr in self.csr.items()}


def _check_edge_index(edge_index: torch.Tensor, num_nodes: int, num_src_nodes: int | None = None) -> None:
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(f"edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must hold integer node ids, got dtype {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if num_src_nodes is None:
        if edge_index.numel():
            lo, hi = int(edge_index.min()), int(edge_index.max())
            if lo < 0 or hi >= num_nodes:
                culprit = lo if lo < 0 else hi
                raise IndexError(
                    f"edge_index holds node id {culprit}, outside [0, {num_nodes}) for num_nodes = {num_nodes}"
                )
        return
    for row, side, count in ((0, "source", num_src_nodes), (1, "target", num_nodes)):
        ids = edge_index[row]
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= count:
                culprit = lo if lo < 0 else hi
                raise IndexError(
                    f"edge_index[{row}] ({side} ids) holds node id {culprit}, outside [0, {count}) for "
                    f"{count} {side} nodes"
                )


def csc_from_edge_index(
    edge_index: torch.Tensor, num_nodes: int, *, is_sorted: bool = False, num_src_nodes: int | None = None
) -> InEdgeCSR:
    """Build the in-neighbour CSR of ``edge_index`` (row = source, col = target).

    Args:
        edge_index: integer tensor of shape ``[2, E]``.
        num_nodes: node count of the targets (the CSR's rows), and of the sources when
            ``num_src_nodes`` is None; every id must lie in its range.
        is_sorted: ``edge_index`` is already sorted by target (PyG's ``is_sorted``): skip the
            sort and return ``perm=None``.
        num_src_nodes: node count of the sources when they are another node type (one edge
            type of a heterogeneous graph); sets the dtype of ``indices``.

    Cost: one stable sort of E keys on the CPU (skipped with ``is_sorted``), one bincount.

    Raises:
        TypeError: non-integer ids. ValueError: a shape other than ``[2, E]``.
        IndexError: an id outside its range.
    """
    _check_edge_index(edge_index, num_nodes, num_src_nodes)
    row, col = edge_index[0].cpu().long(), edge_index[1].cpu().long()
    perm = None
    if not is_sorted:
        perm = torch.sort(col, stable=True).indices
        row, col = row[perm], col[perm]
    counts = torch.bincount(col, minlength=num_nodes)
    indptr = torch.zeros(num_nodes + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=indptr[1:])
    return InEdgeCSR(indptr, row.to(index_dtype_for(num_nodes if num_src_nodes is None else num_src_nodes)), perm)


def csc_from_data(data: Data, *, is_sorted: bool = False) -> InEdgeCSR:
    """The in-neighbour CSR of a homogeneous PyG ``Data`` (its ``edge_index`` and ``num_nodes``);
    a ``Data`` without edges has an empty one, as PyG samples it (the seeds alone).

    Raises:
        ValueError: ``data`` holds its edges as ``adj_t`` (a ``SparseTensor`` needs torch-sparse,
            which graphsys does not use).
    """
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None and "adj_t" in data:
        raise ValueError(
            "data has 'adj_t' but no 'edge_index'; graphsys samplers read a COO edge_index "
            "(row, col, _ = data.adj_t.t().coo(); data.edge_index = torch.stack([row, col]) converts it)"
        )
    if edge_index is None:
        edge_index = torch.empty(2, 0, dtype=torch.long)
    return csc_from_edge_index(edge_index, int(data.num_nodes), is_sorted=is_sorted)


def csc_from_graph_store(graph_store: GraphStore) -> InEdgeCSR:
    """The in-neighbour CSR behind any homogeneous PyG ``GraphStore``.

    A :class:`graphsys.pyg.CSRGraphStore` hands over its arrays as they are (no copy, same
    placement); any other store goes through its own ``csc()`` conversion.

    Raises:
        ValueError: an empty or heterogeneous store.
    """
    from graphsys.pyg.graph_store import CSRGraphStore

    if isinstance(graph_store, CSRGraphStore):
        graph = graph_store.graph
        return InEdgeCSR(graph.indptr, graph.indices, graph_store.edge_permutation)
    attrs = graph_store.get_all_edge_attrs()
    if not attrs:
        raise ValueError("the graph store holds no edge_index; put one with put_edge_index() first")
    if any(attr.edge_type is not None for attr in attrs):
        types = sorted({str(attr.edge_type) for attr in attrs})
        raise ValueError(f"graphsys samplers take homogeneous graphs; the graph store holds edge types {types}")
    row, colptr, perm = graph_store.csc()
    num_nodes = colptr.numel() - 1
    return InEdgeCSR(colptr.long(), row.to(index_dtype_for(num_nodes)), perm)


def csc_from_hetero_data(data: HeteroData, *, is_sorted: bool = False) -> TypedInEdgeCSR:
    """The in-neighbour CSR of every edge type of a PyG ``HeteroData``, with its node counts.

    Node types are ``data.node_types`` (each with PyG's ``num_nodes``), edge types
    ``data.edge_types``, both in PyG's order (the sampler's order).

    Cost: one CSR build per edge type (see :func:`csc_from_edge_index`).

    Raises:
        ValueError: no node types, a node type PyG cannot count, an edge type without
            ``edge_index`` (a ``SparseTensor`` ``adj_t`` needs torch-sparse).
        TypeError / IndexError: as :func:`csc_from_edge_index`, naming the edge type.
    """
    if not data.node_types:
        raise ValueError("the HeteroData has no node types; give each node type its num_nodes or features")
    num_nodes = {}
    for node_type in data.node_types:
        count = data[node_type].num_nodes
        if count is None:
            raise ValueError(
                f"cannot count the nodes of type {node_type!r}: set data[{node_type!r}].num_nodes "
                "(or give it a node feature)"
            )
        num_nodes[node_type] = int(count)
    csr = {}
    for edge_type in data.edge_types:
        edge_index = getattr(data[edge_type], "edge_index", None)
        if edge_index is None:
            raise ValueError(
                f"data[{edge_type!r}] has no 'edge_index'; graphsys samplers read a COO edge_index "
                f"(found attributes {sorted(data[edge_type].keys())})"
            )
        src, _, dst = edge_type
        try:
            csr[edge_type] = csc_from_edge_index(
                edge_index, num_nodes[dst], is_sorted=is_sorted, num_src_nodes=num_nodes[src]
            )
        except (TypeError, ValueError, IndexError) as err:
            raise type(err)(f"data[{edge_type!r}]: {err}") from None
    return TypedInEdgeCSR(num_nodes, csr)


def is_hetero_store(feature_store: FeatureStore, graph_store: GraphStore) -> bool:
    """Whether a store pair holds a heterogeneous graph: typed edges, or typed features and no edges.

    Cost: the stores' attribute listings.
    """
    from graphsys.pyg.graph_store import CSRGraphStore

    if isinstance(graph_store, CSRGraphStore):
        return graph_store.is_hetero
    edge_attrs = graph_store.get_all_edge_attrs()
    if edge_attrs:
        return any(attr.edge_type is not None for attr in edge_attrs)
    return any(isinstance(attr.group_name, str) for attr in feature_store.get_all_tensor_attrs())


def csc_from_hetero_stores(feature_store: FeatureStore, graph_store: GraphStore) -> TypedInEdgeCSR:
    """The in-neighbour CSRs and node counts behind a heterogeneous PyG store pair.

    Node types are the feature store's groups, then the edge types' endpoints (first seen
    first); each is counted as PyG counts it (an edge type's ``size``, else a feature's rows).
    A :class:`graphsys.pyg.CSRGraphStore` hands over its CSRs as they are (no copy, same
    placement); any other store goes through its own ``csc()`` conversion.

    Raises:
        ValueError: a node type the stores cannot count, an edge type of the graph store
            without a type (``edge_type=None`` beside typed ones).
    """
    from graphsys.pyg.graph_store import CSRGraphStore

    if isinstance(graph_store, CSRGraphStore):
        graph, perms = graph_store.hetero_graph, graph_store.edge_permutation
        num_nodes = dict(graph.num_nodes_dict)
        for attr in feature_store.get_all_tensor_attrs():
            if isinstance(attr.group_name, str) and attr.group_name not in num_nodes:
                num_nodes[attr.group_name] = remote_backend_utils.num_nodes(feature_store, graph_store, attr.group_name)
        csr = {et: InEdgeCSR(*graph.csr(et), perms.get(et)) for et in graph.edge_types}
        return TypedInEdgeCSR(num_nodes, csr)
    edge_types = list(dict.fromkeys(attr.edge_type for attr in graph_store.get_all_edge_attrs()))
    if None in edge_types:
        raise ValueError(
            "the graph store holds an edge_index with edge_type=None beside typed ones "
            f"{[et for et in edge_types if et is not None]}; give every edge_index its edge type"
        )
    node_types = [attr.group_name for attr in feature_store.get_all_tensor_attrs() if isinstance(attr.group_name, str)]
    node_types += [node_type for et in edge_types for node_type in (et[0], et[-1])]
    num_nodes = {}
    for node_type in dict.fromkeys(node_types):
        num_nodes[node_type] = int(remote_backend_utils.num_nodes(feature_store, graph_store, node_type))
    csr = {}
    if edge_types:
        row_dict, colptr_dict, perm_dict = graph_store.csc(edge_types)
        for et in edge_types:
            colptr = colptr_dict[et].long()
            if colptr.numel() != num_nodes[et[-1]] + 1:
                raise ValueError(
                    f"the graph store's CSC of {et!r} has {colptr.numel() - 1} target rows but node type "
                    f"{et[-1]!r} has {num_nodes[et[-1]]} nodes; put the edge_index with size=(num_src, num_dst)"
                )
            csr[et] = InEdgeCSR(colptr, row_dict[et].to(index_dtype_for(num_nodes[et[0]])), perm_dict.get(et))
    return TypedInEdgeCSR(num_nodes, csr)
