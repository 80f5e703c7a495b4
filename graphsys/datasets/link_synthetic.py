"""A synthetic link-prediction dataset shaped like ogbl-citation2, at any scale.

``synthetic-citation2`` has ogbl-citation2's counts (2,927,963 papers, 30,561,187 directed
citations, 128-d features; 86,596 validation and 86,596 test source papers, each with one
held-out citation and 1,000 negative targets, scored by MRR). Structure is planted as in the
node presets (:mod:`graphsys.datasets.synthetic`): papers fall into communities, a citation
stays inside its community with probability ``homophily`` (else mostly to a partner
community), and cited papers are drawn in proportion to power-law weights, so popular papers
are cited again; features are the community centroid plus noise, and a ``flip`` share of
papers carries another community's centroid. Negatives are uniform over papers, so features
alone (which community, and only up to the flipped papers) rank the true target well above
chance, and a GNN, which also reads the citations (a paper's neighbours name its community
even when its features lie, and how often a paper is cited), ranks it clearly higher.

Example:
    >>> from graphsys.datasets import load
    >>> ds = load("synthetic-citation2", scale=0.001)
    >>> ds.metric, ds.num_features, tuple(ds.test.target_node_neg.shape)
    ('mrr', 128, (87, 1000))
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from graphsys.datasets import link_cache
from graphsys.datasets._rng import root_key
from graphsys.datasets.base import LinkDataset, LinkSplit, physical_memory
from graphsys.datasets.generator import GraphSpec, community_graph
from graphsys.datasets.splits import draw_negatives, remove_edges
from graphsys.datasets.synthetic import _class_sizes, cache_dir, fill_class_features
from graphsys.io import atomic_dir, check_output

log = logging.getLogger(__name__)

#: Bumped whenever the generator's output changes, so caches of an older generator are rebuilt.
GENERATOR_VERSION = 1
# Stage keys (the homogeneous generator's 1-4 and 11-14 serve the graph and the features).
_HELD_OUT, _NEGATIVES = 31, 32


@dataclass(frozen=True)
class LinkPreset:
    """A synthetic link dataset at scale 1 (``scale`` multiplies nodes, edges and source counts).

    Attributes:
        name: the name :func:`graphsys.datasets.load` knows.
        num_nodes: node count.
        num_edges: directed edges, held-out ones included (the training graph has
            ``num_edges - val_sources - test_sources``).
        num_features: feature width.
        num_communities: communities (the classes of the node presets, never exposed as labels).
        val_sources, test_sources: source nodes of each split, one held-out edge each.
        num_negatives: negative targets per source (ogbl-citation2: 1,000).
        exponent: power-law exponent of the degrees.
        max_degree: about the largest expected degree at scale 1 (scaled by ``sqrt(scale)``).
        homophily, partner_share, class_skew, centroid_scale, flip: as the node presets'
            (:class:`graphsys.datasets.synthetic.Preset`).
    """

    name: str
    num_nodes: int
    num_edges: int
    num_features: int
    num_communities: int
    val_sources: int
    test_sources: int
    num_negatives: int = 1000
    exponent: float = 2.5
    max_degree: float = 10_000.0
    homophily: float = 0.6
    partner_share: float = 0.5
    class_skew: float = 1.0
    centroid_scale: float = 0.35
    flip: float = 0.25
    dtype: torch.dtype = torch.float32

    def at(self, scale: float) -> LinkPreset:
        """This preset with nodes, edges and source counts multiplied by ``scale``."""
        if isinstance(scale, bool) or not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        if scale == 1:
            return self
        n = max(int(round(self.num_nodes * scale)), 2 * self.num_communities, self.num_negatives + 2)
        val, test = (max(1, int(round(s * scale))) for s in (self.val_sources, self.test_sources))
        edges = max(int(round(self.num_edges * scale)), 4 * (val + test))
        return replace(self, num_nodes=n, num_edges=edges, val_sources=val, test_sources=test,
                       max_degree=self.max_degree * scale**0.5)


PRESETS: dict[str, LinkPreset] = {
    p.name: p
    for p in (
        # ogbl-citation2: 2,927,963 papers, 30,561,187 citations, 128-d features, 86,596 val and
        # 86,596 test source papers with 1,000 negatives each.
        # 512 communities and homophily 0.8: a features-only ranking (community posteriors from the
        # true centroids) reached test MRR 0.14 at scale 0.02, with the in-degree 0.27; neighbour-
        # averaged features with the in-degree (what a GNN can learn) 0.52.
        LinkPreset("synthetic-citation2", 2_927_963, 30_561_187, 128, 512, 86_596, 86_596, homophily=0.8),
    )
}


def _check_room(preset: LinkPreset, scale: float, root) -> None:
    """Refuse, before generating, a preset whose arrays alone exceed the machine's memory (or, with
    ``root``, the free disk there): the CSR twice (the graph and its transpose), the training edge
    list, the negatives and (in memory) the features: a lower bound of the peak. Cost: one ``statvfs``."""
    index_bytes = 4 if preset.num_nodes < 2**31 else 8
    graph = 2 * (preset.num_edges * index_bytes + 8 * (preset.num_nodes + 1))
    edges = 16 * preset.num_edges
    negatives = 8 * preset.num_negatives * (preset.val_sources + preset.test_sources)
    features = preset.num_nodes * preset.num_features * torch.empty(0, dtype=preset.dtype).element_size()
    size = (f"{preset.name} at scale {scale:g} has {preset.num_nodes:,} nodes, {preset.num_edges:,} edges and "
            f"{preset.val_sources + preset.test_sources:,} x {preset.num_negatives:,} negatives")
    need = graph + (edges + negatives + features if root is None else 0)
    memory = physical_memory()
    if memory is not None and need > memory:
        raise ValueError(f"{size}: it needs at least {need:,} bytes ({need / 2**30:.1f} GiB) of memory and this "
                         f"machine has {memory:,} ({memory / 2**30:.1f} GiB); use a smaller --scale")
    if root is not None:
        disk = graph // 2 + edges + negatives + features
        folder = Path(root)
        while not folder.exists():
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if disk > free:
            raise ValueError(f"{size}: it needs at least {disk:,} bytes ({disk / 2**30:.1f} GiB) of disk under "
                             f"{root} and {folder} has {free:,} free; use a smaller --scale")


def hold_out(graph, counts: tuple[int, ...], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per entry of ``counts``, that many distinct source nodes (disjoint across entries, sorted)
    with one of their out-edges each: ``(sources, targets)``. Sources are drawn uniformly among
    the nodes with at least two out-edges, so each keeps one in the training graph; the edge
    uniformly among the source's. Cost: one transpose of the CSR (serial, O(E)) and O(n) numpy.

    Raises:
        ValueError: fewer eligible sources than ``sum(counts)``.
    """
    from graphsys.datasets import _kernels as K

    indptr, indices = graph.indptr.numpy(), graph.indices.numpy()
    out_indptr, out_indices = K.transpose(indptr, indices, graph.num_nodes)  # row u: the targets u cites
    eligible = np.flatnonzero(np.diff(out_indptr) >= 2)
    total = sum(counts)
    if eligible.shape[0] < total:
        raise ValueError(f"only {eligible.shape[0]} nodes have two or more out-edges, {total} sources asked for; "
                         "use a larger scale")
    rng = np.random.default_rng(int(root_key(seed, _HELD_OUT)))
    chosen = rng.choice(eligible, size=total, replace=False)
    picks = []
    for part in np.split(chosen, np.cumsum(counts)[:-1]):
        sources = np.sort(part).astype(np.int64)
        degree = out_indptr[sources + 1] - out_indptr[sources]
        offset = rng.integers(0, degree)
        picks.append((sources, out_indices[out_indptr[sources] + offset].astype(np.int64)))
    return picks


