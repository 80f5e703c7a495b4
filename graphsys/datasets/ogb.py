"""OGB node-property datasets: reading through ogb's own loader, writing OGB's raw format.

``load_ogb`` wraps ``ogb.nodeproppred.NodePropPredDataset`` (imported lazily: the device
machine has no ogb). ``write_ogb_node_dataset`` writes any :class:`NodeDataset` in the raw
layout that loader reads (``raw/*.csv.gz``, ``split/<type>/*.csv.gz``, ``RELEASE_v1.txt``)
plus a ``master.csv`` column describing it, so a custom dataset round-trips through ogb.
"""
from __future__ import annotations

import builtins
import contextlib
import csv
import gzip
import io
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets.base import NodeDataset
from graphsys.datasets.paths import resolve_root
from graphsys.graph import Graph
from graphsys.io import atomic_dir

log = logging.getLogger(__name__)

#: The homogeneous node-property datasets of ogb's master list (ogbn-mag is heterogeneous).
OGB_NAMES = ("ogbn-arxiv", "ogbn-products", "ogbn-proteins", "ogbn-papers100M")
_SPLIT_TYPE = "random"
#: What :func:`write_ogb_node_dataset` folders are (their manifest's kind); ogb adds ``processed/``.
OGB_KIND = "graphsys.ogb-node-dataset"
_VERSION = 1


def _dir_name(name: str) -> str:
    return name.replace("-", "_")


def _read_master_column(folder: Path) -> dict | None:
    """The one-column ``master.csv`` that :func:`write_ogb_node_dataset` leaves in ``folder``."""
    path = folder / "master.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or len(rows[0]) != 2:
        raise ValueError(f"{path}, line 1: expected a header ',<name>', got {rows[0] if rows else 'an empty file'}")
    meta = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise ValueError(f"{path}, line {line}: expected 'key,value', got {row}")
        meta[row[0]] = row[1]
    meta["dir_path"] = str(folder)
    return meta


@contextlib.contextmanager
def _ogb_cache_readable():
    """Let ogb reopen the processed copy it saved itself.

    ogb 1.3 saves ``processed/data_processed`` (numpy arrays, pickle protocol 4) and reads it
    back with a plain ``torch.load``, which torch >= 2.6 runs as ``weights_only=True`` and
    rejects. torch's documented switch for such callers is TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD;
    it is set only around the ogb call and only for the file ogb wrote under ``root``.
    """
    key = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
            yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


def _ask_on_terminal(question: object = "") -> str:
    """``input`` for ogb while its console output is captured: its question goes to the real
    standard output (ogb asks before a download over 1 GB and before replacing an outdated copy;
    captured, the question was invisible and the call seemed to hang).

    Raises:
        RuntimeError: standard input is closed, so nobody can answer.
    """
    terminal = sys.__stdout__
    if terminal is not None:
        terminal.write(str(question))
        terminal.flush()
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if not answer:
        raise RuntimeError(
            f"ogb asked {str(question).strip()!r} and standard input is closed; "
            "run interactively once to answer, or download the dataset into root first"
        )
    return answer.rstrip("\n")


@contextlib.contextmanager
def _questions_on_terminal():
    """Route ``input`` to :func:`_ask_on_terminal` for the duration (ogb calls the builtin)."""
    before = builtins.input
    builtins.input = _ask_on_terminal
    try:
        yield
    finally:
        builtins.input = before


def _canonical_name(name: str) -> str:
    for known in OGB_NAMES:
        if known.lower() == name.lower():
            return known
    return name


def load_ogb(name: str, root: str | os.PathLike | None = None, *, undirected: bool = False) -> NodeDataset:
    """Load an ``ogbn-*`` dataset through ``ogb.nodeproppred.NodePropPredDataset``.

    Official names download into ``root`` when missing (ogb asks before large downloads);
    a dataset written by :func:`write_ogb_node_dataset` is read from its folder offline.
    ogb's own console output (prints, progress bars) goes to this module's logger at DEBUG level;
    its questions (before a download over 1 GB) are asked on the real standard output.
    Labels OGB leaves blank (NaN, as in ogbn-papers100M) become ``-1``; edge features (as in
    ogbn-proteins) are not kept.

    Args:
        name: ``ogbn-arxiv``, ``ogbn-products``, ``ogbn-proteins``, ``ogbn-papers100M`` or a
            custom ``ogbn-*`` name written by :func:`write_ogb_node_dataset`.
        root: the folder holding ``<name with _ for ->/``.
        undirected: store every edge both ways (as GNNs on ogbn-arxiv usually do).

    Raises:
        ValueError: an ``ogbn-*`` name that is neither official nor found under ``root``.
        RuntimeError: ogb asks whether to download and standard input is closed.
    """
    from ogb.nodeproppred import NodePropPredDataset

    name = _canonical_name(name)
    base = resolve_root(root)
    meta = _read_master_column(base / _dir_name(name))
    if meta is None and name not in OGB_NAMES:
        raise ValueError(
            f"unknown OGB dataset {name!r}: not one of {', '.join(OGB_NAMES)} and no "
            f"{base / _dir_name(name) / 'master.csv'} (written by write_ogb_node_dataset)"
        )
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console), _ogb_cache_readable(), \
            _questions_on_terminal():
        dataset = NodePropPredDataset(name, root=str(base), meta_dict=meta)
        split = dataset.get_idx_split()
    if console.getvalue():
        log.debug("ogb: %s", console.getvalue().strip())
    graph_dict, labels = dataset[0]
    num_nodes = int(graph_dict["num_nodes"])
    graph = Graph.from_edge_index(graph_dict["edge_index"], num_nodes,
                                  symmetrize=undirected, drop_self_loops=undirected)
    feat = graph_dict.get("node_feat")
    x = torch.from_numpy(np.ascontiguousarray(feat, dtype=np.float32)) if feat is not None else None
    labels = np.asarray(labels, dtype=np.float64)
    multilabel = dataset.num_tasks > 1
    labels = np.where(np.isnan(labels), -1, labels).astype(np.int64)
    y = torch.from_numpy(labels if multilabel else labels.reshape(-1))
    num_classes = dataset.num_tasks if multilabel else dataset.num_classes

    def ids(part: str) -> torch.Tensor:
        return torch.from_numpy(np.sort(np.asarray(split[part], dtype=np.int64)))

    return NodeDataset(name, graph, x, y, ids("train"), ids("valid"), ids("test"),
                       num_classes=int(num_classes), multilabel=multilabel)


