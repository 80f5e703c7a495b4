"""The graph container: a CSR over in-neighbours (DESIGN.md, Contracts) with its placement.

Example:
    >>> import torch
    >>> from graphsys import Graph
    >>> g = Graph.from_edge_index(torch.tensor([[0, 1, 2], [1, 2, 0]]), symmetrize=True)
    >>> g.num_nodes, g.num_edges
    (3, 6)
    >>> g.neighbors(0).tolist()  # nodes whose messages node 0 receives
    [1, 2]
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from graphsys.csr_build import coo_to_csr
from graphsys.io import CorruptFileError, atomic_dir, read_json, read_npy, verify_dir
from sampling.csr import check_csr, index_dtype_for
from zerocopy.placement import Placement, place, placement_of

#: Edges counted per bincount in :meth:`Graph.out_degrees`.
DEGREE_CHUNK = 1 << 27

_FORMAT_VERSION = 1
#: The kind of folder :meth:`Graph.save` writes (its manifest and ``meta.json`` say so).
GRAPH_KIND = "graphsys.Graph"


def _as_id_array(name: str, ids) -> np.ndarray:
    """Node ids as an int64 numpy array, refusing floats and bools (no silent truncation)."""
    if isinstance(ids, torch.Tensor):
        if ids.is_floating_point() or ids.dtype == torch.bool or ids.is_complex():
            raise TypeError(f"{name} must hold integer node ids, got dtype {ids.dtype}")
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer node ids, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def _check_ids(name: str, ids: np.ndarray, num_nodes: int, *, count: str = "num_nodes", note: str = "") -> None:
    """Raise IndexError naming ``name[position] = value`` for the first id outside ``[0, num_nodes)``.

    ``count`` names the node count in the message and ``note`` is appended to it (a
    heterogeneous graph says which edge type and side the ids belong to). Cost: two O(E) passes.
    """
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0:
        at = int(np.argmax(ids < 0))
        raise IndexError(f"{name}[{at}] = {lo} is a negative node id; node ids must lie in [0, {num_nodes}){note}")
    if hi >= num_nodes:
        at = int(np.argmax(ids >= num_nodes))
        raise IndexError(f"{name}[{at}] = {int(ids[at])} is out of range for {count} = {num_nodes}{note}")


def _check_flags(**flags) -> None:
    """Refuse a flag that is not a bool (``dedup=1``, ``symmetrize="yes"``) rather than guess."""
    for flag, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag} must be True or False, got {value!r}")


def _check_count(name: str, value) -> int:
    """A node count as an int, refusing bools, floats and negatives."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def _as_weight_array(name: str, edge_weight, num_edges: int) -> np.ndarray:
    """Edge weights as a float32 numpy array of ``num_edges`` finite numbers."""
    weight = np.asarray(
        edge_weight.detach().cpu().numpy() if isinstance(edge_weight, torch.Tensor) else edge_weight,
        dtype=np.float32,
    )
    if weight.shape != (num_edges,):
        raise ValueError(f"{name} has shape {weight.shape} but there are {num_edges} edges")
    bad = ~np.isfinite(weight)
    if bad.any():
        at = int(np.argmax(bad))
        raise ValueError(f"{name}[{at}] = {weight[at]} is not finite; edge weights must be finite numbers")
    return weight


