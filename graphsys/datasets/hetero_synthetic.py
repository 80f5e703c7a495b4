"""Synthetic heterogeneous node classification shaped like ogbn-mag and OGB-LSC MAG240M, at any scale.

Every paper has a class (its label, up to ``label_noise``); every other node type that has at
least as many nodes as there are classes is split into class blocks of the same shares. Each
relation is drawn from one side (the *owner*: each of its nodes draws its neighbours on the
other side, in proportion to their power-law weights), from the owner's class with
probability ``homophily``, else from its partner class (``partner_share``), else anywhere:
an author writes papers of mostly one or two classes, a paper's fields of study mostly belong
to its class, citations stay mostly inside a class. Paper features are the class centroid,
weak against unit noise, and a ``flip`` share carries another class's. So a model of paper
features alone stays low, one that reads authors and fields does clearly better, and label
noise keeps both below 100 %.

Example:
    >>> from graphsys.datasets import load
    >>> ds = load("synthetic-mag", scale=0.002)
    >>> ds.graph.node_types, ds.num_classes
    (['paper', 'author', 'institution', 'field_of_study'], 349)
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from graphsys.datasets._rng import root_key
from graphsys.datasets.base import HeteroNodeDataset, physical_memory
from graphsys.datasets.generator import (
    _PERMUTATION,
    GraphSpec,
    RankSpace,
    bipartite_rows,
    community_graph,
    partner_classes,
    rank_space,
)
from graphsys.datasets.hetero_cache import (
    DERIVED,
    FORMAT,
    feature_file,
    open_hetero_dataset,
    read_meta,
    write_labels,
    write_meta,
)
from graphsys.datasets.synthetic import _class_sizes, cache_dir, class_labels, fill_class_features, split_ids
from graphsys.hetero_graph import EdgeType, HeteroGraph, transpose_csr
from graphsys.io import atomic_dir, check_output

log = logging.getLogger(__name__)

#: Bumped whenever the generator's output changes, so caches of an older generator are rebuilt.
GENERATOR_VERSION = 1
# Stage keys (the homogeneous generator's 1-4 and 11-14 serve the citations and the papers).
_TYPE_SPACE, _OWNER_SPACE, _PARTNER, _ROWS = 100, 200, 300, 400


@dataclass(frozen=True)
class Relation:
    """One edge type of a preset at scale 1.

    Attributes:
        edge_type: ``(src_type, relation, dst_type)``.
        num_edges: edge count at scale 1 (no repeated edges).
        owner: ``"src"`` or ``"dst"``: whose nodes draw their neighbours. A relation from a type
            to itself must be the target's (citations: the homogeneous generator draws it).
        homophily: share of draws from the owner's class.
        partner_share: share of the other draws from the owner's partner class.
        owner_exponent: power-law exponent of the owner's row lengths (larger: more even).
        owner_max_degree: about the longest expected row at scale 1 (scaled by ``sqrt(scale)``).
    """

    edge_type: EdgeType
    num_edges: int
    owner: str = "dst"
    homophily: float = 0.5
    partner_share: float = 0.5
    owner_exponent: float = 3.0
    owner_max_degree: float = 100.0


@dataclass(frozen=True)
class HeteroPreset:
    """A synthetic heterogeneous dataset at scale 1 (``scale`` multiplies nodes, edges and split sizes).

    Attributes:
        name: the name :func:`graphsys.datasets.load` knows.
        num_nodes: node count per node type, in the graph's order (the target first).
        relations: the edge types, in the graph's order.
        target: the node type with features, labels and the split.
        num_features, num_classes, dtype: the target's feature width, class count, feature dtype.
        split: train / val / test sizes; with ``labelled_only`` every other target node gets
            ``y = -1``, else the test set takes every target node left over.
        max_degree: about the largest expected degree per node type as a drawn neighbour, at
            scale 1 (scaled by ``sqrt(scale)``).
        exponent: power-law exponent of the drawn sides' weights.
        class_skew, centroid_scale, flip, label_noise: as the homogeneous presets'.
    """

    name: str
    num_nodes: dict[str, int]
    relations: tuple[Relation, ...]
    num_features: int
    num_classes: int
    split: tuple[int, int, int]
    max_degree: dict[str, float]
    target: str = "paper"
    labelled_only: bool = False
    dtype: torch.dtype = torch.float32
    exponent: float = 2.5
    class_skew: float = 1.0
    centroid_scale: float = 0.25
    flip: float = 0.2
    label_noise: float = 0.1
    scale: float = field(default=1.0, compare=False)

    def at(self, scale: float) -> HeteroPreset:
        """This preset with nodes, edges and split sizes multiplied by ``scale``."""
        if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        if scale == 1:
            return self
        counts = {t: max(int(round(n * scale)), 2 * self.num_classes if t == self.target else 2)
                  for t, n in self.num_nodes.items()}
        relations = tuple(replace(r, num_edges=max(1, int(round(r.num_edges * scale))),
                                  owner_max_degree=max(2.0, r.owner_max_degree * scale**0.5))
                          for r in self.relations)
        train, val, test = (max(1, int(round(s * scale))) for s in self.split)
        if not self.labelled_only:
            test = counts[self.target] - train - val
        return replace(self, num_nodes=counts, relations=relations, split=(train, val, test),
                       max_degree={t: d * scale**0.5 for t, d in self.max_degree.items()}, scale=scale)


PRESETS: dict[str, HeteroPreset] = {
    p.name: p
    for p in (
        # ogbn-mag: papers with 128-d features and 349 venues as labels, all papers labelled.
        HeteroPreset(
            "synthetic-mag",
            {"paper": 736_389, "author": 1_134_649, "institution": 8_740, "field_of_study": 59_965},
            (
                Relation(("author", "writes", "paper"), 7_145_660, owner="dst", homophily=0.55,
                         partner_share=0.5, owner_max_degree=60.0),
                Relation(("paper", "cites", "paper"), 5_416_271, homophily=0.45, partner_share=0.5),
                Relation(("paper", "has_topic", "field_of_study"), 7_505_078, owner="src", homophily=0.45,
                         partner_share=0.3, owner_exponent=4.0, owner_max_degree=40.0),
                Relation(("author", "affiliated_with", "institution"), 1_043_998, owner="src", homophily=0.5,
                         owner_exponent=5.0, owner_max_degree=8.0),
            ),
            num_features=128, num_classes=349, split=(629_571, 64_879, 41_939),
            max_degree={"paper": 5_000.0, "author": 1_000.0, "institution": 20_000.0, "field_of_study": 50_000.0},
        ),
        # MAG240M: 768-d float16 features on papers, 153 arXiv subjects, 1.4 M labelled papers.
        HeteroPreset(
            "synthetic-mag240m",
            {"paper": 121_751_666, "author": 122_383_112, "institution": 25_721},
            (
                Relation(("paper", "cites", "paper"), 1_297_748_926, homophily=0.45, partner_share=0.5),
                Relation(("author", "writes", "paper"), 386_022_720, owner="dst", homophily=0.55,
                         partner_share=0.5, owner_max_degree=100.0),
                Relation(("author", "affiliated_with", "institution"), 44_592_586, owner="src", homophily=0.5,
                         owner_exponent=5.0, owner_max_degree=8.0),
            ),
            num_features=768, num_classes=153, split=(1_112_392, 138_949, 146_818), labelled_only=True,
            dtype=torch.float16, centroid_scale=0.1,
            max_degree={"paper": 30_000.0, "author": 3_000.0, "institution": 200_000.0},
        ),
    )
}


def _index_bytes(count: int) -> int:
    return 4 if count < 2**31 else 8


def _check_room(preset: HeteroPreset, root) -> None:
    """Refuse, before generating, a preset whose arrays alone exceed the machine's memory (or,
    with ``root``, the free disk there): the CSRs, the per-node arrays of the generator (about
    40 bytes a node), the scratch of the largest relation drawn from its source side (its own
    CSR, transposed after) and, in memory, the features: a lower bound of the peak."""
    counts = preset.num_nodes
    graph = scratch = 0
    for rel in preset.relations:
        src, _, dst = rel.edge_type
        csr = rel.num_edges * _index_bytes(counts[src]) + 8 * (counts[dst] + 1)
        graph += csr
        if src != dst and rel.owner == "src":
            scratch = max(scratch, rel.num_edges * _index_bytes(counts[dst]) + 8 * (counts[src] + 1))
    features = counts[preset.target] * preset.num_features * torch.empty(0, dtype=preset.dtype).element_size()
    per_node = 40 * sum(counts.values())
    size = (f"{preset.name} at scale {preset.scale:g} has {sum(counts.values()):,} nodes and "
            f"{sum(r.num_edges for r in preset.relations):,} edges")
    need = graph + scratch + per_node + (features if root is None else 0)
    memory = physical_memory()
    if memory is not None and need > memory:
        raise ValueError(f"{size}: it needs at least {need:,} bytes ({need / 2**30:.1f} GiB) of memory and this "
                         f"machine has {memory:,} ({memory / 2**30:.1f} GiB); use a smaller --scale"
                         + ("" if root is not None else ", or give a root to write the features to disk"))
    if root is not None:
        folder = Path(root)
        while not folder.exists():
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if graph + features > free:
            raise ValueError(f"{size}: it needs at least {graph + features:,} bytes ({(graph + features) / 2**30:.1f} "
                             f"GiB) of disk under {root} and {folder} has {free:,} free; use a smaller --scale")


def _type_class_sizes(paper_sizes: tuple[int, ...], count: int) -> tuple[int, ...]:
    """Class blocks of a non-target type in the papers' class shares (each >= 1, largest
    remainder rounding); one block (no class structure) when the type has fewer nodes than classes."""
    num_classes = len(paper_sizes)
    if count < num_classes:
        return (count,)
    share = np.asarray(paper_sizes, dtype=np.float64)
    raw = share / share.sum() * (count - num_classes)
    sizes = np.floor(raw).astype(np.int64)
    sizes[np.argsort(raw - sizes, kind="stable")[::-1][: count - num_classes - int(sizes.sum())]] += 1
    return tuple(int(s) + 1 for s in sizes)


def _draw_relation(rel: Relation, position: int, preset: HeteroPreset, spaces: dict[str, RankSpace],
                   classes: dict[str, np.ndarray], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The in-neighbour CSR of a relation between two node types, drawn from its owner's side."""
    src, _, dst = rel.edge_type
    owner, other = (dst, src) if rel.owner == "dst" else (src, dst)
    counts = preset.num_nodes
    owner_space = rank_space(counts[owner], (counts[owner],), rel.owner_exponent, rel.owner_max_degree,
                             rel.num_edges, root_key(seed, _OWNER_SPACE + position))
    structured = len(spaces[other].offsets) - 1 == preset.num_classes and owner in classes
    if structured:
        labels, homophily, partner_share = classes[owner], rel.homophily, rel.partner_share
        partner = partner_classes(preset.num_classes, int(root_key(seed, _PARTNER + position)))
    else:  # one side has no class blocks: draw anywhere, by weight
        labels, homophily, partner_share = np.zeros(counts[owner], dtype=np.int64), 0.0, 0.0
        partner = np.zeros(1, dtype=np.int64)
    indptr, indices = bipartite_rows(owner_space, spaces[other], labels, partner, rel.num_edges, homophily,
                                     partner_share, root_key(seed, _ROWS + position))
    indptr, indices = torch.from_numpy(indptr), torch.from_numpy(indices)
    if owner == dst:
        return indptr, indices
    t_indptr, t_indices, _ = transpose_csr(indptr, indices, counts[dst])
    return t_indptr, t_indices


