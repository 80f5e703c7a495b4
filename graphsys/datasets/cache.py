"""A :class:`NodeDataset` on disk: ``graph/`` (``Graph.save``), ``x.npy``, ``y.npy``, the split
``.npy`` files (``original_ids.npy`` for a renumbered one) and ``meta.json``; reopened with memory
maps, so a dataset of any size opens in milliseconds and pages in as it is read.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets.base import NodeDataset
from graphsys.graph import Graph
from graphsys.io import CorruptFileError, atomic_dir, read_json, read_npy, verify_dir

FORMAT = "graphsys.NodeDataset"
VERSION = 1
_SPLITS = ("train_idx", "val_idx", "test_idx")


def write_meta(folder: Path, name: str, num_classes: int, multilabel: bool, extra: dict) -> None:
    """Write ``meta.json`` into ``folder`` (an :func:`~graphsys.io.atomic_dir` being filled)."""
    meta = {"format": FORMAT, "version": VERSION, "name": name, "num_classes": num_classes,
            "multilabel": multilabel, **extra}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def read_meta(path: str | os.PathLike, format: str = FORMAT) -> dict | None:
    """The ``meta.json`` of a saved dataset of ``format`` (a homogeneous dataset by default), or
    None when ``path`` holds none.

    Raises:
        CorruptFileError: ``meta.json`` is there but is not valid JSON.
    """
    meta_file = Path(path) / "meta.json"
    if not meta_file.is_file():
        return None
    meta = read_json(meta_file)
    return meta if meta.get("format") == format else None


def open_checked(path: str | os.PathLike, format: str, required: tuple[str, ...], *,
                 checksums: bool) -> tuple[Path, dict, dict]:
    """``(folder, manifest, meta)`` of a saved dataset of ``format``, once the folder matches its
    manifest (sizes and, with ``checksums``, crc32: one read of every file) and ``meta.json``
    holds the ``required`` keys.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CorruptFileError: no manifest, a file missing or altered, or a bad ``meta.json`` (named).
    """
    root = Path(path)
    manifest = verify_dir(root, format, checksums=checksums)
    meta = read_meta(root, format)
    if meta is None:
        raise CorruptFileError(f"{root / 'meta.json'} is not the meta.json of a {format}")
    missing = [k for k in required if k not in meta]
    if missing:
        raise CorruptFileError(f"{root / 'meta.json'} lacks {', '.join(missing)}")
    return root, manifest, meta


def save_dataset(dataset: NodeDataset, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write ``dataset`` under ``path`` (the whole folder with its manifest, or nothing).

    ``path`` must be new, empty or a dataset graphsys saved there before; anything else is
    refused (:class:`~graphsys.io.OutputError`). Cost: one copy of every array to disk and
    one read of it back (the checksums).
    """
    with atomic_dir(path, FORMAT) as tmp:
        dataset.graph.save(tmp / "graph")
        if dataset.x is not None:
            np.save(tmp / "x.npy", dataset.x.numpy())
        np.save(tmp / "y.npy", dataset.y.numpy())
        for split in _SPLITS:
            np.save(tmp / f"{split}.npy", getattr(dataset, split).numpy())
        if dataset.original_ids is not None:
            np.save(tmp / "original_ids.npy", dataset.original_ids.numpy())
        write_meta(tmp, dataset.name, dataset.num_classes, dataset.multilabel, extra or {})


def open_dataset(path: str | os.PathLike, *, checksums: bool = True) -> NodeDataset:
    """Open a dataset written by :func:`save_dataset` (or the synthetic generator) with memory maps.

    The folder is checked against its manifest first (every file present, sizes and
    checksums: one read of the whole dataset, several threads), so a truncated, altered or
    incomplete dataset is refused rather than trained on (``checksums=False`` compares sizes
    only, for a folder this process just wrote). The maps are copy-on-write:
    writing into ``x`` changes this process's view only.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CorruptFileError: no manifest, a file missing or altered, or a bad ``meta.json``
            (the file is named).
    """
    root, manifest, meta = open_checked(path, FORMAT, ("name", "num_classes", "multilabel"), checksums=checksums)

    def read(name: str) -> torch.Tensor:
        return torch.from_numpy(read_npy(root / name, mmap_mode="c"))

    return NodeDataset(
        name=meta["name"],
        graph=Graph.load(root / "graph", checksums=False),
        x=read("x.npy") if "x.npy" in manifest["files"] else None,
        y=read("y.npy"),
        train_idx=read("train_idx.npy"),
        val_idx=read("val_idx.npy"),
        test_idx=read("test_idx.npy"),
        num_classes=int(meta["num_classes"]),
        multilabel=bool(meta["multilabel"]),
        original_ids=read("original_ids.npy") if "original_ids.npy" in manifest["files"] else None,
    )
