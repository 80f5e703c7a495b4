"""``load(name)``: one entry point for every dataset, dispatching on the name."""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Callable

from graphsys.datasets.base import HeteroNodeDataset, NodeDataset

Loader = Callable[..., "NodeDataset | HeteroNodeDataset"]


def _planetoid(name: str, root, scale: float, seed: int, quiet: bool, **options) -> NodeDataset:
    from graphsys.datasets.planetoid import load_planetoid

    return load_planetoid(name, root, **options)


def _blogcatalog(name: str, root, scale: float, seed: int, quiet: bool, **options) -> NodeDataset:
    from graphsys.datasets.blogcatalog import load_blogcatalog

    return load_blogcatalog(root, seed=seed, **options)


def _edge_list(name: str, root, scale: float, seed: int, quiet: bool, *, path=None, **options) -> NodeDataset:
    from graphsys.datasets.edgelist import load_edge_list

    if path is None:
        raise ValueError("load('edgelist') needs path= the edge-list file")
    return load_edge_list(path, **options)


def _synthetic(name: str, root, scale: float, seed: int, quiet: bool, **options) -> NodeDataset:
    from graphsys.datasets.synthetic import generate

    if options:
        raise TypeError(f"synthetic presets take no options besides root, scale, seed and quiet; got {sorted(options)}")
    return generate(name, root, scale=scale, seed=seed, quiet=quiet)


def _hetero_synthetic(name: str, root, scale: float, seed: int, quiet: bool, **options) -> HeteroNodeDataset:
    from graphsys.datasets.hetero_synthetic import generate_hetero

    if options:
        raise TypeError(f"synthetic presets take no options besides root, scale, seed and quiet; got {sorted(options)}")
    return generate_hetero(name, root, scale=scale, seed=seed, quiet=quiet)


def _ogb(name: str, root, scale: float, seed: int, quiet: bool, **options) -> NodeDataset:
    from graphsys.datasets.ogb import load_ogb

    return load_ogb(name, root, **options)


_LOADERS: dict[str, Loader] = {
    "cora": _planetoid,
    "citeseer": _planetoid,
    "blogcatalog": _blogcatalog,
    "edgelist": _edge_list,
    "synthetic-arxiv": _synthetic,
    "synthetic-products": _synthetic,
    "synthetic-papers100m": _synthetic,
    "synthetic-mag": _hetero_synthetic,
    "synthetic-mag240m": _hetero_synthetic,
    "ogbn-arxiv": _ogb,
    "ogbn-products": _ogb,
    "ogbn-proteins": _ogb,
    "ogbn-papers100m": _ogb,
    "ogbn-mag": _ogb,
}


#: The names whose size ``scale`` sets; every other dataset has a fixed size.
SYNTHETIC_NAMES = tuple(n for n, loader in _LOADERS.items() if loader in (_synthetic, _hetero_synthetic))


def is_synthetic(name: str | os.PathLike) -> bool:
    """Whether :func:`load` generates ``name`` (so ``scale`` resizes it)."""
    return str(name).lower() in SYNTHETIC_NAMES


def _looks_like_path(name: str) -> bool:
    from graphsys.datasets.edgelist import EDGE_LIST_SUFFIXES

    # An existing folder counts too, so that it is refused as "a directory" rather than unknown.
    return Path(name).exists() or os.sep in name or name.lower().endswith(EDGE_LIST_SUFFIXES)


def names() -> list[str]:
    """Every name :func:`load` knows (besides edge-list paths and custom ``ogbn-*`` datasets on disk)."""
    return [n if n != "ogbn-papers100m" else "ogbn-papers100M" for n in _LOADERS]


def load(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    scale: float = 1.0,
    seed: int = 0,
    quiet: bool = True,
    **options,
) -> NodeDataset | HeteroNodeDataset:
    """Load a dataset by name: a :class:`NodeDataset`, or a :class:`HeteroNodeDataset` for the
    heterogeneous ones (``ogbn-mag``, ``synthetic-mag``, ``synthetic-mag240m``).

    Args:
        name: one of :func:`names` (case-insensitive), an ``ogbn-*`` dataset written by
            :func:`~graphsys.datasets.write_ogb_node_dataset` under ``root``, or the path of
            an edge-list file (``src dst [weight]`` per line; as ``load("edgelist", path=...)``).
        root: the folder holding the dataset's files (default ``$GRAPHSYS_DATA`` or
            ``~/.cache/graphsys``); for synthetic presets, where generated data is cached
            (``None``: generate in memory, cache nothing).
        scale: synthetic presets only: multiplies the node and edge counts.
        seed: seed of every random choice (synthetic graphs, splits of unsplit datasets).
        quiet: no progress bars.
        **options: passed to the dataset's loader (see each loader's docstring).

    Raises:
        ValueError: an unknown name (the message lists the known ones), or a ``scale`` that
            is not a finite positive number or is given (not 1) for a dataset it cannot resize.

    Example:
        >>> from graphsys.datasets import load
        >>> ds = load("cora", root="data/planetoid")  # doctest: +SKIP
        >>> ds.graph.num_edges, ds.train_idx.numel()  # doctest: +SKIP
        (10556, 140)
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = str(name).lower()
    if isinstance(scale, numbers.Real) and not math.isfinite(scale):
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    if not (isinstance(scale, numbers.Real) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    loader = _LOADERS.get(key)
    if loader is None and not key.startswith("ogbn-") and not _looks_like_path(str(name)):
        raise ValueError(f"unknown dataset {str(name)!r}; known: {', '.join(names())}")
    if scale != 1 and loader not in (_synthetic, _hetero_synthetic):
        raise ValueError(f"scale = {scale!r} applies only to the synthetic presets ({', '.join(SYNTHETIC_NAMES)}), "
                         f"not to {str(name)!r}, whose size is fixed; leave scale at 1")
    if loader is None and key.startswith("ogbn-"):
        return _ogb(str(name), root, scale, seed, quiet, **options)
    if loader is None:
        return _edge_list("edgelist", root, scale, seed, quiet, path=str(name), **options)
    return loader(str(name) if key.startswith("ogbn-") else key, root, scale, seed, quiet, **options)
