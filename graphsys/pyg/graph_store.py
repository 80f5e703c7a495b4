"""A PyG ``GraphStore`` over a graphsys :class:`~graphsys.Graph` or :class:`~graphsys.HeteroGraph`:
the CSRs stay where they were placed.

Example:
    >>> import torch
    >>> from graphsys.pyg import CSRGraphStore
    >>> store = CSRGraphStore()
    >>> store.put_edge_index(torch.tensor([[0, 1], [1, 2]]), edge_type=None, layout="coo", size=(3, 3))
    True
    >>> row, colptr = store.get_edge_index(edge_type=None, layout="csc")
    >>> colptr.tolist()
    [0, 0, 1, 2]

A heterogeneous store holds one CSR per edge type (``put_edge_index`` with ``edge_type=(src,
rel, dst)``, or ``CSRGraphStore(hetero_graph)``)::

    >>> typed = CSRGraphStore()
    >>> typed.put_edge_index(torch.tensor([[0, 1], [2, 2]]), edge_type=("author", "writes", "paper"),
    ...                      layout="coo", size=(2, 3))
    True
    >>> typed.hetero_graph.num_nodes_dict
    {'author': 2, 'paper': 3}
"""
from __future__ import annotations

import torch
from torch_geometric.data import GraphStore
from torch_geometric.data.graph_store import EdgeAttr, EdgeLayout

from graphsys.graph import Graph
from graphsys.hetero_graph import HeteroGraph

EdgeType = tuple[str, str, str]


