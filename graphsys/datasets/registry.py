"""``load(name)``: one entry point for every dataset, dispatching on the name."""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path

from graphsys.datasets.base import HeteroNodeDataset, LinkDataset, NodeDataset

Loader = Callable[..., "NodeDataset | HeteroNodeDataset | LinkDataset"]


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


def _link_synthetic(name: str, root, scale: float, seed: int, quiet: bool, **options) -> LinkDataset:
    from graphsys.datasets.link_synthetic import generate_link

    if options:
        raise TypeError(f"synthetic presets take no options besides root, scale, seed and quiet; got {sorted(options)}")
    return generate_link(name, root, scale=scale, seed=seed, quiet=quiet)


def _ogb_link(name: str, root, scale: float, seed: int, quiet: bool, **options) -> LinkDataset:
    from graphsys.datasets.ogb_link import load_ogb_link

    return load_ogb_link(name, root, **options)


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
    "synthetic-citation2": _link_synthetic,
    "ogbn-arxiv": _ogb,
    "ogbn-products": _ogb,
    "ogbn-proteins": _ogb,
    "ogbn-papers100m": _ogb,
    "ogbn-mag": _ogb,
    "ogbl-citation2": _ogb_link,
    "ogbl-collab": _ogb_link,
    "ogbl-ppa": _ogb_link,
    "ogbl-ddi": _ogb_link,
}


#: The names whose size ``scale`` sets; every other dataset has a fixed size.
_SYNTHETIC_LOADERS = (_synthetic, _hetero_synthetic, _link_synthetic)
SYNTHETIC_NAMES = tuple(n for n, loader in _LOADERS.items() if loader in _SYNTHETIC_LOADERS)


def is_synthetic(name: str | os.PathLike) -> bool:
    """Whether :func:`load` generates ``name`` (so ``scale`` resizes it)."""
    return str(name).lower() in SYNTHETIC_NAMES


def _looks_like_path(name: str) -> bool:
    from graphsys.datasets.edgelist import EDGE_LIST_SUFFIXES

    # An existing folder counts too, so that it is refused as "a directory" rather than unknown.
    return Path(name).exists() or os.sep in name or name.lower().endswith(EDGE_LIST_SUFFIXES)


def _is_saved_dataset(name: str) -> bool:
    """Whether ``name`` is a folder a graphsys writer left (``graphsys data reorder``'s ``--out``)."""
    from graphsys.datasets.cache import read_meta

    return Path(name).is_dir() and read_meta(name) is not None


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
    reorder=None,
    **options,
) -> NodeDataset | HeteroNodeDataset:
    """Load a dataset by name: a :class:`NodeDataset`, a :class:`HeteroNodeDataset` for the
    heterogeneous ones (``ogbn-mag``, ``synthetic-mag``, ``synthetic-mag240m``), or a
    :class:`LinkDataset` for the link-prediction ones (``ogbl-*``, ``synthetic-citation2``;
    :func:`load_link` gives any other dataset a random link split).

    Args:
        name: one of :func:`names` (case-insensitive), the folder of a dataset graphsys wrote
            (``graphsys data reorder --out``), an ``ogbn-*`` dataset written by
            :func:`~graphsys.datasets.write_ogb_node_dataset` under ``root`` (an ``ogbl-*`` one by
            :func:`~graphsys.datasets.write_ogb_link_dataset`), or the path of
            an edge-list file (``src dst [weight]`` per line; as ``load("edgelist", path=...)``).
        root: the folder holding the dataset's files (default ``$GRAPHSYS_DATA`` or
            ``~/.cache/graphsys``); for synthetic presets, where generated data is cached
            (``None``: generate in memory, cache nothing).
        scale: synthetic presets only: multiplies the node and edge counts.
        seed: seed of every random choice (synthetic graphs, splits of unsplit datasets).
        quiet: no progress bars.
        reorder: renumber the nodes for locality: a method (``"hot-rcm"``, ``"hot"``, ``"rcm"``) or a
            :class:`~graphsys.datasets.reorder.ReorderConfig`; the result carries ``original_ids``.
            With ``root`` the reordered copy is written under it once and reopened after.
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
    if reorder is not None:
        from graphsys.datasets.reorder import ReorderConfig, load_reordered

        config = ReorderConfig.of(reorder)  # a bad method fails before the load
        ds = load(name, root, scale=scale, seed=seed, quiet=quiet, **options)
        source = {"name": key, "scale": scale, "seed": seed, **({"options": options} if options else {})}
        return load_reordered(ds, config, root, source, quiet=quiet)
    loader = _LOADERS.get(key)
    if loader is None and _is_saved_dataset(str(name)):
        from graphsys.datasets.cache import open_dataset

        return open_dataset(name)
    if loader is None and not key.startswith(("ogbn-", "ogbl-")) and not _looks_like_path(str(name)):
        raise ValueError(f"unknown dataset {str(name)!r}; known: {', '.join(names())}")
    if scale != 1 and loader not in _SYNTHETIC_LOADERS:
        raise ValueError(f"scale = {scale!r} applies only to the synthetic presets ({', '.join(SYNTHETIC_NAMES)}), "
                         f"not to {str(name)!r}, whose size is fixed; leave scale at 1")
    if loader is None and key.startswith("ogbn-"):
        return _ogb(str(name), root, scale, seed, quiet, **options)
    if loader is None and key.startswith("ogbl-"):
        return _ogb_link(str(name), root, scale, seed, quiet, **options)
    if loader is None:
        return _edge_list("edgelist", root, scale, seed, quiet, path=str(name), **options)
    return loader(str(name) if key.startswith(("ogbn-", "ogbl-")) else key, root, scale, seed, quiet, **options)


def load_link(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    val: float = 0.05,
    test: float = 0.1,
    scale: float = 1.0,
    seed: int = 0,
    quiet: bool = True,
    **options,
) -> LinkDataset:
    """:func:`load` for link prediction: a link dataset as it comes (its own split, ``val`` and
    ``test`` unused), any other homogeneous dataset (Cora, CiteSeer, an edge list, a node
    preset) with a seeded random edge split of ``val`` / ``test`` fractions
    (:func:`~graphsys.datasets.splits.random_link_split`, scored by AUC).

    Raises:
        ValueError: bad fractions or an empty split (checked before loading), a heterogeneous
            dataset, and whatever :func:`load` raises.
    """
    from graphsys.datasets.splits import check_link_fractions, random_link_split

    check_link_fractions(val, test)
    ds = load(name, root, scale=scale, seed=seed, quiet=quiet, **options)
    if isinstance(ds, LinkDataset):
        return ds
    if isinstance(ds, HeteroNodeDataset):
        raise ValueError(f"{name!r} is heterogeneous; random link splits take homogeneous datasets")
    return random_link_split(ds, val, test, seed)
