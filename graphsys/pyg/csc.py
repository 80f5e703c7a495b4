"""The CSR over in-neighbours (PyG's CSC) that graphsys samplers read, built from what PyG hands a loader.

PyG keeps edges as ``edge_index`` (COO) in a ``Data`` or behind a ``GraphStore``; our samplers
take ``indptr`` / ``indices`` (DESIGN.md, Contracts). This module converts once, at loader
construction, and keeps the edge permutation so that sampled edge ids map back to PyG's order.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Data, GraphStore

from sampling.csr import index_dtype_for


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


def _check_edge_index(edge_index: torch.Tensor, num_nodes: int) -> None:
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(f"edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must hold integer node ids, got dtype {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            culprit = lo if lo < 0 else hi
            raise IndexError(
                f"edge_index holds node id {culprit}, outside [0, {num_nodes}) for num_nodes = {num_nodes}"
            )


def csc_from_edge_index(edge_index: torch.Tensor, num_nodes: int, *, is_sorted: bool = False) -> InEdgeCSR:
    """Build the in-neighbour CSR of ``edge_index`` (row = source, col = target).

    Args:
        edge_index: integer tensor of shape ``[2, E]``.
        num_nodes: node count; every id must lie in ``[0, num_nodes)``.
        is_sorted: ``edge_index`` is already sorted by target (PyG's ``is_sorted``): skip the
            sort and return ``perm=None``.

    Cost: one stable sort of E keys on the CPU (skipped with ``is_sorted``), one bincount.

    Raises:
        TypeError: non-integer ids. ValueError: a shape other than ``[2, E]``.
        IndexError: an id outside ``[0, num_nodes)``.
    """
    _check_edge_index(edge_index, num_nodes)
    row, col = edge_index[0].cpu().long(), edge_index[1].cpu().long()
    perm = None
    if not is_sorted:
        perm = torch.sort(col, stable=True).indices
        row, col = row[perm], col[perm]
    counts = torch.bincount(col, minlength=num_nodes)
    indptr = torch.zeros(num_nodes + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=indptr[1:])
    return InEdgeCSR(indptr, row.to(index_dtype_for(num_nodes)), perm)


def csc_from_data(data: Data, *, is_sorted: bool = False) -> InEdgeCSR:
    """The in-neighbour CSR of a homogeneous PyG ``Data`` (its ``edge_index`` and ``num_nodes``).

    Raises:
        ValueError: ``data`` has no ``edge_index`` (a ``SparseTensor`` ``adj_t`` needs torch-sparse,
            which graphsys does not use).
    """
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        raise ValueError(
            "data has no 'edge_index'; graphsys samplers read a COO edge_index "
            f"(found attributes {sorted(data.keys())})"
        )
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
