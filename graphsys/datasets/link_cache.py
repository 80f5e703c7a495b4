"""A :class:`LinkDataset` on disk: ``graph/`` (``Graph.save``), ``x.npy``, one ``<part>_<field>.npy``
per split array (``train_edge.npy``, ``test_target_node_neg.npy``, ...) and ``meta.json``,
committed as one folder with a manifest; reopened with memory maps.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphsys.datasets import cache
from graphsys.datasets.base import LinkDataset, LinkSplit
from graphsys.graph import Graph
from graphsys.io import CorruptFileError, atomic_dir, read_npy

FORMAT = "graphsys.LinkDataset"
VERSION = 1
PARTS = ("train", "val", "test")
FIELDS = ("edge", "edge_neg", "target_node_neg", "weight", "year")


def write_meta(folder: Path, name: str, metric: str, undirected: bool, extra: dict) -> None:
    """Write ``meta.json`` into ``folder`` (an :func:`~graphsys.io.atomic_dir` being filled)."""
    meta = {"format": FORMAT, "version": VERSION, "name": name, "metric": metric, "undirected": undirected, **extra}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def read_meta(path: str | os.PathLike) -> dict | None:
    """The ``meta.json`` of a saved link dataset, or None (:func:`graphsys.datasets.cache.read_meta`)."""
    return cache.read_meta(path, FORMAT)


def write_splits(folder: Path, dataset: LinkDataset) -> None:
    """Write every array of the three splits into ``folder`` as ``<part>_<field>.npy``."""
    for part in PARTS:
        split = getattr(dataset, part)
        for field in FIELDS:
            value = getattr(split, field)
            if value is not None:
                np.save(folder / f"{part}_{field}.npy", value.numpy())


def save_link_dataset(dataset: LinkDataset, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write ``dataset`` under ``path`` (the whole folder with its manifest, or nothing).

    ``path`` must be new, empty or a link dataset graphsys saved there before; anything else
    is refused (:class:`~graphsys.io.OutputError`). Cost: one copy of every array to disk and
    one read of it back (the checksums).
    """
    with atomic_dir(path, FORMAT) as tmp:
        dataset.graph.save(tmp / "graph")
        if dataset.x is not None:
            np.save(tmp / "x.npy", dataset.x.numpy())
        write_splits(tmp, dataset)
        write_meta(tmp, dataset.name, dataset.metric, dataset.undirected, extra or {})


def open_link_dataset(path: str | os.PathLike, *, checksums: bool = True) -> LinkDataset:
    """Open a link dataset written by :func:`save_link_dataset` (or the synthetic generator)
    with memory maps (copy-on-write), after checking the folder against its manifest (sizes
    and, with ``checksums``, crc32: one read of the whole dataset).

    Raises:
        FileNotFoundError: nothing at ``path``.
        CorruptFileError: no manifest, a file missing or altered, or a bad ``meta.json``.
    """
    root, manifest, meta = cache.open_checked(path, FORMAT, ("name", "metric", "undirected"), checksums=checksums)

    def read(name: str) -> torch.Tensor | None:
        if name not in manifest["files"]:
            return None
        return torch.from_numpy(read_npy(root / name, mmap_mode="c"))

    splits = {}
    for part in PARTS:
        arrays: dict[str, Any] = {field: read(f"{part}_{field}.npy") for field in FIELDS}
        if arrays["edge"] is None:
            raise CorruptFileError(f"{root} lacks {part}_edge.npy")
        splits[part] = LinkSplit(**arrays)
    return LinkDataset(name=meta["name"], graph=Graph.load(root / "graph", checksums=False), x=read("x.npy"),
                       metric=meta["metric"], undirected=bool(meta["undirected"]), path=root, **splits)
