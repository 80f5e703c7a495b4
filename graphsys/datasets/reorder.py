"""Locality-ordered tables: renumber a dataset's nodes so that the rows a sampler draws lie close.

A zero-copy gather pays per host page and per distance between rows (benchmarks/README.md, the
probes), so the order of the feature table matters. :func:`reorder_dataset` renumbers the nodes:

* ``hot-rcm`` (the default): hot rows first, by an estimate of how often the neighbour sampler
  draws each row (:func:`draw_frequency`), in tiers of doubling size (the hottest
  ``1/2**hot_tiers`` of the rows, then the next as many, ...); inside a tier, reverse
  Cuthill-McKee order (:func:`graphsys.csr_build.locality_order`), so neighbours stay near;
* ``hot``: by estimated draw frequency alone (hottest first, ties by original id);
* ``rcm``: reverse Cuthill-McKee order alone.

The CSR, the features, the labels and the splits are permuted together, and the permutation is
kept as :attr:`NodeDataset.original_ids` (``original_ids[new] = old``), so every per-node
output can go back to the user's ids (:func:`to_original`). A cache ranking (out-degree or
visits) follows the rows by itself: it is computed on the renumbered graph.

Example:
    >>> from graphsys.datasets import load
    >>> ds = load("synthetic-products", scale=0.001, reorder="hot-rcm")
    >>> ds.original_ids.shape[0] == ds.num_nodes
    True
"""
from __future__ import annotations

import enum
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np
import torch
from tqdm.auto import tqdm

from graphsys.choices import enum_choice
from graphsys.csr_build import locality_order, permute_csr
from graphsys.datasets.base import NodeDataset
from graphsys.datasets.cache import FORMAT, open_dataset, read_meta, write_meta
from graphsys.graph import Graph
from graphsys.hetero_graph import transpose_csr
from graphsys.io import atomic_dir, check_output

log = logging.getLogger(__name__)

#: Version of the renumbering: bumped when the order a config gives changes, so that cached
#: reordered datasets of an older version are rebuilt rather than reused.
REORDER_VERSION = 1
#: Bytes of feature rows moved per chunk while permuting ``x``: 256 MB keeps the scratch small
#: next to a papers100M-sized table (28 GB) while each chunk is big enough for all threads.
_CHUNK_BYTES = 256 << 20


class Method(str, enum.Enum):
    """How nodes are renumbered (see the module docstring)."""

    HOT_RCM = "hot-rcm"
    HOT = "hot"
    RCM = "rcm"


class Estimate(str, enum.Enum):
    """How the sampler's draw frequency of each row is estimated (:func:`draw_frequency`)."""

    DEGREE = "degree"
    EXPECTED = "expected"
    SAMPLED = "sampled"