def _build_csr(
    src: np.ndarray,
    dst: np.ndarray,
    num_src_nodes: int,
    num_dst_nodes: int,
    weight: np.ndarray | None,
    *,
    symmetrize: bool = False,
    drop_self_loops: bool = False,
    dedup: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The in-neighbour CSR (indptr, indices, edge_weight) of checked edges ``src[e] -> dst[e]``.

    ``indices`` is int32 when ``num_src_nodes`` allows. ``symmetrize`` and ``drop_self_loops``
    need one id space (``num_src_nodes == num_dst_nodes``). Shared by :class:`Graph` and
    :class:`~graphsys.hetero_graph.HeteroGraph` (one CSR per edge type). Cost: as
    :func:`~graphsys.csr_build.coo_to_csr`, plus a copy of the edges for the options.
    """
    assert not (symmetrize or drop_self_loops) or num_src_nodes == num_dst_nodes
    if drop_self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
        weight = weight[keep] if weight is not None else None
    if symmetrize:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        weight = np.concatenate([weight, weight]) if weight is not None else None
        dedup = True
    id_dtype = np.int32 if index_dtype_for(num_src_nodes) == torch.int32 else np.int64
    indptr, indices, out_w = coo_to_csr(src.astype(id_dtype, copy=False), dst, num_dst_nodes, weight, dedup=dedup)
    return (torch.from_numpy(indptr), torch.from_numpy(indices),
            torch.from_numpy(out_w) if out_w is not None else None)


def _edge_index_rows(name: str, edge_index) -> tuple:
    """The source and target rows of a PyG ``edge_index`` (2 x E), refusing any other shape."""
    arr = edge_index if isinstance(edge_index, torch.Tensor) else np.asarray(edge_index)
    if len(arr.shape) != 2 or arr.shape[0] != 2:
        raise ValueError(f"{name} must have shape [2, E], got {list(arr.shape)}")
    return arr[0], arr[1]


def _check_csr_arrays(indptr: torch.Tensor, indices: torch.Tensor, edge_weight: torch.Tensor | None, *,
                      full: bool, num_src_nodes: int | None = None) -> int:
    """Check a CSR with its optional weights (see :func:`sampling.csr.check_csr`); returns its row count."""
    num_nodes = check_csr(indptr, indices, full=full, num_src_nodes=num_src_nodes)
    if indptr.dtype != torch.int64:
        raise TypeError(f"indptr must be int64, got {indptr.dtype}")
    if edge_weight is not None and edge_weight.numel() != indices.numel():
        raise ValueError(
            f"edge_weight has {edge_weight.numel()} entries but the graph has {indices.numel()} edges"
        )
    return num_nodes


def _csr_to_edge_index(indptr: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The ``edge_index`` (2 x E int64, row = source, col = target) of an in-neighbour CSR.

    Cost: one int64 copy of ``indices`` and one ``repeat_interleave`` on their device.
    """
    col = torch.repeat_interleave(torch.arange(indptr.numel() - 1, device=indptr.device), indptr[1:] - indptr[:-1])
    return torch.stack([indices.long(), col])


class Graph:
    """A directed graph stored as the CSR of its in-neighbours.

    ``indices[indptr[v]:indptr[v+1]]`` are the sources of the edges into ``v`` (PyG's CSC
    of ``edge_index``); rows are sorted by neighbour id. ``indptr`` is int64, ``indices`` is
    int32 when the node count allows. ``edge_weight`` (float32, aligned with ``indices``)
    is optional. Undirected graphs store both directions.

    Args:
        indptr: int64 tensor of ``num_nodes + 1`` offsets.
        indices: int32/int64 tensor of neighbour ids.
        edge_weight: optional float tensor aligned with ``indices``.
        validate: check the arrays (one O(E) pass); turn off only for trusted files.
    """

    def __init__(
        self,
        indptr: torch.Tensor,
        indices: torch.Tensor,
        edge_weight: torch.Tensor | None = None,
        *,
        validate: bool = True,
    ) -> None:
        num_nodes = _check_csr_arrays(indptr, indices, edge_weight, full=validate)
        self.indptr = indptr
        self.indices = indices
        self.edge_weight = edge_weight
        self._num_nodes = num_nodes

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_coo(
        cls,
        src,
        dst,
        num_nodes: int | None = None,
        *,
        edge_weight=None,
        symmetrize: bool = False,
        drop_self_loops: bool = False,
        dedup: bool = False,
    ) -> Graph:
        """Build from edge arrays ``src[e] -> dst[e]`` (numpy arrays or tensors).

        Args:
            num_nodes: node count; defaults to ``max id + 1``.
            symmetrize: add the reverse of every edge (implies ``dedup``).
            drop_self_loops: remove edges ``v -> v``.
            dedup: keep one copy of repeated edges (with their largest weight).

        Raises:
            TypeError: float or bool ids. ValueError: arrays of different lengths.
            IndexError: a negative id or one ``>= num_nodes``.
        """
        _check_flags(symmetrize=symmetrize, drop_self_loops=drop_self_loops, dedup=dedup)
        src_arr = _as_id_array("src", src)
        dst_arr = _as_id_array("dst", dst)
        if src_arr.shape[0] != dst_arr.shape[0]:
            raise ValueError(f"src has {src_arr.shape[0]} entries but dst has {dst_arr.shape[0]}")
        weight = _as_weight_array("edge_weight", edge_weight, src_arr.shape[0]) if edge_weight is not None else None
        if num_nodes is None:
            num_nodes = int(max(src_arr.max(initial=-1), dst_arr.max(initial=-1))) + 1
        num_nodes = _check_count("num_nodes", num_nodes)
        _check_ids("src", src_arr, num_nodes)
        _check_ids("dst", dst_arr, num_nodes)
        indptr, indices, out_w = _build_csr(src_arr, dst_arr, num_nodes, num_nodes, weight, symmetrize=symmetrize,
                                            drop_self_loops=drop_self_loops, dedup=dedup)
        return cls(indptr, indices, out_w, validate=False)

    @classmethod
    def from_edge_index(cls, edge_index, num_nodes: int | None = None, **options) -> Graph:
        """Build from a PyG ``edge_index`` (2 x E, row = source, col = target). Options as :meth:`from_coo`."""
        src, dst = _edge_index_rows("edge_index", edge_index)
        return cls.from_coo(src, dst, num_nodes, **options)

    @classmethod
    def from_scipy(cls, matrix, **options) -> Graph:
        """Build from a scipy sparse adjacency with ``A[src, dst] != 0`` for each edge.

        The matrix values become ``edge_weight`` unless they are all 1. As in scipy, repeated
        entries of a COO matrix add up to one entry, and explicitly stored zeros are no edges.
        Options as :meth:`from_coo`, but for ``edge_weight``. Cost: one copy of the matrix's
        entries and one sort of them (the caller's matrix is left as it was).

        Raises:
            TypeError: ``matrix`` is not a scipy sparse matrix. ValueError: a non-square matrix,
                or an ``edge_weight`` option (the weights are the matrix values).
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy sparse matrix, got {type(matrix).__name__}")
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"an adjacency matrix must be square, got shape {matrix.shape}")
        if "edge_weight" in options:
            raise ValueError("from_scipy takes the edge weights from the matrix values; put them in the matrix")
        coo = matrix.tocoo(copy=True)
        coo.sum_duplicates()  # sorts the entries: the matrix values are the only weights that follow
        coo.eliminate_zeros()
        data = np.asarray(coo.data, dtype=np.float32)
        weight = None if data.size == 0 or np.all(data == 1) else data
        return cls.from_coo(coo.row.astype(np.int64), coo.col.astype(np.int64), matrix.shape[0],
                            edge_weight=weight, **options)

    @classmethod
    def from_pyg(cls, data, **options) -> Graph:
        """Build from a ``torch_geometric.data.Data`` (its ``edge_index`` and ``num_nodes``)."""
        if getattr(data, "edge_index", None) is None:
            raise ValueError("the PyG Data object has no edge_index")
        return cls.from_edge_index(data.edge_index, data.num_nodes, **options)

    @classmethod
    def from_dgl(cls, g, **options) -> Graph:
        """Build from a ``dgl.DGLGraph`` (homogeneous). Needs dgl, which is optional."""
        src, dst = g.edges()
        return cls.from_coo(src, dst, g.num_nodes(), **options)

    # ------------------------------------------------------------------ conversions
    def to_edge_index(self) -> torch.Tensor:
        """The PyG ``edge_index`` (2 x E int64, row = source, col = target) on the graph's device."""
        return _csr_to_edge_index(self.indptr, self.indices)

    def to_scipy(self):
        """The adjacency as ``scipy.sparse.csr_matrix`` with ``A[src, dst]`` = weight (or 1)."""
        import scipy.sparse as sp

        indptr = self.indptr.cpu().numpy()
        indices = self.indices.cpu().numpy()
        data = (
            self.edge_weight.cpu().numpy()
            if self.edge_weight is not None
            else np.ones(indices.shape[0], dtype=np.float32)
        )
        return sp.csc_matrix((data, indices, indptr), shape=(self.num_nodes, self.num_nodes)).tocsr()

    # ------------------------------------------------------------------- properties
    @property
    def num_nodes(self) -> int:
        return self._num_nodes

    @property
    def num_edges(self) -> int:
        return self.indices.numel()

    @property
    def placement(self) -> Placement:
        return placement_of(self.indices)

    def in_degrees(self) -> torch.Tensor:
        """In-degree of every node (int64, on the graph's device). Cost: one subtraction."""
        return self.indptr[1:] - self.indptr[:-1]

    def out_degrees(self, device: str | torch.device | None = None) -> torch.Tensor:
        """Out-degree of every node (int64, on ``device``, default the graph's).

        This is how many in-neighbour lists hold a node, so it is what a neighbour sampler's draws
        follow, and the ranking a feature cache should use. The in-degree is not: on a directed
        graph (the papers100M preset) a cache of 20% of the rows ranked by in-degree served 42% of
        the rows a [15, 10, 5] sampler gathered, ranked by out-degree 59% (``bench_cache_hits.py``).

        Cost: a bincount over the edges on ``device``, in chunks of ``DEGREE_CHUNK`` edges (so a
        GPU counting a host graph holds 0.5-1 GB of its edges at a time, not all of them).
        """
        target = torch.device(device) if device is not None else self.indices.device
        counts = torch.zeros(self.num_nodes, dtype=torch.int64, device=target)
        for part in self.indices.split(DEGREE_CHUNK):
            counts += torch.bincount(part.to(target, non_blocking=True), minlength=self.num_nodes)
        return counts

    def neighbors(self, v: int) -> torch.Tensor:
        """In-neighbours of node ``v``."""
        if not 0 <= v < self.num_nodes:
            raise IndexError(f"node {v} is out of range for a graph of {self.num_nodes} nodes")
        return self.indices[int(self.indptr[v]) : int(self.indptr[v + 1])]

    def to(self, placement) -> Graph:
        """The same graph in ``placement`` ("cpu", "pinned", "cuda", "cuda:k"). Cost: one copy per array that moves."""
        weight = place(self.edge_weight, placement) if self.edge_weight is not None else None
        return Graph(place(self.indptr, placement), place(self.indices, placement), weight, validate=False)

    def __repr__(self) -> str:
        return (
            f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"indices={self.indices.dtype}, placement={self.placement})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the graph as a folder of .npy files with a manifest (a whole folder or none).

        ``path`` must be new, empty or a graph this method wrote before; anything else is
        refused (:class:`~graphsys.io.OutputError`). Cost: one copy of every array to disk and
        one read of it back (the checksums).
        """
        with atomic_dir(path, GRAPH_KIND) as tmp:
            np.save(tmp / "indptr.npy", self.indptr.cpu().numpy())
            np.save(tmp / "indices.npy", self.indices.cpu().numpy())
            if self.edge_weight is not None:
                np.save(tmp / "edge_weight.npy", self.edge_weight.cpu().numpy())
            meta = {"format": GRAPH_KIND, "version": _FORMAT_VERSION,
                    "num_nodes": self.num_nodes, "num_edges": self.num_edges}
            (tmp / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, validate: bool = False,
             checksums: bool = True) -> Graph:
        """Open a graph written by :meth:`save`, refusing one that does not match its manifest.

        With ``mmap`` the arrays are memory-mapped copy-on-write, so they page in as they are
        used. ``checksums`` reads every file once to compare it with the manifest (crc32,
        several threads; about 1 s per 2.5 GB a core); without it only the sizes are compared.

        Raises:
            FileNotFoundError: nothing at ``path``.
            CorruptFileError: no manifest, a missing, truncated or altered array, or a
                ``meta.json`` that contradicts the arrays (the file is named).
        """
        root = Path(path)
        manifest = verify_dir(root, GRAPH_KIND, checksums=checksums)
        meta = read_json(root / "meta.json")
        if meta.get("format") != GRAPH_KIND:
            raise CorruptFileError(f"{root / 'meta.json'} has format {meta.get('format')!r}, expected {GRAPH_KIND!r}")
        mode = "c" if mmap else None

        def read(name: str) -> torch.Tensor:
            return torch.from_numpy(read_npy(root / name, mmap_mode=mode))

        weight = read("edge_weight.npy") if "edge_weight.npy" in manifest["files"] else None
        try:
            graph = cls(read("indptr.npy"), read("indices.npy"), weight, validate=validate)
        except (ValueError, TypeError, IndexError) as err:
            raise CorruptFileError(f"{root}: the arrays do not form a graph ({err})") from None
        if graph.num_nodes != meta.get("num_nodes") or graph.num_edges != meta.get("num_edges"):
            raise CorruptFileError(
                f"{root}: arrays hold {graph.num_nodes} nodes / {graph.num_edges} edges, "
                f"meta.json says {meta.get('num_nodes')} / {meta.get('num_edges')}"
            )
        return graph