def generate_graph(preset: HeteroPreset, seed: int, on_stage=lambda name: None) -> tuple[HeteroGraph, np.ndarray]:
    """The graph of ``preset`` and the class of every target node. Deterministic by ``seed``,
    whatever the thread count. Cost: the homogeneous generator for the target's relation to
    itself, one parallel row fill per other relation (plus a transpose for those drawn from
    their source side), all parallel numba kernels."""
    target, counts = preset.target, preset.num_nodes
    paper_sizes = _class_sizes(counts[target], preset.num_classes, preset.class_skew, seed)
    endpoints = {t: 0 for t in counts}
    for rel in preset.relations:
        endpoints[rel.edge_type[0]] += rel.num_edges
        endpoints[rel.edge_type[2]] += rel.num_edges
    # Rank spaces of the types drawn from, and of the owners whose classes steer the draws. The
    # target's uses the key of the citation generator's own, so that both give papers one class.
    needed = {target}
    for rel in preset.relations:
        src, _, dst = rel.edge_type
        if src != dst:
            needed.update((src, dst))
    spaces: dict[str, RankSpace] = {}
    classes: dict[str, np.ndarray] = {}
    for position, (node_type, count) in enumerate(counts.items()):
        if node_type not in needed:
            continue
        sizes = paper_sizes if node_type == target else _type_class_sizes(paper_sizes, count)
        key = root_key(seed, _PERMUTATION) if node_type == target else root_key(seed, _TYPE_SPACE + position)
        spaces[node_type] = rank_space(count, sizes, preset.exponent, preset.max_degree[node_type],
                                       max(endpoints[node_type], 1), key)
        if len(sizes) == preset.num_classes:
            classes[node_type] = spaces[node_type].classes
    csr: dict[EdgeType, tuple[torch.Tensor, torch.Tensor]] = {}
    for position, rel in enumerate(preset.relations):
        on_stage(rel.edge_type[1])
        if rel.edge_type[0] == rel.edge_type[2]:  # the target's citations (the only type to itself)
            spec = GraphSpec(counts[target], rel.num_edges, paper_sizes, preset.exponent,
                             preset.max_degree[target], rel.homophily, rel.partner_share, directed=True)
            generated = community_graph(spec, seed)
            assert np.array_equal(generated.classes, classes[target])
            csr[rel.edge_type] = (generated.graph.indptr, generated.graph.indices)
        else:
            csr[rel.edge_type] = _draw_relation(rel, position, preset, spaces, classes, seed)
    return HeteroGraph(counts, csr, validate=False), classes[target]