@dataclass(frozen=True)
class ReorderConfig:
    """How :func:`reorder_dataset` renumbers a dataset; equal configs give equal orders.

    Example:
        >>> ReorderConfig("hot-rcm").method
        <Method.HOT_RCM: 'hot-rcm'>
    """

    method: Method = field(default=Method.HOT_RCM, metadata={"help": "hot-rcm, hot or rcm"})
    estimate: Estimate = field(
        default=Estimate.EXPECTED,
        metadata={"help": "draw frequency estimate: degree (out-degree), expected (fanout-weighted visits "
                          "propagated from the training seeds) or sampled (the CPU sampler over sample_batches "
                          "batches of training seeds); expected ranked the rows a held-out epoch drew best "
                          "(draw_frequency's docstring)"})
    fanouts: tuple[int, ...] = field(
        default=(15, 10, 5), metadata={"help": "the sampler's fanouts the estimate assumes (-1: all)"})
    batch_size: int = field(default=1024, metadata={"help": "seeds per batch the estimate assumes"})
    sample_batches: int = field(
        default=32, metadata={"help": "estimate sampled: batches drawn (more: a closer estimate, linearly slower)"})
    hot_tiers: int = field(
        default=6, metadata={"help": "hot-rcm: tiers of doubling size before the coldest half (6: the hottest "
                                     "1/64 of the rows first); more tiers follow the frequency closer, fewer keep "
                                     "more of the RCM order"})
    seed: int = field(default=0, metadata={"help": "seed of the sampled estimate"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", enum_choice("method", self.method, Method))
        object.__setattr__(self, "estimate", enum_choice("estimate", self.estimate, Estimate))
        fanouts = tuple(self.fanouts)
        if not fanouts or any(isinstance(f, bool) or not isinstance(f, (int, np.integer)) or (f < 0 and f != -1)
                              for f in fanouts):
            raise ValueError(f"fanouts must be a non-empty sequence of ints >= 0 or -1, got {self.fanouts!r}")
        object.__setattr__(self, "fanouts", tuple(int(f) for f in fanouts))
        for name in ("batch_size", "sample_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(self.hot_tiers, bool) or not isinstance(self.hot_tiers, int) or not 0 <= self.hot_tiers <= 30:
            raise ValueError(f"hot_tiers must be an int in [0, 30], got {self.hot_tiers!r}")

    @classmethod
    def of(cls, spec: ReorderConfig | str | Method) -> ReorderConfig:
        """``spec`` as a config: a config as it is, a method name with the other defaults."""
        return spec if isinstance(spec, ReorderConfig) else cls(method=spec)

    def to_dict(self) -> dict:
        """All fields as JSON-ready values."""
        return {k: (v.value if isinstance(v, enum.Enum) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}


# --------------------------------------------------------------------------- draw frequency
@numba.njit(parallel=True, cache=True)
def _pull(t_indptr, t_indices, weight, out):
    """``out[u] = sum of weight[v]`` over the rows ``v`` whose in-neighbour list holds ``u``."""
    for u in numba.prange(t_indptr.shape[0] - 1):
        total = 0.0
        for e in range(t_indptr[u], t_indptr[u + 1]):
            total += weight[t_indices[e]]
        out[u] = total


def draw_frequency(graph: Graph, train_idx: torch.Tensor, config: ReorderConfig | None = None, *,
                   transpose: tuple[torch.Tensor, torch.Tensor] | None = None) -> np.ndarray:
    """How often, per epoch over ``train_idx``, a neighbour sampler is estimated to draw each row.

    ``degree``: the out-degree (how many in-neighbour lists hold the row). ``expected``: the
    training seeds' visits propagated hop by hop, a row in a list of length ``d`` drawn with
    probability ``min(1, fanout / d)`` (sampling without replacement), capped per batch as a
    batch deduplicates (``B (1 - exp(-visits / B))`` over ``B`` batches an epoch). ``sampled``:
    the rows of ``sample_batches`` batches the CPU sampler draws from seeded training seeds.
    Measured (bench_reorder.py --parts estimate, CPU): of a held-out epoch's draws, the top 20 % rows by
    expected / degree / sampled (32 batches) held 0.570 / 0.530 / 0.533 on papers100M-shaped x0.02.

    Cost: ``degree`` and ``expected`` one (given) transpose plus one parallel pass over the edges
    per hop; ``sampled`` ``sample_batches`` CPU sampler calls. Returns float64 ``[num_nodes]``.
    """
    config = config or ReorderConfig()
    n = graph.num_nodes
    indptr, indices = graph.indptr.cpu(), graph.indices.cpu()
    if config.estimate is Estimate.SAMPLED:
        return _sampled_frequency(indptr, indices, train_idx, config)
    if transpose is None:
        t_indptr, t_indices, _ = transpose_csr(indptr, indices, n)
    else:
        t_indptr, t_indices = transpose
    t_ptr = t_indptr.numpy()
    if config.estimate is Estimate.DEGREE:
        return np.diff(t_ptr).astype(np.float64)
    row_len = np.diff(indptr.numpy()).astype(np.float64)
    batches = max(1, math.ceil(train_idx.numel() / config.batch_size))
    visits = np.zeros(n, dtype=np.float64)
    visits[train_idx.numpy()] = 1.0
    total = visits.copy()
    drawn = np.empty(n, dtype=np.float64)
    for fanout in config.fanouts:
        share = np.ones(n) if fanout < 0 else np.minimum(1.0, fanout / np.maximum(row_len, 1.0))
        _pull(t_ptr, t_indices.numpy(), visits * share, drawn)
        visits = batches * -np.expm1(-drawn / batches)
        total += visits
    return total


def _sampled_frequency(indptr: torch.Tensor, indices: torch.Tensor, train_idx: torch.Tensor,
                       config: ReorderConfig) -> np.ndarray:
    from sampling import NeighborSampler
    from zerocopy import visit_ranking

    gen = torch.Generator().manual_seed(config.seed)
    count = min(train_idx.numel(), config.sample_batches * config.batch_size)
    seeds = train_idx[torch.randperm(train_idx.numel(), generator=gen)[:count]]
    sampler = NeighborSampler(indptr, indices, list(config.fanouts), seed=config.seed, validate=False)
    batches = (sampler.sample(seeds[s : s + config.batch_size]).node for s in range(0, count, config.batch_size))
    return visit_ranking(batches, indptr.numel() - 1).numpy().astype(np.float64)


# --------------------------------------------------------------------------- the order
def tiers_of(frequency: np.ndarray, hot_tiers: int) -> np.ndarray:
    """Tier of every row by its rank in ``frequency`` (hottest first, ties by id): rank ``r`` of
    ``n`` is in tier ``t`` when ``n / 2**(hot_tiers - t + 1) <= r < n / 2**(hot_tiers - t)``;
    tier 0 holds the hottest ``n / 2**hot_tiers`` rows. Returns int8 ``[n]``."""
    n = frequency.shape[0]
    by_rank = np.argsort(-frequency, kind="stable")
    bounds = [n >> (hot_tiers - t) for t in range(hot_tiers + 1)]  # cumulative row counts
    tier_of_rank = np.searchsorted(np.asarray(bounds[:-1], dtype=np.int64), np.arange(n), side="right")
    tiers = np.empty(n, dtype=np.int8)
    tiers[by_rank] = tier_of_rank.astype(np.int8)
    return tiers


def reorder_permutation(graph: Graph, train_idx: torch.Tensor, config: ReorderConfig | str | None = None,
                        ) -> np.ndarray:
    """The renumbering ``config`` describes: ``order[new] = old`` (int64, a permutation).

    Cost: one parallel transpose of the CSR (it is read both ways), the frequency estimate,
    the serial RCM pass and two stable sorts of ``num_nodes`` keys; on a papers100M-sized graph
    (111 M nodes, 1.6 B edges) a second copy of the CSR (7 GB) and a few ``[num_nodes]`` arrays.
    """
    config = ReorderConfig.of(config or Method.HOT_RCM)
    indptr, indices = graph.indptr.cpu(), graph.indices.cpu()
    t_indptr, t_indices, _ = transpose_csr(indptr, indices, graph.num_nodes)
    if config.method is not Method.RCM:
        frequency = draw_frequency(graph, train_idx, config, transpose=(t_indptr, t_indices))
        if config.method is Method.HOT:
            return np.argsort(-frequency, kind="stable")
    rcm = locality_order(indptr.numpy(), indices.numpy(), t_indptr.numpy(), t_indices.numpy())
    del t_indptr, t_indices
    if config.method is Method.RCM:
        return rcm
    position = np.empty_like(rcm)
    position[rcm] = np.arange(rcm.shape[0], dtype=np.int64)
    return np.lexsort((position, tiers_of(frequency, config.hot_tiers)))


# --------------------------------------------------------------------------- permuting a dataset
def _check_dataset(dataset) -> None:
    if not isinstance(dataset, NodeDataset):
        raise TypeError(f"reorder takes a NodeDataset (one node type), got {type(dataset).__name__}; "
                        "heterogeneous and link datasets are not renumbered yet")


def check_permutation(order, num_nodes: int, name: str = "order") -> np.ndarray:
    """``order`` as int64 numpy, refusing anything but a permutation of ``range(num_nodes)``.

    Raises:
        TypeError: not integers. ValueError: wrong length or a repeated id. IndexError: an id
            outside ``[0, num_nodes)``. Cost: one bincount.
    """
    arr = order.numpy() if isinstance(order, torch.Tensor) else np.asarray(order)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer node ids, got dtype {arr.dtype}")
    if arr.shape != (num_nodes,):
        raise ValueError(f"{name} must have shape [{num_nodes}] (one id per node), got {list(arr.shape)}")
    if num_nodes and (int(arr.min()) < 0 or int(arr.max()) >= num_nodes):
        bad = int(arr.min()) if int(arr.min()) < 0 else int(arr.max())
        raise IndexError(f"{name} holds node id {bad}, outside [0, {num_nodes})")
    counts = np.bincount(arr, minlength=num_nodes)
    if num_nodes and counts.max() > 1:
        raise ValueError(f"{name} is not a permutation: node {int(np.argmax(counts > 1))} appears "
                         f"{int(counts.max())} times")
    return arr.astype(np.int64, copy=False)


def permute_rows(x: torch.Tensor, order: np.ndarray, out: torch.Tensor, *, quiet: bool = True) -> None:
    """``out[i] = x[order[i]]``, chunk by chunk (``x`` and ``out`` may be memory maps, so a table
    larger than memory streams through). Each chunk's reads go in address order, then the rows
    are put in place. Cost: one parallel gather per chunk of ``_CHUNK_BYTES``; scratch of one chunk."""
    n = order.shape[0]
    row_bytes = max(1, x[0].numel() * x.element_size()) if n else 1
    chunk = max(1, _CHUNK_BYTES // row_bytes)
    with tqdm(total=n, desc="features", unit="row", disable=quiet, leave=False) as bar:
        for start in range(0, n, chunk):
            ids = torch.from_numpy(order[start : start + chunk])
            sorted_ids, where = torch.sort(ids)
            rows = x.index_select(0, sorted_ids)
            out[start : start + ids.numel()].index_copy_(0, where, rows)
            bar.update(ids.numel())


def _permuted_parts(dataset: NodeDataset, order: np.ndarray):
    """The graph, labels, splits and original ids of ``dataset`` renumbered by ``order``."""
    graph = dataset.graph
    weight = graph.edge_weight.cpu().numpy() if graph.edge_weight is not None else None
    indptr, indices, new_weight = permute_csr(graph.indptr.cpu().numpy(), graph.indices.cpu().numpy(), order, weight)
    new_graph = Graph(torch.from_numpy(indptr), torch.from_numpy(indices),
                      torch.from_numpy(new_weight) if new_weight is not None else None, validate=False)
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(order.shape[0], dtype=np.int64)
    y = dataset.y[torch.from_numpy(order)]
    splits = {s: torch.from_numpy(np.sort(rank_of[getattr(dataset, s).numpy()]))
              for s in ("train_idx", "val_idx", "test_idx")}
    original = dataset.original_ids.numpy()[order] if dataset.original_ids is not None else order
    return new_graph, y, splits, torch.from_numpy(np.ascontiguousarray(original))


def apply_permutation(dataset: NodeDataset, order, out: str | os.PathLike | None = None, *,
                      extra: dict | None = None, quiet: bool = True) -> NodeDataset:
    """``dataset`` renumbered by ``order`` (``order[new] = old``): CSR, features, labels and
    splits permuted together, ``original_ids`` composed with any earlier renumbering.

    With ``out`` the result is written there as a dataset folder (graph, ``x.npy`` streamed
    into a memory map chunk by chunk, labels, splits, ``original_ids.npy``, ``meta.json`` with
    ``extra``; one manifest unit, renamed into place whole) and reopened with memory maps; the
    features are never held twice in memory. Without ``out`` everything is in memory (a second
    copy of ``x`` while the caller keeps the first).

    Raises:
        TypeError: not a NodeDataset. ValueError / IndexError: ``order`` not a permutation.
        OutputError: ``out`` holds something graphsys did not write.
    """
    _check_dataset(dataset)
    order = check_permutation(order, dataset.num_nodes)
    if out is not None:
        check_output(out, FORMAT, directory=True)
    graph, y, splits, original = _permuted_parts(dataset, order)
    x = dataset.x
    if out is None:
        new_x = None
        if x is not None:
            new_x = torch.empty(x.shape, dtype=x.dtype)
            permute_rows(x, order, new_x, quiet=quiet)
        return NodeDataset(dataset.name, graph, new_x, y, splits["train_idx"], splits["val_idx"], splits["test_idx"],
                           num_classes=dataset.num_classes, multilabel=dataset.multilabel, original_ids=original)
    with atomic_dir(out, FORMAT) as tmp:
        graph.save(tmp / "graph")
        if x is not None:
            np_dtype = torch.empty(0, dtype=x.dtype).numpy().dtype
            mapped = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=np_dtype, shape=tuple(x.shape))
            permute_rows(x, order, torch.from_numpy(mapped), quiet=quiet)
            mapped.flush()
            del mapped
        np.save(tmp / "y.npy", y.numpy())
        for name, split in splits.items():
            np.save(tmp / f"{name}.npy", split.numpy())
        np.save(tmp / "original_ids.npy", original.numpy())
        write_meta(tmp, dataset.name, dataset.num_classes, dataset.multilabel, extra or {})
    return open_dataset(out, checksums=False)  # its checksums were just computed from these bytes


def reorder_dataset(dataset: NodeDataset, config: ReorderConfig | str | None = None,
                    out: str | os.PathLike | None = None, *, quiet: bool = True,
                    source: dict | None = None) -> NodeDataset:
    """``dataset`` renumbered for locality as ``config`` says (default ``hot-rcm``), in memory
    or, with ``out``, written there and reopened (:func:`apply_permutation`).

    ``source`` (what the dataset was loaded as) is recorded in ``meta.json`` beside the config,
    so :func:`open_reordered` knows a folder made from the same source and config.

    Cost: :func:`reorder_permutation`, then one permutation of every array (the features in
    chunks). Measured: see ``benchmarks/bench_reorder.py`` (its ``reorder_s`` figure).

    Raises:
        TypeError: a heterogeneous or link dataset. ValueError: a bad config.
        OutputError: ``out`` holds something graphsys did not write.
    """
    _check_dataset(dataset)
    config = ReorderConfig.of(config or Method.HOT_RCM)
    if out is not None:
        check_output(out, FORMAT, directory=True)  # before the work, not when the folder is swapped in
    order = reorder_permutation(dataset.graph, dataset.train_idx, config)
    extra = {"reorder": {**config.to_dict(), "version": REORDER_VERSION}, "source": source or {"name": dataset.name}}
    return apply_permutation(dataset, order, out, extra=extra, quiet=quiet)


def open_reordered(path: str | os.PathLike, config: ReorderConfig, source: dict) -> NodeDataset | None:
    """The dataset folder at ``path`` if it was reordered from ``source`` as ``config`` says
    (by this version), else None."""
    meta = read_meta(path)
    if meta is None or meta.get("source") != source:
        return None
    if meta.get("reorder") != {**config.to_dict(), "version": REORDER_VERSION}:
        return None
    return open_dataset(path)


def reordered_dir(root: str | os.PathLike, name: str, scale: float, seed: int, config: ReorderConfig) -> Path:
    """Where :func:`graphsys.datasets.load` keeps ``name`` reordered by ``config`` under ``root``:
    beside the generated preset's folder for synthetic presets, else ``root/<name>.reorder-<method>``."""
    from graphsys.datasets.synthetic import PRESETS, cache_dir

    base = cache_dir(root, name, scale, seed).name if name in PRESETS else str(name).lower().replace(os.sep, "_")
    return Path(root) / f"{base}.reorder-{config.method.value}"


def load_reordered(dataset: NodeDataset, config: ReorderConfig | str, root, source: dict, *,
                   quiet: bool = True) -> NodeDataset:
    """``dataset`` reordered by ``config``: reopened from under ``root`` when an earlier call
    wrote it from the same ``source``, else made (and, with ``root``, written there)."""
    _check_dataset(dataset)
    config = ReorderConfig.of(config)
    if root is None:
        return reorder_dataset(dataset, config, quiet=quiet, source=source)
    target = reordered_dir(root, source["name"], source.get("scale", 1.0), source.get("seed", 0), config)
    cached = open_reordered(target, config, source)
    if cached is not None:
        log.info("opening reordered %s", target)
        return cached
    return reorder_dataset(dataset, config, target, quiet=quiet, source=source)


# --------------------------------------------------------------------------- back to the user's ids
def to_original(dataset: NodeDataset, values: torch.Tensor) -> torch.Tensor:
    """Per-node ``values`` (rows in the dataset's ids) in the user's original ids: row ``i`` of
    the result is node ``i`` as the user numbered it. ``values`` itself for a dataset that was
    not renumbered. Cost: one scatter of the rows (a copy) on ``values``' device.

    Raises:
        ValueError: ``values`` does not have one row per node.
    """
    if values.shape[0] != dataset.num_nodes:
        raise ValueError(f"values must have one row per node ({dataset.num_nodes}), got shape {tuple(values.shape)}")
    if dataset.original_ids is None:
        return values
    out = torch.empty_like(values)
    out[dataset.original_ids.to(values.device)] = values
    return out


def to_new_ids(dataset: NodeDataset, ids: torch.Tensor) -> torch.Tensor:
    """The dataset's ids of nodes the user names by their original ``ids``. Cost: one inverse
    permutation (``[num_nodes]`` int64) and one gather."""
    if dataset.original_ids is None:
        return ids
    rank_of = torch.empty_like(dataset.original_ids)
    rank_of[dataset.original_ids] = torch.arange(dataset.num_nodes)
    return rank_of[ids.cpu()].to(ids.device)
