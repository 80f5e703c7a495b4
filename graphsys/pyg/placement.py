"""Where the drop-in loaders put a host ``Data`` / ``HeteroData``: the GPU-centric default.

A PyG script keeps its graph on the host and moves each batch to the GPU. Given such data on a
machine with a GPU, :class:`graphsys.pyg.NeighborLoader` and :class:`graphsys.pyg.LinkNeighborLoader`
place the CSR (and edge weights and times beside it) in GPU memory, or in pinned host memory when
it does not fit, sample there, and read the batch's node and edge attributes zero-copy from the
user's own tensors, page-locked in place by :class:`zerocopy.UnifiedTensor` (no copy of the table;
a GPU cache of the hottest rows with ``feature_cache``). Batches come out on the GPU.
``placement="cpu"`` keeps PyG's host behaviour; it is also what happens without CUDA.

This module holds the two pieces of that: :func:`resolve` (which placement, and what becomes of
``num_workers`` / ``pin_memory``) and :func:`device_view` (the private ``Data`` the loader filters
batches from: the user's tensors wrapped, nothing copied but graph-level attributes).
"""
from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import torch
from torch_geometric.data import Data, HeteroData

from zerocopy import UnifiedTensor, degree_ranking
from zerocopy.placement import Placement

#: Share of the GPU's free memory the CSR (indices, offsets, the edge permutation, weights and
#: times) may take for the default to put it in GPU memory, else it is pinned and sampled over
#: PCIe. Half leaves the rest to the model, its activations and the feature cache; a
#: products-sized graph (124 M edges, about 2.1 GB with its int64 permutation) takes 3% of an
#: H100. Turning it up keeps larger graphs in GPU memory (about 2.3x the sampling rate of pinned)
#: at the risk of running the model out of memory.
GPU_SHARE = 0.5


@dataclass(frozen=True)
class Resolved:
    """A loader's placement decision.

    Attributes:
        csr: where the CSR lives and sampling runs ("cpu", "pinned", "cuda:k").
        device: where batches land: a GPU when features are served zero-copy, else None (PyG's
            host behaviour: batches where the data is).
        loader_kwargs: the DataLoader arguments to use (``num_workers`` and ``pin_memory``
            dropped for GPU batches: sampling runs on the GPU in the main process).
    """

    csr: str
    device: torch.device | None
    loader_kwargs: dict


def _on_gpu(data) -> bool:
    """Whether ``data`` (a Data or HeteroData) holds any tensor in GPU memory."""
    stores = data.stores
    return any(isinstance(v, torch.Tensor) and v.is_cuda for store in stores for v in store.values())


def csr_bytes(data: Data | HeteroData, weighted: bool, temporal: bool) -> int:
    """Device bytes of the CSR a sampler builds from ``data``: indices (int32), the int64 edge
    permutation, weights (float32) and times (int64) per edge; int64 offsets per node. Cost: none."""
    if isinstance(data, HeteroData):
        edges = sum(int(s.edge_index.size(1)) for s in data.edge_stores if "edge_index" in s)
        nodes = sum(int(s.num_nodes or 0) for s in data.node_stores) + len(data.edge_types)
    else:
        edges = int(data.edge_index.size(1)) if "edge_index" in data else 0
        nodes = int(data.num_nodes or 0) + 1
    per_edge = 4 + 8 + (4 if weighted else 0) + (8 if temporal else 0)
    return edges * per_edge + 8 * nodes


def resolve(data, placement: str | None, *, weighted: bool, temporal: bool, kwargs: dict) -> Resolved:
    """Where a loader over ``data`` samples and where its batches land.

    ``placement=None`` (the default): without CUDA "cpu"; data already on a GPU stays there (as
    before); host data goes to "cuda" when its CSR takes at most :data:`GPU_SHARE` of the free GPU
    memory, else "pinned", with batches on the GPU. Store pairs keep the stores' placement.
    ``num_workers > 0`` with GPU batches is dropped with a warning under the default, refused
    when the placement was asked for; ``pin_memory`` is dropped (batches are on the GPU already).

    Cost: one ``cudaMemGetInfo`` for host data on a GPU machine.

    Raises:
        ValueError: an unknown placement word; "pinned" / "cuda" without CUDA; ``num_workers > 0``
            with ``placement="pinned"`` or ``"cuda"`` on host data.
    """
    kwargs = dict(kwargs)
    if placement is not None:
        try:
            word = str(Placement.parse(placement))
        except (TypeError, ValueError):
            raise ValueError(
                f"placement={placement!r}; expected None (the default: GPU when there is one), "
                "'cpu' (PyG's host behaviour), 'pinned' or 'cuda' / 'cuda:k'"
            ) from None
        if word != "cpu" and not torch.cuda.is_available():
            raise ValueError(f"placement={placement!r} needs a CUDA device and torch.cuda.is_available() is False; "
                             "use placement='cpu' or leave it None")
    if not isinstance(data, (Data, HeteroData)):  # store pairs: the stores' placement, or the one asked for
        return Resolved(placement or "", None, kwargs)
    if placement == "cpu" or (placement is None and (not torch.cuda.is_available() or _on_gpu(data))):
        return Resolved("cpu" if placement == "cpu" else "", None, kwargs)
    device = torch.device("cuda", torch.cuda.current_device())
    if placement is None:
        free, _ = torch.cuda.mem_get_info(device)
        word = str(device) if csr_bytes(data, weighted, temporal) <= GPU_SHARE * free else "pinned"
    else:
        word = str(Placement.parse(placement))
        if word.startswith("cuda"):
            device = Placement.parse(word).device
            word = str(device)
    if int(kwargs.get("num_workers") or 0) > 0:
        if placement is not None:
            raise ValueError(
                f"num_workers={kwargs['num_workers']} with placement={placement!r}: GPU sampling runs in the "
                "main process; use num_workers=0, or placement='cpu' to sample on the CPU in worker processes"
            )
        warnings.warn(
            f"graphsys.pyg: num_workers={kwargs['num_workers']} ignored: sampling and feature reads run on the "
            "GPU in the main process (placement is GPU by default); pass placement='cpu' for PyG's host "
            "sampling in worker processes", UserWarning, stacklevel=4)
        for key in ("num_workers", "persistent_workers", "prefetch_factor", "worker_init_fn",
                    "multiprocessing_context"):
            kwargs.pop(key, None)
    kwargs.pop("pin_memory", None)
    return Resolved(word, device, kwargs)


