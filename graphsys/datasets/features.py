"""Features for featureless node types, derived once from their neighbours (OGB-LSC MAG240M's recipe).

:func:`mean_features` gives every node type without features the mean of its neighbours'
features, walking the edge types outwards from the types that have them: on MAG240M an
author gets the mean of the papers they wrote and an institution the mean of its authors;
on ogbn-mag a field of study gets the mean of the papers about it as well.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np
import torch
from tqdm.auto import tqdm

from graphsys.datasets.base import HeteroNodeDataset
from graphsys.datasets.hetero_cache import DERIVED_FOLDER, feature_file
from graphsys.hetero_graph import EdgeType, transpose_csr
from graphsys.io import MANIFEST, CorruptFileError, atomic_dir, read_json, read_npy, verify_dir

log = logging.getLogger(__name__)

#: The kind of the folder :func:`mean_features` writes.
MEAN_FEATURES_KIND = "graphsys.MeanFeatures"
_VERSION = 1
#: Bytes of float32 accumulator per chunk of rows (16 K rows of 768 features): large enough that
#: a kernel launch per chunk costs nothing, small enough to stay in a few cores' caches' reach.
_CHUNK_BYTES = 48 << 20
#: float32 value of every 16-bit pattern: float16 and bfloat16 tables are read through these.
_HALF_LUT = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
_BFLOAT_LUT = (np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)).view(np.float32)


@numba.njit(parallel=True, cache=True)
def _add_rows(indptr, indices, table, lo, acc, counts):
    """``acc[v - lo] += sum of table[indices[e]]`` over row ``v``'s edges, for the rows of ``acc``."""
    width = acc.shape[1]
    for i in numba.prange(acc.shape[0]):
        v = lo + i
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            for f in range(width):
                acc[i, f] += table[u, f]
        counts[i] += indptr[v + 1] - indptr[v]


@numba.njit(parallel=True, cache=True)
def _add_rows_16bit(indptr, indices, table, lut, lo, acc, counts):
    """:func:`_add_rows` for a table of 16-bit floats (given as their bits, decoded by ``lut``)."""
    width = acc.shape[1]
    for i in numba.prange(acc.shape[0]):
        v = lo + i
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            for f in range(width):
                acc[i, f] += lut[table[u, f]]
        counts[i] += indptr[v + 1] - indptr[v]


def _kernel_table(x: torch.Tensor):
    """``x`` as numba reads it: float32/float64 as they are, 16-bit floats as bits plus a decoder."""
    if x.dtype == torch.float16:
        return x.view(torch.int16).numpy().view(np.uint16), _HALF_LUT
    if x.dtype == torch.bfloat16:
        return x.view(torch.int16).numpy().view(np.uint16), _BFLOAT_LUT
    return x.numpy(), None


def _sources(dataset: HeteroNodeDataset, node_type: str, featured: set[str]) -> list[tuple[EdgeType, bool]]:
    """The edge types that bring ``node_type`` the features of ``featured`` types: ``(edge_type,
    transposed)``, where a transposed one points away from ``node_type`` (its CSR is read
    reversed) and is skipped when the graph also has its reverse type (``rev_`` naming)."""
    edge_types = dataset.graph.edge_types
    direct = [(e, False) for e in edge_types if e[2] == node_type and e[0] in featured and e[0] != node_type]
    reverse = []
    for src, rel, dst in edge_types:
        if src != node_type or dst not in featured or dst == node_type:
            continue
        twins = {(dst, f"rev_{rel}", src)} | ({(dst, rel[4:], src)} if rel.startswith("rev_") else set())
        if not twins & set(edge_types):
            reverse.append(((src, rel, dst), True))
    return direct + reverse


def _plan(dataset: HeteroNodeDataset) -> list[tuple[str, list[tuple[EdgeType, bool]]]]:
    """Which featureless type is derived from which edge types, in rounds outwards from the
    featured types (a type reached in round k reads only types featured before round k).

    Raises:
        ValueError: a featureless type no edge type reaches, or one whose neighbour types have
            features of different widths.
    """
    featured = set(dataset.x)
    widths = {t: int(x.shape[1]) for t, x in dataset.x.items()}
    pending = dataset.featureless_types
    plan = []
    while pending:
        round_plan = [(t, _sources(dataset, t, featured)) for t in pending]
        round_plan = [(t, sources) for t, sources in round_plan if sources]
        if not round_plan:
            raise ValueError(f"{dataset.name}: node types {pending} have no edge type to a node type with features "
                             f"({sorted(featured)}), so mean_features cannot derive theirs; give them features or "
                             "learn embeddings for them")
        for node_type, sources in round_plan:
            neighbour_types = sorted({e[0] if not transposed else e[2] for e, transposed in sources})
            found = {widths[n] for n in neighbour_types}
            if len(found) > 1:
                raise ValueError(f"{dataset.name}: node type {node_type!r} neighbours {neighbour_types}, whose "
                                 f"features differ in width ({ {n: widths[n] for n in neighbour_types} }); "
                                 "mean_features averages features of one width")
            widths[node_type] = found.pop()
        featured |= {t for t, _ in round_plan}
        pending = [t for t in pending if t not in featured]
        plan += round_plan
    return plan


