"""Synthetic node-classification datasets shaped like OGB's, at any scale.

Three presets mirror ogbn-arxiv, ogbn-products and ogbn-papers100M in node, edge, feature
and class counts and in split sizes. Degrees follow a power law; classes are communities
(most edges inside a class, many of the rest to one partner class); features are the class
centroid plus noise, and some nodes carry another class's centroid; synthetic-products
also labels some nodes off their community. So a node's own features mislead often enough
that an MLP stays well below a GNN, which reads the neighbours, and neither reaches 100 %
(benchmarks/README.md, learnability table).

Example:
    >>> from graphsys.datasets import load
    >>> ds = load("synthetic-products", scale=0.001, seed=1)
    >>> ds.num_classes, ds.num_features
    (47, 100)
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from graphsys.datasets import _kernels as K
from graphsys.datasets._rng import root_key
from graphsys.datasets.base import NodeDataset, physical_memory
from graphsys.datasets.cache import FORMAT, open_dataset, read_meta, write_meta
from graphsys.datasets.generator import GraphSpec, community_graph
from graphsys.io import atomic_dir, check_output

log = logging.getLogger(__name__)

_CENTROIDS, _FEATURES, _SPLIT, _LABEL_NOISE = 11, 12, 13, 14
#: Bumped whenever the generator's output changes, so caches of an older generator are rebuilt.
GENERATOR_VERSION = 2
#: Feature rows written per kernel call: 64 K rows x 128 floats is 32 MB of float32 scratch;
#: the kernel is parallel over rows, so larger chunks buy nothing but memory.
_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class Preset:
    """A synthetic dataset at scale 1 (``scale`` multiplies nodes, edges and split sizes).

    Attributes:
        name: the name :func:`graphsys.datasets.load` knows.
        num_nodes, num_edges: at scale 1; ``num_edges`` counts undirected pairs unless ``directed``.
        num_features, num_classes: feature width and class count.
        split: train / val / test sizes at scale 1; with ``labelled_only`` every other node gets
            ``y = -1``, else the test set takes every node left over.
        directed: edges kept one way (citations) or stored both ways.
        exponent: power-law exponent of the degrees.
        max_degree: about the largest expected degree at scale 1 (scaled by ``sqrt(scale)``).
        homophily: share of edge endpoints inside the node's class.
        partner_share: share of the other endpoints that go to the class's partner class.
        class_skew: class sizes fall as ``(rank + 2) ** -class_skew`` (0: equal sizes).
        centroid_scale: spread of the class centroids relative to the unit feature noise.
        flip: share of nodes whose features come from a random other class.
        label_noise: share of nodes whose label is a random other class than their community
            (edges and features follow the community): the error floor no model can beat,
            as annotation noise is in real data.
        dtype: feature dtype (float16 halves the largest preset's 57 GB to 28 GB).
    """

    name: str
    num_nodes: int
    num_edges: int
    num_features: int
    num_classes: int
    split: tuple[int, int, int]
    directed: bool
    labelled_only: bool = False
    exponent: float = 2.5
    max_degree: float = 10_000.0
    homophily: float = 0.7
    partner_share: float = 0.5
    class_skew: float = 1.0
    centroid_scale: float = 0.35
    flip: float = 0.15
    label_noise: float = 0.0
    dtype: torch.dtype = torch.float32

    def at(self, scale: float) -> Preset:
        """This preset with nodes, edges and split sizes multiplied by ``scale``."""
        if not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        if scale == 1:
            return self
        n = max(int(round(self.num_nodes * scale)), 2 * self.num_classes)
        train, val, test = (max(1, int(round(s * scale))) for s in self.split)
        if not self.labelled_only:
            test = n - train - val
        return replace(self, num_nodes=n, num_edges=max(1, int(round(self.num_edges * scale))),
                       split=(train, val, test), max_degree=self.max_degree * scale**0.5)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # ogbn-arxiv: 169,343 papers, 1,166,243 citations, 128-d features, 40 subject areas.
        Preset("synthetic-arxiv", 169_343, 1_166_243, 128, 40, (90_941, 29_799, 48_603),
               directed=True, max_degree=13_000.0, homophily=0.65),
        # ogbn-products: 2,449,029 products, 61,859,140 co-purchase pairs, 100-d, 47 categories.
        Preset("synthetic-products", 2_449_029, 61_859_140, 100, 47, (196_615, 39_323, 2_213_091),
               directed=False, max_degree=17_000.0, homophily=0.5, partner_share=0.8, label_noise=0.15),
        # ogbn-papers100M: 111 M papers, 1.6 B citations, 128-d, 172 areas, 1.5 M labelled.
        Preset("synthetic-papers100m", 111_059_956, 1_615_685_872, 128, 172, (1_207_179, 125_265, 214_338),
               directed=True, labelled_only=True, max_degree=30_000.0, homophily=0.6, dtype=torch.float16),
    )
}


def _class_sizes(num_nodes: int, num_classes: int, skew: float, seed: int) -> tuple[int, ...]:
    """Sizes ``~ (rank + 2) ** -skew`` (largest remainder rounding, each >= 2), in a seeded class order."""
    share = (np.arange(num_classes) + 2.0) ** -skew
    share /= share.sum()
    spare = num_nodes - 2 * num_classes
    raw = share * spare
    sizes = np.floor(raw).astype(np.int64)
    sizes[np.argsort(raw - sizes)[::-1][: spare - int(sizes.sum())]] += 1
    sizes += 2
    order = np.random.default_rng(int(root_key(seed, _CENTROIDS)) + 1).permutation(num_classes)
    return tuple(int(s) for s in sizes[order])


def split_ids(num_nodes: int, sizes: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint sorted train / val / test ids of ``sizes``, drawn without replacement (seeded)."""
    train, val, test = sizes
    rng = np.random.default_rng(int(root_key(seed, _SPLIT)))
    chosen = rng.choice(num_nodes, size=train + val + test, replace=False)
    return tuple(np.sort(part) for part in np.split(chosen, [train, train + val]))


def fill_class_features(out: torch.Tensor, classes: np.ndarray, num_classes: int, centroid_scale: float,
                        flip: float, seed: int, quiet: bool) -> None:
    """Write every node's features into ``out`` (in memory or over a memory map), chunk by chunk:
    its class centroid (``centroid_scale`` times a seeded normal) plus unit noise, a ``flip``
    share of nodes given another class's centroid. Cost: one parallel kernel per
    ``_CHUNK_ROWS`` rows into a float32 scratch, then a (casting) copy into ``out``."""
    num_nodes, num_features = out.shape
    rng = np.random.default_rng(int(root_key(seed, _CENTROIDS)))
    centroids = rng.standard_normal((num_classes, num_features)) * centroid_scale
    key = root_key(seed, _FEATURES)
    scratch = np.empty((min(_CHUNK_ROWS, num_nodes), num_features), dtype=np.float32)
    with tqdm(total=num_nodes, desc="features", unit="node", disable=quiet, leave=False) as bar:
        for start in range(0, num_nodes, _CHUNK_ROWS):
            rows = min(_CHUNK_ROWS, num_nodes - start)
            K.fill_features(scratch[:rows], start, classes, centroids, 1.0, flip, key)
            out[start : start + rows].copy_(torch.from_numpy(scratch[:rows]))  # casts to float16 in parallel
            bar.update(rows)


def class_labels(classes: np.ndarray, num_classes: int, label_noise: float, labelled_only: bool, splits,
                 seed: int) -> np.ndarray:
    """Labels: each node's class, a ``label_noise`` share replaced by another class; with
    ``labelled_only``, ``-1`` outside the split."""
    labels = classes
    if label_noise > 0 and num_classes > 1:
        rng = np.random.default_rng(int(root_key(seed, _LABEL_NOISE)))
        noisy = rng.random(classes.shape[0]) < label_noise
        shift = rng.integers(1, num_classes, size=int(noisy.sum()))
        labels = classes.copy()
        labels[noisy] = (classes[noisy] + shift) % num_classes
    if not labelled_only:
        return labels
    y = np.full(classes.shape[0], -1, dtype=np.int64)
    for part in splits:
        y[part] = labels[part]
    return y


def cache_dir(root: str | os.PathLike, name: str, scale: float, seed: int) -> Path:
    """The folder under ``root`` where :func:`generate` keeps preset ``name`` at ``scale`` and ``seed``.

    The scale is written short (``0.01``) when that reads back as the same number, else in
    full, so that two scales never share a folder (``:g`` alone gave 1/3 and 0.333333 one).
    """
    short = f"{scale:g}"
    tag = short if float(short) == scale else repr(float(scale))
    return Path(root) / f"{name}_scale{tag}_seed{seed}"


def _check_room(name: str, scale: float, preset: Preset, root) -> None:
    """Refuse, before generating, a preset whose arrays alone exceed the machine's memory (or,
    with ``root``, the free disk there): the bytes of the CSR, labels and (in memory) features,
    a lower bound of the peak. Cost: one ``statvfs``."""
    stored = preset.num_edges * (1 if preset.directed else 2)
    index_bytes = 4 if preset.num_nodes < 2**31 else 8
    graph = stored * index_bytes + 16 * (preset.num_nodes + 1)
    features = preset.num_nodes * preset.num_features * torch.empty(0, dtype=preset.dtype).element_size()
    size = f"{name} at scale {scale:g} has {preset.num_nodes:,} nodes and {stored:,} stored edges"
    memory = physical_memory()
    need = graph + (features if root is None else 0)
    if memory is not None and need > memory:
        raise ValueError(f"{size}: it needs at least {need:,} bytes ({need / 2**30:.1f} GiB) of memory and this "
                         f"machine has {memory:,} ({memory / 2**30:.1f} GiB); use a smaller --scale")
    if root is not None:
        folder = Path(root)
        while not folder.exists():
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if graph + features > free:
            raise ValueError(f"{size}: it needs at least {graph + features:,} bytes ({(graph + features) / 2**30:.1f} "
                             f"GiB) of disk under {root} and {folder} has {free:,} free; use a smaller --scale")


def generate(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    scale: float = 1.0,
    seed: int = 0,
    quiet: bool = True,
) -> NodeDataset:
    """Generate (or reopen) the synthetic preset ``name`` at ``scale`` with ``seed``.

    With ``root``, the dataset is written once to ``root/<name>_scale<S>_seed<N>/`` (graph,
    features as ``.npy``, written straight into a memory map and renamed into place whole)
    and every later call opens it with memory maps in milliseconds. Without ``root`` it is
    generated in memory.

    Cost at scale 1: synthetic-products (2.4 M nodes, 124 M stored edges) took 72-79 s on 2
    busy cores (benchmarks/README.md); synthetic-papers100m needs, from its array sizes, about
    16 GB of memory at peak and 37 GB of disk under ``root`` (28 GB of it float16 ``x``).

    Raises:
        ValueError: an unknown preset or a non-positive scale.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name].at(scale)
    if root is not None:
        target = cache_dir(root, name, scale, seed)
        meta = read_meta(target)
        if meta is not None and meta.get("generator") == GENERATOR_VERSION:
            log.info("opening cached %s", target)
            return open_dataset(target)
    if root is not None:
        check_output(target, FORMAT, directory=True)  # before the work, not when the folder is swapped in
    _check_room(name, scale, preset, root)
    with tqdm(total=3, desc=f"{name}: graph", disable=quiet, leave=False) as bar:
        spec = GraphSpec(
            preset.num_nodes, preset.num_edges,
            _class_sizes(preset.num_nodes, preset.num_classes, preset.class_skew, seed),
            preset.exponent, preset.max_degree, preset.homophily, preset.partner_share, preset.directed,
        )
        generated = community_graph(spec, seed, on_stage=bar.set_postfix_str)
        bar.update()
        bar.set_description(f"{name}: split")
        splits = split_ids(preset.num_nodes, preset.split, seed)
        y = class_labels(generated.classes, preset.num_classes, preset.label_noise, preset.labelled_only, splits, seed)
        bar.update()
        bar.set_description(f"{name}: features")
        shape = (preset.num_nodes, preset.num_features)
        if root is None:
            x = torch.empty(shape, dtype=preset.dtype)
            fill_class_features(x, generated.classes, preset.num_classes, preset.centroid_scale, preset.flip, seed,
                                quiet)
            bar.update()
            return NodeDataset(name, generated.graph, x, torch.from_numpy(y),
                               *(torch.from_numpy(s) for s in splits), num_classes=preset.num_classes)
        with atomic_dir(target, FORMAT) as tmp:
            generated.graph.save(tmp / "graph")
            np_dtype = torch.empty(0, dtype=preset.dtype).numpy().dtype
            x = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=np_dtype, shape=shape)
            fill_class_features(torch.from_numpy(x), generated.classes, preset.num_classes, preset.centroid_scale,
                                preset.flip, seed, quiet)
            x.flush()
            del x
            np.save(tmp / "y.npy", y)
            for part, split in zip(("train_idx", "val_idx", "test_idx"), splits, strict=True):
                np.save(tmp / f"{part}.npy", split)
            write_meta(tmp, name, preset.num_classes, False,
                       {"preset": name, "scale": scale, "seed": seed, "num_edges": preset.num_edges,
                        "generator": GENERATOR_VERSION})
            bar.update()
    return open_dataset(target, checksums=False)  # its checksums were just computed from these bytes