def _wrap(value: torch.Tensor, pin: bool) -> UnifiedTensor | torch.Tensor:
    """A host tensor as a UnifiedTensor pinned in place (no copy); a GPU tensor as it is."""
    return value if value.is_cuda else UnifiedTensor(value, pin=pin)


def _view_store(store, out, device: torch.device, pin: bool, node: bool, edge: bool) -> None:
    """Fill storage ``out`` (a shallow copy of ``store``) with wrapped node / edge attributes."""
    for key, value in store.items():
        if key == "edge_index":  # PyG's filter puts the batch's edge_index on this tensor's device
            out[key] = torch.empty((2, 0), dtype=torch.long, device=device)
        elif not isinstance(value, torch.Tensor):
            continue
        elif (node and store.is_node_attr(key)) or (edge and store.is_edge_attr(key)):
            out[key] = _wrap(value, pin)
        else:  # graph-level: small, moved once
            out[key] = value.to(device)


def device_view(data: Data | HeteroData, device: torch.device, *, pin: bool = True) -> Data | HeteroData:
    """The ``Data`` / ``HeteroData`` a loader with GPU batches filters from: a shallow copy of
    ``data`` whose host node and edge attributes are :class:`zerocopy.UnifiedTensor` s over the
    user's own tensors (page-locked in place, never copied; PyG's filter skips them and the loader
    gathers them by ``n_id`` / ``e_id``), ``edge_index`` a 0-edge stand-in on ``device`` (PyG
    builds each batch's on its device) and graph-level tensors on ``device``; ``num_nodes`` is
    set explicitly. ``data`` itself is left as it was (its tensors pinned while the view lives).

    Cost: one ``cudaHostRegister`` per host tensor (no copy; a non-contiguous one is copied
    once), one copy of each graph-level tensor.
    """
    view = copy.copy(data)
    if isinstance(data, HeteroData):
        for node_type, store in zip(data.node_types, data.node_stores, strict=True):
            view[node_type].num_nodes = store.num_nodes
            _view_store(store, view[node_type], device, pin, node=True, edge=False)
        for edge_type, store in zip(data.edge_types, data.edge_stores, strict=True):
            _view_store(store, view[edge_type], device, pin, node=False, edge=True)
        for key, value in data._global_store.items():
            if isinstance(value, torch.Tensor):
                view[key] = value.to(device)
        return view
    view.num_nodes = data.num_nodes
    _view_store(data._store, view._store, device, pin, node=True, edge=True)
    return view


def enable_caches(view: Data | HeteroData, csr, fraction: float, device: torch.device) -> None:
    """Keep ``fraction`` of the rows of every wrapped node attribute of ``view`` in a GPU cache,
    the rows most often named by the CSR's neighbour lists first (:func:`zerocopy.degree_ranking`).

    ``csr`` is the sampler's ``(indptr, indices)`` or a dict edge type -> pair. Cost: one bincount
    per edge type, one zero-copy gather of the cached rows per table; ``fraction`` x the table
    plus 4 bytes a row of GPU memory.
    """
    if fraction <= 0:
        return
    if isinstance(view, HeteroData):
        items = [(node_type, store) for node_type, store in zip(view.node_types, view.node_stores, strict=True)]
    else:
        items = [(None, view._store)]
    for node_type, store in items:
        rows = int(store.num_nodes or 0)
        ranking = torch.zeros(rows, dtype=torch.int64, device=device)
        pairs = csr.items() if isinstance(csr, dict) else [(None, csr)]
        for edge_type, (_, indices) in pairs:
            if edge_type is None or edge_type[0] == node_type:
                ranking += degree_ranking(indices.to(device).long(), rows)
        for key, value in store.items():
            # A Data keeps edge attributes in the same store; only node rows are ranked by degree. PyG's
            # own is_node_attr needs a torch.Tensor, so its rule is applied here: row count, no "edge" name.
            if isinstance(value, UnifiedTensor) and rows and len(value) == rows and "edge" not in key:
                row_bytes = math.prod(value.shape[1:]) * value.dtype.itemsize
                value.enable_cache(int(fraction * rows) * row_bytes + 4 * rows, ranking=ranking, device=device)