def _derive(dataset: HeteroNodeDataset, x: dict[str, torch.Tensor], node_type: str,
            sources: list[tuple[EdgeType, bool]], out: torch.Tensor, quiet: bool) -> None:
    """Fill ``out`` (one row per ``node_type`` node) with the mean over its neighbours through
    ``sources`` (zeros for a node without any), chunk by chunk in float32."""
    graph = dataset.graph
    csrs = []
    for edge_type, transposed in sources:
        indptr, indices = graph.csr(edge_type)
        if transposed:
            indptr, indices, _ = transpose_csr(indptr, indices, graph.num_nodes(node_type))
        table, lut = _kernel_table(x[edge_type[2] if transposed else edge_type[0]])
        csrs.append((indptr.numpy(), indices.numpy(), table, lut))
    num_rows, width = out.shape
    chunk = max(1, _CHUNK_BYTES // (4 * max(width, 1)))
    acc = np.empty((min(chunk, max(num_rows, 1)), width), dtype=np.float32)
    counts = np.empty(acc.shape[0], dtype=np.int64)
    with tqdm(total=num_rows, desc=f"mean features: {node_type}", unit="node", disable=quiet, leave=False) as bar:
        for lo in range(0, num_rows, chunk):
            rows = min(chunk, num_rows - lo)
            acc[:rows] = 0.0
            counts[:rows] = 0
            for indptr, indices, table, lut in csrs:
                if lut is None:
                    _add_rows(indptr, indices, table, lo, acc[:rows], counts[:rows])
                else:
                    _add_rows_16bit(indptr, indices, table, lut, lo, acc[:rows], counts[:rows])
            acc[:rows] /= np.maximum(counts[:rows], 1)[:, None]
            out[lo:lo + rows].copy_(torch.from_numpy(acc[:rows]))  # casts to float16 in parallel
            bar.update(rows)


def _source_run(dataset: HeteroNodeDataset) -> str | None:
    """The run id of the dataset folder's manifest (what derived features record they came from)."""
    if dataset.path is None or not (Path(dataset.path) / MANIFEST).is_file():
        return None
    return read_json(Path(dataset.path) / MANIFEST).get("run_id")


def _open_derived(folder: Path, dataset: HeteroNodeDataset, source: str | None,
                  graph_key: dict | None) -> dict[str, torch.Tensor] | None:
    """The derived features kept in ``folder`` for this very dataset and graph (None when there are
    none, when they were derived from another version of it or another ``graph_key``, or ``source``
    is unknown)."""
    if source is None or not (folder / MANIFEST).is_file():
        return None
    manifest = verify_dir(folder, MEAN_FEATURES_KIND)
    meta = read_json(folder / "meta.json")
    if meta.get("version") != _VERSION or meta.get("source_run") != source or meta.get("graph") != graph_key:
        return None
    try:
        files = dict(meta["features"])
    except (KeyError, TypeError, ValueError) as err:
        raise CorruptFileError(f"{folder / 'meta.json'} is malformed ({type(err).__name__}: {err})") from None
    if set(files) != set(dataset.featureless_types) or not set(files.values()) <= set(manifest["files"]):
        raise CorruptFileError(f"{folder / 'meta.json'} does not name the files of {dataset.featureless_types}")
    return {t: torch.from_numpy(read_npy(folder / f, mmap_mode="c")) for t, f in files.items()}


def mean_features(dataset: HeteroNodeDataset, root: str | os.PathLike | None = None, *,
                  graph_key: dict | None = None, quiet: bool = True) -> HeteroNodeDataset:
    """``dataset`` with features for every node type: each featureless type gets, once, the mean
    of its neighbours' features (OGB-LSC MAG240M's baseline recipe), the rest stay as they are.

    Types are derived in rounds outwards from the featured ones, over edge types in either
    direction: on MAG240M authors get the mean of the papers they wrote (round 1) and
    institutions the mean of their authors (round 2); on ogbn-mag fields of study the mean of
    their papers (round 1). A type reached through several edge types in one round averages
    all those neighbours together; a node without any gets zeros. The dtype is the source's
    (float16 stays float16; bfloat16 and mixed sources give float32); sums are float32.

    Where the result goes: under ``root`` when given, else in ``<dataset.path>/mean_features/``
    for a dataset on disk (it is a unit of its own: memory-mapped ``.npy`` files and a manifest,
    admitted by the dataset's manifest), else in memory. Features kept on disk are reopened
    (checked against their manifest) when they were derived from this very dataset folder and
    the same ``graph_key``; otherwise they are derived again and replace them. ``graph_key``
    (JSON values) names how ``dataset.graph`` was made from the folder's when it is not that
    graph (a link split's training graph: its edge type, seed and fractions); it is recorded
    in ``meta.json``.

    Cost: one pass over every edge of the edge types used (a parallel transpose first for
    those that point away from the type), reading a neighbour's feature row per edge; memory
    bounded by chunks of ``_CHUNK_BYTES`` of float32 plus the transposed CSRs (on disk) or
    the derived tables themselves (in memory).

    Raises:
        ValueError: a featureless type that no edge type connects to a featured one, or
            neighbours of different feature widths.
        OutputError: ``root`` (or the dataset's ``mean_features/``) holds something graphsys
            did not write.

    Example:
        >>> from graphsys.datasets import load, mean_features
        >>> ds = mean_features(load("synthetic-mag", scale=0.002))
        >>> sorted(ds.x) == sorted(ds.graph.node_types) and ds.featureless_types
        []
    """
    if not isinstance(dataset, HeteroNodeDataset):
        raise TypeError(f"dataset must be a HeteroNodeDataset, got {type(dataset).__name__}")
    if not dataset.featureless_types:
        return dataset
    plan = _plan(dataset)
    folder = Path(root) if root is not None else (
        Path(dataset.path) / DERIVED_FOLDER if dataset.path is not None else None)
    x = dict(dataset.x)
    if folder is None:
        for node_type, sources in plan:
            out = torch.empty(dataset.num_nodes[node_type], _width(x, sources),
                              dtype=_dtype(x, sources))
            _derive(dataset, x, node_type, sources, out, quiet)
            x[node_type] = out
        return replace(dataset, x=_in_graph_order(dataset, x))
    source = _source_run(dataset)
    kept = _open_derived(folder, dataset, source, graph_key)
    if kept is not None:
        log.info("opening derived features in %s", folder)
        return replace(dataset, x=_in_graph_order(dataset, {**x, **kept}))
    positions = {t: i for i, t in enumerate(dataset.graph.node_types)}
    with atomic_dir(folder, MEAN_FEATURES_KIND) as tmp:
        files = {}
        for node_type, sources in plan:
            files[node_type] = feature_file(positions[node_type])
            np_dtype = torch.empty(0, dtype=_dtype(x, sources)).numpy().dtype
            shape = (dataset.num_nodes[node_type], _width(x, sources))
            mapped = np.lib.format.open_memmap(tmp / files[node_type], mode="w+", dtype=np_dtype, shape=shape)
            out = torch.from_numpy(mapped)
            _derive(dataset, x, node_type, sources, out, quiet)
            mapped.flush()
            x[node_type] = out
        (tmp / "meta.json").write_text(json.dumps({
            "format": MEAN_FEATURES_KIND, "version": _VERSION, "dataset": dataset.name, "source_run": source,
            "graph": graph_key, "features": files, "from": {t: [list(e) for e, _ in s] for t, s in plan}}, indent=1))
    derived = {t: torch.from_numpy(read_npy(folder / f, mmap_mode="c")) for t, f in files.items()}
    return replace(dataset, x=_in_graph_order(dataset, {**dataset.x, **derived}))


def _in_graph_order(dataset: HeteroNodeDataset, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {t: x[t] for t in dataset.graph.node_types if t in x}


def _width(x: dict[str, torch.Tensor], sources: list[tuple[EdgeType, bool]]) -> int:
    edge_type, transposed = sources[0]
    return int(x[edge_type[2] if transposed else edge_type[0]].shape[1])


def _dtype(x: dict[str, torch.Tensor], sources: list[tuple[EdgeType, bool]]) -> torch.dtype:
    """The derived dtype: the neighbours' one; float32 when they differ or are bfloat16 (which
    numpy cannot memory-map)."""
    dtypes = {x[e[2] if transposed else e[0]].dtype for e, transposed in sources}
    return dtypes.pop() if len(dtypes) == 1 and torch.bfloat16 not in dtypes else torch.float32