def generate_hetero(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    scale: float = 1.0,
    seed: int = 0,
    quiet: bool = True,
) -> HeteroNodeDataset:
    """Generate (or reopen) the heterogeneous preset ``name`` at ``scale`` with ``seed``.

    With ``root``, the dataset is written once to ``root/<name>_scale<S>_seed<N>/`` (graph,
    features written straight into a memory-mapped ``.npy``, the folder renamed into place
    whole with its manifest) and later calls reopen it with memory maps after checking it
    against the manifest. Without ``root`` it is generated in memory.

    Cost: parallel numba kernels throughout. synthetic-mag at scale 1 (21 M edges, 0.38 GB of
    features) took 5.8 s on 2 busy cores with a peak of 1.6 GB, reopening 0.15 s;
    synthetic-mag240m at scale 0.2 holds 345 M edges (1.6 GB of CSR) and 37 GB of float16
    features, which go straight from the kernel to the memory map under ``root``.

    Raises:
        ValueError: an unknown preset, a non-positive scale, or a preset past the machine's
            memory (or free disk under ``root``).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown heterogeneous synthetic preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name].at(scale)
    if root is not None:
        target = cache_dir(root, name, scale, seed)
        meta = read_meta(target)
        if meta is not None and meta.get("generator") == GENERATOR_VERSION:
            log.info("opening cached %s", target)
            return open_hetero_dataset(target)
        check_output(target, FORMAT, directory=True)  # before the work, not when the folder is swapped in
    _check_room(preset, root)
    with tqdm(total=3, desc=f"{name}: graph", disable=quiet, leave=False) as bar:
        graph, classes = generate_graph(preset, seed, on_stage=bar.set_postfix_str)
        bar.update()
        bar.set_description(f"{name}: split")
        splits = split_ids(preset.num_nodes[preset.target], preset.split, seed)
        y = class_labels(classes, preset.num_classes, preset.label_noise, preset.labelled_only, splits, seed)
        bar.update()
        bar.set_description(f"{name}: features")
        shape = (preset.num_nodes[preset.target], preset.num_features)
        if root is None:
            x = torch.empty(shape, dtype=preset.dtype)
            fill_class_features(x, classes, preset.num_classes, preset.centroid_scale, preset.flip, seed, quiet)
            bar.update()
            return HeteroNodeDataset(name, graph, {preset.target: x}, torch.from_numpy(y),
                                     *(torch.from_numpy(s) for s in splits), num_classes=preset.num_classes,
                                     target=preset.target)
        with atomic_dir(target, FORMAT, derived=DERIVED) as tmp:
            graph.save(tmp / "graph")
            file = feature_file(graph.node_types.index(preset.target))
            np_dtype = torch.empty(0, dtype=preset.dtype).numpy().dtype
            x = np.lib.format.open_memmap(tmp / file, mode="w+", dtype=np_dtype, shape=shape)
            fill_class_features(torch.from_numpy(x), classes, preset.num_classes, preset.centroid_scale,
                                preset.flip, seed, quiet)
            x.flush()
            del x
            write_labels(tmp, y, splits)
            write_meta(tmp, name, preset.num_classes, preset.target, {preset.target: file},
                       {"preset": name, "scale": scale, "seed": seed, "generator": GENERATOR_VERSION})
            bar.update()
    return open_hetero_dataset(target, checksums=False)  # its checksums were just computed from these bytes