def _edge_list(graph, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` ``[2, E]`` (in memory or a memory map) with the graph's edges, row 0 sources.
    Cost: two O(E) passes."""
    indptr = graph.indptr.numpy()
    out[0] = graph.indices.numpy()
    out[1] = np.repeat(np.arange(graph.num_nodes, dtype=np.int64), np.diff(indptr))
    return out


def generate_link(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    scale: float = 1.0,
    seed: int = 0,
    quiet: bool = True,
) -> LinkDataset:
    """Generate (or reopen) the synthetic link preset ``name`` at ``scale`` with ``seed``.

    With ``root``, the dataset is written once to ``root/<name>_scale<S>_seed<N>/`` (graph,
    features, training edges and negatives written straight into memory-mapped ``.npy`` files,
    the folder renamed into place whole with its manifest) and every later call reopens it with
    memory maps after checking it against the manifest. Without ``root`` it is generated in memory.
    The same seed gives the same bytes on any thread count (counter-based kernels).

    The graph is directed (``undirected=False``, as ogbl-citation2): row ``v`` of the CSR lists
    the papers citing ``v``; symmetrize it for message passing both ways. ``train.edge`` lists
    every training edge (the graph's edges); val/test hold one edge per source with
    ``num_negatives`` negative targets, uniform over papers, never the source, never a paper the
    source cites.

    Cost: parallel numba kernels for the graph, features and negatives; one serial transpose.
    Scale 1 took 45 s on 2 busy cores (peak resident memory 4.2 GB) and writes 3.5 GB under
    ``root`` (1.5 GB features, 0.5 GB training edges, 1.4 GB negatives); reopening it takes 5 s,
    most of it the manifest's checksums.

    Raises:
        ValueError: an unknown preset, a non-positive scale, or a preset past the machine's
            memory (or the free disk under ``root``).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic link preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name].at(scale)
    if root is not None:
        target = cache_dir(root, name, scale, seed)
        meta = link_cache.read_meta(target)
        if meta is not None and meta.get("generator") == GENERATOR_VERSION:
            log.info("opening cached %s", target)
            return link_cache.open_link_dataset(target)
        check_output(target, link_cache.FORMAT, directory=True)  # before the work, not at the swap
    _check_room(preset, scale, root)
    n, k = preset.num_nodes, preset.num_negatives
    with tqdm(total=4, desc=f"{name}: graph", disable=quiet, leave=False) as bar:
        sizes = _class_sizes(n, preset.num_communities, preset.class_skew, seed)
        spec = GraphSpec(n, preset.num_edges, sizes, preset.exponent, preset.max_degree, preset.homophily,
                         preset.partner_share, directed=True)
        generated = community_graph(spec, seed, on_stage=bar.set_postfix_str)
        bar.update()
        bar.set_description(f"{name}: split")
        (val_src, val_dst), (test_src, test_dst) = hold_out(generated.graph, (preset.val_sources,
                                                                               preset.test_sources), seed)
        graph = remove_edges(generated.graph, np.concatenate([val_src, test_src]),
                             np.concatenate([val_dst, test_dst]))
        bar.update()
        with (atomic_dir(target, link_cache.FORMAT) if root is not None else contextlib.nullcontext()) as tmp:

            def array(file: str, shape: tuple[int, ...], dtype) -> np.ndarray:
                if tmp is None:
                    return np.empty(shape, dtype=dtype)
                return np.lib.format.open_memmap(tmp / file, mode="w+", dtype=dtype, shape=shape)

            bar.set_description(f"{name}: negatives")
            negatives = {}
            for offset, (part, src) in enumerate((("val", val_src), ("test", test_src))):
                out = array(f"{part}_target_node_neg.npy", (src.shape[0], k), np.int64)
                negatives[part] = draw_negatives(generated.graph, src, k, root_key(seed, _NEGATIVES + offset),
                                                 out=out)
            classes = generated.classes
            del generated
            bar.update()
            bar.set_description(f"{name}: features")
            x = array("x.npy", (n, preset.num_features), torch.empty(0, dtype=preset.dtype).numpy().dtype)
            fill_class_features(torch.from_numpy(x), classes, preset.num_communities, preset.centroid_scale,
                                preset.flip, seed, quiet)
            train_edge = _edge_list(graph, array("train_edge.npy", (2, graph.num_edges), np.int64))
            bar.update()
            if tmp is None:
                return _dataset(name, graph, x, train_edge, (val_src, val_dst), (test_src, test_dst), negatives)
            for mapped in (x, train_edge, *negatives.values()):
                if isinstance(mapped, np.memmap):
                    mapped.flush()
            del x, train_edge, negatives
            graph.save(tmp / "graph")
            for part, (src, dst) in (("val", (val_src, val_dst)), ("test", (test_src, test_dst))):
                np.save(tmp / f"{part}_edge.npy", np.stack([src, dst]))
            link_cache.write_meta(tmp, name, "mrr", False,
                                  {"preset": name, "scale": scale, "seed": seed, "num_edges": preset.num_edges,
                                   "num_communities": preset.num_communities, "generator": GENERATOR_VERSION})
    return link_cache.open_link_dataset(target, checksums=False)  # its checksums were just computed


def _dataset(name, graph, x, train_edge, val, test, negatives) -> LinkDataset:
    def split(pair, part):
        return LinkSplit(torch.from_numpy(np.stack(pair)), target_node_neg=torch.from_numpy(negatives[part]))

    return LinkDataset(name, graph, torch.from_numpy(x), LinkSplit(torch.from_numpy(train_edge)),
                       split(val, "val"), split(test, "test"), metric="mrr", undirected=False)
