"""A PyG ``GraphStore`` over a graphsys :class:`~graphsys.Graph`: the CSR stays where it was placed.

Example:
    >>> import torch
    >>> from graphsys.pyg import CSRGraphStore
    >>> store = CSRGraphStore()
    >>> store.put_edge_index(torch.tensor([[0, 1], [1, 2]]), edge_type=None, layout="coo", size=(3, 3))
    True
    >>> row, colptr = store.get_edge_index(edge_type=None, layout="csc")
    >>> colptr.tolist()
    [0, 0, 1, 2]
"""
from __future__ import annotations

import torch
from torch_geometric.data import GraphStore
from torch_geometric.data.graph_store import EdgeAttr, EdgeLayout

from graphsys.graph import Graph


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


class CSRGraphStore(GraphStore):
    """One homogeneous graph held as a graphsys :class:`~graphsys.Graph` (CSR over in-neighbours).

    ``put_edge_index`` takes any PyG layout (COO, CSR, CSC) and keeps a CSC; ``get_edge_index``
    answers in any layout (CSC without a copy). Samplers built from this store read the graph's
    own ``indptr`` / ``indices`` in their placement, so a CSR in pinned or GPU memory is sampled
    where it is.

    Edge ids: building the CSC sorts the edges by target (then source). For an edge index put
    in COO or CSR layout the store keeps that permutation (:attr:`edge_permutation`), so sampled
    edge ids (``e_id``) and ``get_edge_index(layout="coo")`` follow the order the edges were put
    in, and edge features stored in that order line up. A graph given to the constructor, or a
    CSC put, has no other order: edge ids are CSC positions.

    Args:
        graph: the graph to serve; ``None`` starts empty (fill it with ``put_edge_index``).
    """

    def __init__(self, graph: Graph | None = None) -> None:
        super().__init__()
        if graph is not None and not isinstance(graph, Graph):
            raise TypeError(f"graph must be a graphsys.Graph or None, got {type(graph).__name__}")
        self.__dict__["_graph"] = graph
        self.__dict__["_perm"] = None

    @classmethod
    def from_edge_index(cls, edge_index: torch.Tensor, num_nodes: int, placement: str = "cpu") -> "CSRGraphStore":
        """A store over ``edge_index`` (row = source, col = target), its CSR moved to ``placement``;
        edge ids follow ``edge_index``'s order."""
        store = cls()
        store.put_edge_index(edge_index, edge_type=None, layout="coo", size=(num_nodes, num_nodes))
        store.__dict__["_graph"] = store.graph.to(placement)
        return store

    @property
    def edge_permutation(self) -> torch.Tensor | None:
        """``perm[k]``: the position, in the edge index that was put, of CSC edge ``k``; None when the
        two orders agree (or there was no other order)."""
        return self._perm

    @property
    def graph(self) -> Graph:
        """The stored graph.

        Raises:
            ValueError: the store is empty.
        """
        if self._graph is None:
            raise ValueError("the CSRGraphStore is empty; put an edge_index with put_edge_index() first")
        return self._graph

    def _put_edge_index(self, edge_index, edge_attr: EdgeAttr) -> bool:
        if edge_attr.edge_type is not None:
            raise ValueError(
                f"CSRGraphStore holds one homogeneous graph (edge_type=None), got edge_type={edge_attr.edge_type!r}"
            )
        first, second = edge_index
        num_nodes = _edge_count_of(edge_attr)
        perm = None
        if edge_attr.layout == EdgeLayout.CSC:
            graph = Graph(second.long(), first, validate=True)
            if num_nodes is not None and graph.num_nodes != num_nodes:
                raise ValueError(f"colptr describes {graph.num_nodes} nodes but size={edge_attr.size}")
        else:
            if edge_attr.layout == EdgeLayout.CSR:
                src = torch.repeat_interleave(torch.arange(first.numel() - 1), first[1:] - first[:-1])
                num_nodes = num_nodes if num_nodes is not None else first.numel() - 1
            else:
                src = first
            graph = Graph.from_coo(src, second, num_nodes)
            perm = _csc_order(src, second)
        self.__dict__["_graph"] = graph
        self.__dict__["_perm"] = perm
        return True

    def _get_edge_index(self, edge_attr: EdgeAttr):
        if edge_attr.edge_type is not None or self._graph is None:
            return None
        graph = self._graph
        if edge_attr.layout == EdgeLayout.CSC:
            return graph.indices, graph.indptr
        row, col = graph.to_edge_index()
        if self._perm is not None:  # back to the order the edges were put in
            perm = self._perm.to(row.device)
            row, col = torch.empty_like(row).index_copy_(0, perm, row), torch.empty_like(col).index_copy_(0, perm, col)
        if edge_attr.layout == EdgeLayout.COO:
            return row, col
        order = torch.sort(row, stable=True).indices
        rowptr = torch.zeros(graph.num_nodes + 1, dtype=torch.int64, device=row.device)
        torch.cumsum(torch.bincount(row, minlength=graph.num_nodes), 0, out=rowptr[1:])
        return rowptr, col[order]

    def _remove_edge_index(self, edge_attr: EdgeAttr) -> bool:
        if edge_attr.edge_type is not None or self._graph is None:
            return False
        self.__dict__["_graph"] = None
        self.__dict__["_perm"] = None
        return True

    def csc(self, edge_types=None, store: bool = False):  # noqa: ANN001, ANN201 - PyG's signature
        """``(row, colptr, perm)`` as PyG's samplers take it, ``perm`` from :attr:`edge_permutation`.

        Cost: none (the stored CSC itself)."""
        row, colptr = self.get_edge_index(edge_type=None, layout="csc")
        return row, colptr, self._perm

    def get_all_edge_attrs(self) -> list[EdgeAttr]:
        if self._graph is None:
            return []
        n = self._graph.num_nodes
        return [EdgeAttr(edge_type=None, layout=EdgeLayout.CSC, size=(n, n))]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._graph!r})"
