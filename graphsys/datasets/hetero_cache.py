"""A :class:`HeteroNodeDataset` on disk: ``graph/`` (``HeteroGraph.save``), one ``x_<i>.npy`` per
node type with features (``i`` its position among the graph's node types, never a user
string), ``y.npy``, the split ``.npy`` files and ``meta.json``; reopened with memory maps.

Features derived later (:func:`~graphsys.datasets.mean_features`) live in the subfolder
``mean_features/``, a unit of its own with its own manifest, which the dataset's manifest
admits as derived: regenerating the dataset replaces it with the rest. Those derived from a
link split's training graph (held-out links removed) live in ``link_mean_features/<split>/``,
one such unit per split, admitted the same way.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets import cache
from graphsys.datasets.base import HeteroNodeDataset
from graphsys.hetero_graph import HeteroGraph
from graphsys.io import MANIFEST, CorruptFileError, admitted, read_json, read_npy

FORMAT = "graphsys.HeteroNodeDataset"
VERSION = 1
#: The subfolders of derived features (of the dataset's graph; of link splits' training graphs)
#: and the globs the dataset's manifest admits for them.
DERIVED_FOLDER = "mean_features"
LINK_DERIVED_FOLDER = "link_mean_features"
DERIVED = (f"{DERIVED_FOLDER}/*", f"{LINK_DERIVED_FOLDER}/*/*")
_SPLITS = ("train_idx", "val_idx", "test_idx")


def feature_file(position: int) -> str:
    """The file of the features of the ``position``-th node type."""
    return f"x_{position}.npy"


def link_features_folder(path: str | os.PathLike, edge_type_position: int, seed: int, val: float,
                         test: float) -> Path | None:
    """The folder, under the dataset folder ``path``, of the features derived from the training graph
    of one random link split: ``link_mean_features/edge<e>_seed<s>_val<v>_test<t>/`` (``e`` the
    split edge type's position among the graph's, never a user string). None when the dataset's
    manifest does not admit it as derived (a folder written before link splits kept theirs):
    writing there would leave a dataset folder graphsys refuses to regenerate. Cost: one read
    of the manifest.
    """
    manifest_file = Path(path) / MANIFEST
    if not manifest_file.is_file():
        return None
    globs = read_json(manifest_file).get("derived", [])
    if not admitted(f"{LINK_DERIVED_FOLDER}/split/{MANIFEST}", globs):
        return None
    return Path(path) / LINK_DERIVED_FOLDER / f"edge{edge_type_position}_seed{seed}_val{val!r}_test{test!r}"


def write_meta(folder: Path, name: str, num_classes: int, target: str, features: dict[str, str], extra: dict) -> None:
    """Write ``meta.json`` into ``folder`` (an :func:`~graphsys.io.atomic_dir` being filled);
    ``features`` maps each featured node type to its file."""
    meta = {"format": FORMAT, "version": VERSION, "name": name, "num_classes": num_classes, "target": target,
            "features": [{"node_type": t, "file": f} for t, f in features.items()], **extra}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def write_labels(folder: Path, y: np.ndarray, splits) -> None:
    """Write ``y.npy`` and the three split files into ``folder``."""
    np.save(folder / "y.npy", y)
    for part, ids in zip(_SPLITS, splits, strict=True):
        np.save(folder / f"{part}.npy", ids)


def read_meta(path: str | os.PathLike) -> dict | None:
    """The ``meta.json`` of a saved heterogeneous dataset, or None (:func:`graphsys.datasets.cache.read_meta`)."""
    return cache.read_meta(path, FORMAT)


def open_hetero_dataset(path: str | os.PathLike, *, checksums: bool = True) -> HeteroNodeDataset:
    """Open a dataset the heterogeneous generator wrote, with memory maps (copy-on-write).

    The folder is checked against its manifest first (every file present with its size and,
    with ``checksums``, its crc32: one read of the whole dataset, several threads), so a
    truncated or altered file is refused. Cost: that check, then opening the maps.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CorruptFileError: no manifest, a file missing or altered, or a bad ``meta.json``.
    """
    root, manifest, meta = cache.open_checked(path, FORMAT, ("name", "num_classes", "target", "features"),
                                              checksums=checksums)

    def read(name: str) -> torch.Tensor:
        if name not in manifest["files"]:
            raise CorruptFileError(f"{root / name} is named by {root / 'meta.json'} but not listed in the manifest")
        return torch.from_numpy(read_npy(root / name, mmap_mode="c"))

    try:
        features = {entry["node_type"]: entry["file"] for entry in meta["features"]}
    except (KeyError, TypeError) as err:
        raise CorruptFileError(f"{root / 'meta.json'} is malformed ({type(err).__name__}: {err})") from None
    try:
        return HeteroNodeDataset(
            name=meta["name"], graph=HeteroGraph.load(root / "graph", checksums=False),
            x={t: read(f) for t, f in features.items()}, y=read("y.npy"),
            train_idx=read("train_idx.npy"), val_idx=read("val_idx.npy"), test_idx=read("test_idx.npy"),
            num_classes=int(meta["num_classes"]), target=meta["target"], path=root,
        )
    except (TypeError, ValueError, IndexError) as err:
        if isinstance(err, CorruptFileError):
            raise
        raise CorruptFileError(f"{root}: the files do not form a heterogeneous dataset ({err})") from None