def _write_csv_gz(path: Path, array: np.ndarray, fmt: str) -> None:
    with gzip.open(path, "wb", compresslevel=6) as fh:
        np.savetxt(fh, array, fmt=fmt, delimiter=",")


def write_ogb_node_dataset(dataset: NodeDataset, root: str | os.PathLike, name: str) -> Path:
    """Write ``dataset`` in OGB's raw node-property format as ``root/<name with _>/``.

    The folder holds what ``NodePropPredDataset`` reads: ``raw/edge.csv.gz`` (every stored
    edge ``src,dst``), ``raw/num-node-list.csv.gz``, ``raw/num-edge-list.csv.gz``,
    ``raw/node-feat.csv.gz`` (unless featureless), ``raw/node-label.csv.gz`` (``-1`` for
    unlabelled), ``split/random/{train,valid,test}.csv.gz``, ``RELEASE_v1.txt`` and an
    empty ``processed/`` (where ogb caches its parsed copy), plus
    ``master.csv``: ogb's master-list column for ``name``, which :func:`load_ogb` passes as
    ``meta_dict`` so nothing is downloaded. Written atomically (the whole folder or nothing).

    Cost: text output, about 1 s per million edges or feature rows on one core; meant for
    exchanging datasets with OGB tooling, not as a cache (use the synthetic ``root`` cache).

    Returns:
        The dataset folder.

    Raises:
        ValueError: ``name`` does not start with ``ogbn-`` or is an official OGB name.
    """
    if not name.startswith("ogbn-"):
        raise ValueError(f"name must start with 'ogbn-' (OGB's node-property prefix), got {name!r}")
    if _canonical_name(name) in OGB_NAMES:
        raise ValueError(f"name {name!r} is an official OGB dataset; pick another ogbn-* name")
    folder = Path(root) / _dir_name(name)
    num_tasks = dataset.num_classes if dataset.multilabel else 1
    master = {
        "num tasks": num_tasks,
        "num classes": 2 if dataset.multilabel else dataset.num_classes,
        "eval metric": "rocauc" if dataset.multilabel else "acc",
        "task type": "binary classification" if dataset.multilabel else "multiclass classification",
        "download_name": _dir_name(name),
        "version": _VERSION,
        "url": "",
        "add_inverse_edge": "False",
        "has_node_attr": str(dataset.x is not None),
        "has_edge_attr": "False",
        "split": _SPLIT_TYPE,
        "additional node files": "None",
        "additional edge files": "None",
        "is hetero": "False",
        "binary": "False",
    }
    with atomic_dir(folder, OGB_KIND, derived=("processed/*",)) as tmp:
        raw = tmp / "raw"
        raw.mkdir()
        (tmp / "processed").mkdir()  # ogb saves its processed copy here and does not create it
        edge_index = dataset.graph.to_edge_index().numpy()
        _write_csv_gz(raw / "edge.csv.gz", edge_index.T, "%d")
        _write_csv_gz(raw / "num-node-list.csv.gz", np.array([dataset.num_nodes]), "%d")
        _write_csv_gz(raw / "num-edge-list.csv.gz", np.array([edge_index.shape[1]]), "%d")
        if dataset.x is not None:
            _write_csv_gz(raw / "node-feat.csv.gz", dataset.x.float().numpy(), "%.9g")
        labels = dataset.y.numpy()
        _write_csv_gz(raw / "node-label.csv.gz", labels.reshape(dataset.num_nodes, -1), "%d")
        split_dir = tmp / "split" / _SPLIT_TYPE
        split_dir.mkdir(parents=True)
        for part, idx in (("train", dataset.train_idx), ("valid", dataset.val_idx), ("test", dataset.test_idx)):
            _write_csv_gz(split_dir / f"{part}.csv.gz", idx.numpy().reshape(-1, 1), "%d")
        (tmp / f"RELEASE_v{_VERSION}.txt").write_text(f"{name}: written by graphsys\n")
        with (tmp / "master.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["", name])
            writer.writerows(master.items())
    return folder