def _csc_order(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor | None:
    """The permutation :meth:`Graph.from_coo` applies to edges ``src -> dst`` (stable, by target then
    source); None when the edges are in that order already. Cost: one sort of the edges."""
    src, dst = src.detach().cpu().long(), dst.detach().cpu().long()
    if src.numel() == 0:
        return None
    perm = torch.sort(src, stable=True).indices
    perm = perm[torch.sort(dst[perm], stable=True).indices]
    return None if torch.equal(perm, torch.arange(perm.numel())) else perm


def _edge_count_of(edge_attr: EdgeAttr) -> int | None:
    if edge_attr.size is None:
        return None
    rows, cols = edge_attr.size
    if rows != cols:
        raise ValueError(f"a homogeneous graph needs a square size, got size={edge_attr.size}")
    return int(rows)


def _sources_of(first: torch.Tensor, layout: EdgeLayout) -> torch.Tensor:
    """Source ids of an edge index given in COO (``first`` = sources) or CSR (``first`` = rowptr)."""
    if layout == EdgeLayout.CSR:
        return torch.repeat_interleave(torch.arange(first.numel() - 1), first[1:] - first[:-1])
    return first


def _in_layout(indptr, indices, perm, num_src: int, layout: EdgeLayout):
    """One CSR (over in-neighbours) answered in PyG's ``layout``; COO and CSR in the order the
    edges were put in (``perm``). Cost: none for CSC; one expansion (and a scatter) for COO; a
    sort of the sources for CSR."""
    if layout == EdgeLayout.CSC:
        return indices, indptr
    row = indices.long()
    col = torch.repeat_interleave(torch.arange(indptr.numel() - 1, device=indptr.device), indptr[1:] - indptr[:-1])
    if perm is not None:  # back to the order the edges were put in
        perm = perm.to(row.device)
        row, col = torch.empty_like(row).index_copy_(0, perm, row), torch.empty_like(col).index_copy_(0, perm, col)
    if layout == EdgeLayout.COO:
        return row, col
    order = torch.sort(row, stable=True).indices
    rowptr = torch.zeros(num_src + 1, dtype=torch.int64, device=row.device)
    torch.cumsum(torch.bincount(row, minlength=num_src), 0, out=rowptr[1:])
    return rowptr, col[order]


class CSRGraphStore(GraphStore):
    """A graph held as graphsys CSRs over in-neighbours: one homogeneous :class:`~graphsys.Graph`
    (``edge_type=None``) or one CSR per edge type of a :class:`~graphsys.HeteroGraph`.

    ``put_edge_index`` takes any PyG layout (COO, CSR, CSC) and keeps a CSC; ``get_edge_index``
    answers in any layout (CSC without a copy). Samplers built from this store read the graph's
    own ``indptr`` / ``indices`` in their placement, so CSRs in pinned or GPU memory are sampled
    where they are.

    Edge ids: building the CSC sorts the edges by target (then source). For an edge index put
    in COO or CSR layout the store keeps that permutation (:attr:`edge_permutation`, a dict per
    edge type for a heterogeneous store), so sampled edge ids (``e_id``) and
    ``get_edge_index(layout="coo")`` follow the order the edges were put in, and edge features
    stored in that order line up. A graph given to the constructor has no other order: edge
    ids are CSC positions. A homogeneous CSC put is kept as given; a typed CSC put is sorted
    within its rows as any other layout (the permutation maps back to the CSC positions put).

    A store holds one kind: typed edge indices are refused beside a homogeneous one and the
    other way round. Node counts of a heterogeneous store come from the ``size`` of each put
    (``(num_src, num_dst)``; without it ``max id + 1``) and must agree across edge types.

    Args:
        graph: the graph to serve (a ``Graph`` or a ``HeteroGraph``); ``None`` starts empty
            (fill it with ``put_edge_index``).
    """

    def __init__(self, graph: Graph | HeteroGraph | None = None) -> None:
        super().__init__()
        if graph is not None and not isinstance(graph, (Graph, HeteroGraph)):
            raise TypeError(
                f"graph must be a graphsys.Graph, a graphsys.HeteroGraph or None, got {type(graph).__name__}"
            )
        self.__dict__["_graph"] = graph if isinstance(graph, Graph) else None
        self.__dict__["_hetero"] = graph if isinstance(graph, HeteroGraph) else None
        self.__dict__["_perm"] = None
        self.__dict__["_perms"] = {}

    @classmethod
    def from_edge_index(cls, edge_index: torch.Tensor, num_nodes: int, placement: str = "cpu") -> CSRGraphStore:
        """A store over ``edge_index`` (row = source, col = target), its CSR moved to ``placement``;
        edge ids follow ``edge_index``'s order."""
        store = cls()
        store.put_edge_index(edge_index, edge_type=None, layout="coo", size=(num_nodes, num_nodes))
        store.__dict__["_graph"] = store.graph.to(placement)
        return store

    @classmethod
    def from_hetero_data(cls, data, placement: str = "cpu") -> CSRGraphStore:
        """A store over every ``edge_index`` of a PyG ``HeteroData`` (node counts from
        ``data[node_type].num_nodes``), its CSRs moved to ``placement``; edge ids follow each
        ``edge_index``'s order. Cost: one CSC build per edge type, one copy per array moved.

        Raises:
            ValueError: an edge type without ``edge_index``.
        """
        store = cls()
        for edge_type in data.edge_types:
            edge_index = getattr(data[edge_type], "edge_index", None)
            if edge_index is None:
                raise ValueError(f"data[{edge_type!r}] has no 'edge_index'")
            size = (data[edge_type[0]].num_nodes, data[edge_type[2]].num_nodes)
            store.put_edge_index(edge_index, edge_type=edge_type, layout="coo", size=size)
        if store._hetero is not None:
            store.__dict__["_hetero"] = store._hetero.to(placement)
        return store

    @property
    def is_hetero(self) -> bool:
        """Whether the store holds typed edges (a :class:`~graphsys.HeteroGraph`)."""
        return self._hetero is not None

    @property
    def edge_permutation(self) -> torch.Tensor | None | dict[EdgeType, torch.Tensor | None]:
        """``perm[k]``: the position, in the edge index that was put, of CSC edge ``k``; None when the
        two orders agree (or there was no other order). A dict per edge type for a heterogeneous store."""
        if self._hetero is not None:
            return {et: self._perms.get(et) for et in self._hetero.edge_types}
        return self._perm

    @property
    def graph(self) -> Graph:
        """The stored homogeneous graph.

        Raises:
            ValueError: the store is empty or heterogeneous.
        """
        if self._hetero is not None:
            raise ValueError(
                f"the CSRGraphStore holds edge types {self._hetero.edge_types}; read it as hetero_graph"
            )
        if self._graph is None:
            raise ValueError("the CSRGraphStore is empty; put an edge_index with put_edge_index() first")
        return self._graph

    @property
    def hetero_graph(self) -> HeteroGraph:
        """The stored heterogeneous graph.

        Raises:
            ValueError: the store is empty or homogeneous.
        """
        if self._hetero is None:
            kind = "empty" if self._graph is None else "homogeneous (edge_type=None); read it as graph"
            raise ValueError(f"the CSRGraphStore is {kind}; put typed edges with put_edge_index(edge_type=...)")
        return self._hetero

    def _put_edge_index(self, edge_index, edge_attr: EdgeAttr) -> bool:
        if edge_attr.edge_type is not None:
            return self._put_typed(edge_index, edge_attr)
        if self._hetero is not None:
            raise ValueError(
                f"this CSRGraphStore holds edge types {self._hetero.edge_types}; an edge_index with "
                "edge_type=None (a homogeneous graph) cannot join them"
            )
        first, second = edge_index
        num_nodes = _edge_count_of(edge_attr)
        perm = None
        if edge_attr.layout == EdgeLayout.CSC:
            graph = Graph(second.long(), first, validate=True)
            if num_nodes is not None and graph.num_nodes != num_nodes:
                raise ValueError(f"colptr describes {graph.num_nodes} nodes but size={edge_attr.size}")
        else:
            if edge_attr.layout == EdgeLayout.CSR and num_nodes is None:
                num_nodes = first.numel() - 1
            src = _sources_of(first, edge_attr.layout)
            graph = Graph.from_coo(src, second, num_nodes)
            perm = _csc_order(src, second)
        self.__dict__["_graph"] = graph
        self.__dict__["_perm"] = perm
        return True

    def _put_typed(self, edge_index, edge_attr: EdgeAttr) -> bool:
        """Add (or replace) one edge type: COO, CSR or CSC converted to the container's CSC.
        Cost: one sort of the edges and a rebuild of the container around the shared arrays."""
        if self._graph is not None:
            raise ValueError(
                "this CSRGraphStore holds a homogeneous graph (edge_type=None); typed edges "
                f"(edge_type={edge_attr.edge_type!r}) need a store of their own"
            )
        edge_type = tuple(edge_attr.edge_type)
        first, second = edge_index
        if edge_attr.layout == EdgeLayout.CSC:  # (row, colptr): targets from the pointers
            src, dst = first, _sources_of(second, EdgeLayout.CSR)
        else:
            src, dst = _sources_of(first, edge_attr.layout), second
        num_nodes = dict(self._hetero.num_nodes_dict) if self._hetero is not None else {}
        if edge_attr.size is not None:
            given = {edge_type[0]: int(edge_attr.size[0])}
            if edge_type[-1] in given and given[edge_type[-1]] != int(edge_attr.size[1]):
                raise ValueError(f"edge type {edge_type!r} joins a node type to itself but size={edge_attr.size}")
            given[edge_type[-1]] = int(edge_attr.size[1])
        else:
            given = {}
            for node_type, ids in ((edge_type[0], src), (edge_type[-1], dst)):
                count = int(ids.max()) + 1 if ids.numel() else 0
                given[node_type] = max(given.get(node_type, 0), count, num_nodes.get(node_type, 0))
        for node_type, count in given.items():
            if num_nodes.get(node_type, count) != count:
                raise ValueError(
                    f"edge type {edge_type!r} has size={edge_attr.size} but node type {node_type!r} has "
                    f"{num_nodes[node_type]} nodes in the edge types put before"
                )
            num_nodes[node_type] = count
        piece = HeteroGraph.from_edge_index_dict({edge_type: torch.stack([src.long(), dst.long()])}, num_nodes)
        csr = {et: self._hetero.csr(et) for et in self._hetero.edge_types} if self._hetero is not None else {}
        csr[edge_type] = piece.csr(edge_type)
        self.__dict__["_hetero"] = HeteroGraph(num_nodes, csr, validate=False)
        self._perms[edge_type] = _csc_order(src, dst)
        return True

    def _get_edge_index(self, edge_attr: EdgeAttr):
        if edge_attr.edge_type is None:
            if self._graph is None:
                return None
            graph = self._graph
            return _in_layout(graph.indptr, graph.indices, self._perm, graph.num_nodes, edge_attr.layout)
        edge_type = tuple(edge_attr.edge_type)
        if self._hetero is None or edge_type not in self._hetero.edge_types:
            return None
        indptr, indices = self._hetero.csr(edge_type)
        num_src = self._hetero.num_nodes(edge_type[0])
        return _in_layout(indptr, indices, self._perms.get(edge_type), num_src, edge_attr.layout)

    def _remove_edge_index(self, edge_attr: EdgeAttr) -> bool:
        if edge_attr.edge_type is None:
            if self._graph is None:
                return False
            self.__dict__["_graph"] = None
            self.__dict__["_perm"] = None
            return True
        edge_type = tuple(edge_attr.edge_type)
        if self._hetero is None or edge_type not in self._hetero.edge_types:
            return False
        csr = {et: self._hetero.csr(et) for et in self._hetero.edge_types if et != edge_type}
        self._perms.pop(edge_type, None)
        self.__dict__["_hetero"] = HeteroGraph(self._hetero.num_nodes_dict, csr, validate=False) if csr else None
        return True

    def csc(self, edge_types=None, store: bool = False):  # noqa: ANN001, ANN201 - PyG's signature
        """``(row, colptr, perm)`` as PyG's samplers take it (dicts per edge type for a
        heterogeneous store, restricted to ``edge_types`` when given), ``perm`` from
        :attr:`edge_permutation`. Cost: none (the stored CSCs themselves)."""
        if self._hetero is None:
            row, colptr = self.get_edge_index(edge_type=None, layout="csc")
            return row, colptr, self._perm
        chosen = self._hetero.edge_types if edge_types is None else [tuple(et) for et in edge_types]
        row, colptr, perm = {}, {}, {}
        for edge_type in chosen:
            indptr, indices = self._hetero.csr(edge_type)
            row[edge_type], colptr[edge_type], perm[edge_type] = indices, indptr, self._perms.get(edge_type)
        return row, colptr, perm

    def get_all_edge_attrs(self) -> list[EdgeAttr]:
        if self._hetero is not None:
            graph = self._hetero
            return [
                EdgeAttr(edge_type=et, layout=EdgeLayout.CSC, size=(graph.num_nodes(et[0]), graph.num_nodes(et[2])))
                for et in graph.edge_types
            ]
        if self._graph is None:
            return []
        n = self._graph.num_nodes
        return [EdgeAttr(edge_type=None, layout=EdgeLayout.CSC, size=(n, n))]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._hetero if self._hetero is not None else self._graph!r})"
