"""A :class:`NodeDataset` on disk: ``graph/`` (``Graph.save``), ``x.npy``, ``y.npy``, the split
``.npy`` files and ``meta.json``; reopened with memory maps, so a dataset of any size opens
in milliseconds and pages in as it is read.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets.base import NodeDataset
from graphsys.graph import Graph
from graphsys.io import atomic_dir

FORMAT = "graphsys.NodeDataset"
VERSION = 1
_SPLITS = ("train_idx", "val_idx", "test_idx")


def write_meta(folder: Path, name: str, num_classes: int, multilabel: bool, extra: dict) -> None:
    """Write ``meta.json`` into ``folder`` (an :func:`~graphsys.io.atomic_dir` being filled)."""
    meta = {"format": FORMAT, "version": VERSION, "name": name, "num_classes": num_classes,
            "multilabel": multilabel, **extra}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def read_meta(path: str | os.PathLike) -> dict | None:
    """The ``meta.json`` of a saved dataset, or None when ``path`` holds none."""
    meta_file = Path(path) / "meta.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    return meta if meta.get("format") == FORMAT else None


def save_dataset(dataset: NodeDataset, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write ``dataset`` under ``path`` (atomically: the whole folder or nothing).

    Cost: one copy of every array to disk.
    """
    with atomic_dir(path) as tmp:
        dataset.graph.save(tmp / "graph")
        if dataset.x is not None:
            np.save(tmp / "x.npy", dataset.x.numpy())
        np.save(tmp / "y.npy", dataset.y.numpy())
        for split in _SPLITS:
            np.save(tmp / f"{split}.npy", getattr(dataset, split).numpy())
        write_meta(tmp, dataset.name, dataset.num_classes, dataset.multilabel, extra or {})


def open_dataset(path: str | os.PathLike) -> NodeDataset:
    """Open a dataset written by :func:`save_dataset` (or the synthetic generator) with memory maps.

    The maps are copy-on-write: writing into ``x`` changes this process's view only.

    Raises:
        FileNotFoundError: ``path`` holds no saved dataset.
    """
    root = Path(path)
    meta = read_meta(root)
    if meta is None:
        raise FileNotFoundError(f"{root} holds no saved {FORMAT} (no meta.json)")

    def read(name: str) -> torch.Tensor:
        return torch.from_numpy(np.load(root / name, mmap_mode="c"))

    return NodeDataset(
        name=meta["name"],
        graph=Graph.load(root / "graph"),
        x=read("x.npy") if (root / "x.npy").exists() else None,
        y=read("y.npy"),
        train_idx=read("train_idx.npy"),
        val_idx=read("val_idx.npy"),
        test_idx=read("test_idx.npy"),
        num_classes=int(meta["num_classes"]),
        multilabel=bool(meta["multilabel"]),
    )
