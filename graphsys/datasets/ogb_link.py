"""OGB link-property datasets (``ogbl-*``): reading through ogb's own ``LinkPropPredDataset``,
writing ogb's raw link layout.

``load_ogb_link`` returns a :class:`LinkDataset`: ogb's graph (the training graph; validation
and test edges are not in it) and its edge split, PyG-style ``[2, E]`` edges. ogbl-collab keeps
its edge weights (on the graph and every split) and years (on every split); ogbl-citation2's
``source_node`` / ``target_node`` are the rows of ``edge`` and its ``target_node_neg`` is kept
as ``[E, 1000]``. ``write_ogb_link_dataset`` writes a :class:`LinkDataset` in the raw layout
that loader reads, so a custom link dataset round-trips through ogb offline.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import urllib.error
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets.base import LinkDataset, LinkSplit
from graphsys.datasets.ogb import (
    _dir_name,
    _ogb_cache_readable,
    _questions_on_terminal,
    _read_master_column,
    _write_csv_gz,
    _write_release_and_master,
)
from graphsys.datasets.paths import resolve_root
from graphsys.graph import Graph
from graphsys.io import CorruptFileError, atomic_dir

log = logging.getLogger(__name__)

#: The link-property datasets of ogb's master list that graphsys reads (homogeneous ones).
OGBL_NAMES = ("ogbl-ppa", "ogbl-collab", "ogbl-ddi", "ogbl-citation2")
#: What :func:`write_ogb_link_dataset` folders are (their manifest's kind); ogb adds ``processed/``.
OGB_LINK_KIND = "graphsys.ogb-link-dataset"
_VERSION = 1
_SPLIT_TYPE = "random"


def canonical_link_name(name: str) -> str:
    """``name`` spelled as ogb spells it when it is an official link dataset, else unchanged."""
    return next((known for known in OGBL_NAMES if known.lower() == name.lower()), name)


def _metric_of(ogb_metric: str) -> str:
    return "auc" if ogb_metric == "rocauc" else ogb_metric


def _as_int64(value) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    return tensor.to(torch.int64).contiguous()


def _link_split(name: str, part: str, raw: dict) -> LinkSplit:
    """A :class:`LinkSplit` of one of ogb's split dicts (``edge`` / ``edge_neg`` as ``[E, 2]``,
    or citation2's ``source_node`` / ``target_node`` / ``target_node_neg``)."""
    if not isinstance(raw, dict):
        raise CorruptFileError(f"{name}: ogb's {part} split is a {type(raw).__name__}, expected a dict")
    if "source_node" in raw:
        edge = torch.stack([_as_int64(raw["source_node"]).view(-1), _as_int64(raw["target_node"]).view(-1)])
    elif "edge" in raw:
        edge = _as_int64(raw["edge"]).view(-1, 2).t().contiguous()
    else:
        raise CorruptFileError(f"{name}: ogb's {part} split has neither 'edge' nor 'source_node' "
                               f"(keys: {sorted(raw)})")
    edge_neg = _as_int64(raw["edge_neg"]).view(-1, 2).t().contiguous() if "edge_neg" in raw else None
    target_neg = _as_int64(raw["target_node_neg"]) if "target_node_neg" in raw else None
    if target_neg is not None and target_neg.dim() == 1:
        target_neg = target_neg.view(edge.shape[1], -1)
    weight = raw.get("weight")
    weight = torch.as_tensor(np.asarray(weight), dtype=torch.float32).view(-1) if weight is not None else None
    year = _as_int64(raw["year"]).view(-1) if "year" in raw else None
    return LinkSplit(edge, edge_neg=edge_neg, target_node_neg=target_neg, weight=weight, year=year)


def load_ogb_link(name: str, root: str | os.PathLike | None = None) -> LinkDataset:
    """Load an ``ogbl-*`` dataset through ``ogb.linkproppred.LinkPropPredDataset``.

    Official names download into ``root`` when missing (ogb asks before large downloads); a
    dataset written by :func:`write_ogb_link_dataset` is read from its folder offline. ogb's
    console output goes to this module's logger at DEBUG level. The graph is ogb's (both
    directions where ogb adds inverse edges: collab, ppa, ddi; citations one way), edge weights
    kept as ``graph.edge_weight``; node years (citation2) are not kept. The metric is ogb's
    (``rocauc`` spelled ``"auc"``).

    Raises:
        ValueError: an ``ogbl-*`` name that is neither official nor found under ``root``.
        RuntimeError: ogb is not installed; the dataset is not under ``root`` and cannot be
            downloaded, or its download was declined.
        CorruptFileError: ogb's processed copy or split files hold more than plain arrays and
            tensors (refused unread), or a split lacks its edges.
    """
    name = canonical_link_name(name)
    base = resolve_root(root)
    folder = base / _dir_name(name)
    try:
        from ogb.linkproppred import LinkPropPredDataset
    except ImportError as err:
        raise RuntimeError(f"dataset {name!r} is read with the ogb package, which cannot be imported here ({err}); "
                           "install it (pip install ogb)") from None
    meta = _read_master_column(folder)
    if meta is None and name not in OGBL_NAMES:
        raise ValueError(f"unknown OGB link dataset {name!r}: not one of {', '.join(OGBL_NAMES)} and no "
                         f"{folder / 'master.csv'} (written by write_ogb_link_dataset)")
    console = io.StringIO()
    try:
        with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console), \
                _ogb_cache_readable("ogb.linkproppred.dataset"), _questions_on_terminal():
            dataset = LinkPropPredDataset(name, root=str(base), meta_dict=meta)
            split = dataset.get_edge_split()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise RuntimeError(
            f"dataset {name!r} is not in {folder} and cannot be downloaded ({getattr(err, 'reason', err)}); "
            f"connect to the network and run again, or download it elsewhere and copy its folder to {folder}"
        ) from None
    except SystemExit:  # ogb exits when the download question is answered no
        raise RuntimeError(f"dataset {name!r} is not in {folder} and its download was declined; answer y to "
                           f"download it, or copy its folder to {folder}") from None
    if console.getvalue():
        log.debug("ogb: %s", console.getvalue().strip())
    if dataset.is_hetero:
        raise ValueError(f"{name} is a heterogeneous link dataset, which graphsys does not read yet")
    graph_dict = dataset[0]
    num_nodes = int(graph_dict["num_nodes"])
    weight = graph_dict.get("edge_weight")
    graph = Graph.from_edge_index(graph_dict["edge_index"], num_nodes,
                                  edge_weight=None if weight is None else np.asarray(weight).reshape(-1))
    feat = graph_dict.get("node_feat")
    x = torch.from_numpy(np.ascontiguousarray(feat, dtype=np.float32)) if feat is not None else None
    parts = {part: _link_split(name, part, split[key]) for part, key in
             (("train", "train"), ("val", "valid"), ("test", "test"))}
    undirected = str(dataset.meta_info["add_inverse_edge"]) == "True"
    return LinkDataset(name, graph, x, parts["train"], parts["val"], parts["test"],
                       metric=_metric_of(dataset.eval_metric), undirected=undirected, path=folder)


def _ogb_split(split: LinkSplit, mrr: bool) -> dict[str, torch.Tensor]:
    """One split as ogb's dict of tensors (``[E, 2]`` edges, or citation2's per-node arrays)."""
    out: dict[str, torch.Tensor] = {}
    if mrr:
        out["source_node"], out["target_node"] = split.edge[0].clone(), split.edge[1].clone()
        if split.target_node_neg is not None:
            out["target_node_neg"] = split.target_node_neg.clone()
    else:
        out["edge"] = split.edge.t().contiguous()
        if split.edge_neg is not None:
            out["edge_neg"] = split.edge_neg.t().contiguous()
    if split.weight is not None:
        out["weight"] = split.weight.clone()
    if split.year is not None:
        out["year"] = split.year.clone()
    return out


def write_ogb_link_dataset(dataset: LinkDataset, root: str | os.PathLike, name: str) -> Path:
    """Write ``dataset`` in OGB's raw link-property format as ``root/<name with _>/``.

    The folder holds what ``LinkPropPredDataset`` reads: ``raw/edge.csv.gz`` (an undirected
    dataset's training links once each, ``train.edge``, which ogb stores both ways as
    ``add_inverse_edge``; a directed one's graph edges), ``raw/num-node-list.csv.gz``,
    ``raw/num-edge-list.csv.gz``, ``raw/node-feat.csv.gz`` (unless featureless),
    ``raw/edge_weight.csv.gz`` / ``raw/edge_year.csv.gz`` where the edges have them (ogbl-collab's
    additional edge files), ``split/random/{train,valid,test}.pt`` (ogb's dicts of int64 / float
    tensors, saved by ``torch.save``: ``edge`` / ``edge_neg`` ``[E, 2]``, ``weight``, ``year``,
    or for an MRR dataset citation2's ``source_node`` / ``target_node`` / ``target_node_neg``),
    ``RELEASE_v1.txt``, an empty ``processed/`` and ``master.csv``: ogb's master-list column for
    ``name``, which :func:`load_ogb_link` passes as ``meta_dict`` so nothing is downloaded.
    Written atomically (the whole folder or nothing); a folder graphsys did not write is refused.

    Cost: text output, about 1 s per million edges or feature rows on one core; the splits as
    binary tensors.

    Returns:
        The dataset folder.

    Raises:
        ValueError: ``name`` does not start with ``ogbl-`` or is an official OGB name.
        TypeError: ``dataset`` is not a :class:`LinkDataset`.
        OutputError: the folder holds something graphsys did not write.
    """
    if not isinstance(name, str) or not name.startswith("ogbl-"):
        raise ValueError(f"name must start with 'ogbl-' (OGB's link-property prefix), got {name!r}")
    if canonical_link_name(name) in OGBL_NAMES or name.lower() in ("ogbl-wikikg2", "ogbl-biokg", "ogbl-vessel"):
        raise ValueError(f"name {name!r} is an official OGB dataset; pick another ogbl-* name")
    if not isinstance(dataset, LinkDataset):
        raise TypeError(f"dataset must be a LinkDataset, got {type(dataset).__name__}")
    folder = Path(root) / _dir_name(name)
    if dataset.undirected:
        edges, weight, year = dataset.train.edge, dataset.train.weight, dataset.train.year
    else:
        edges, weight, year = dataset.graph.to_edge_index(), dataset.graph.edge_weight, None
    extra = [f for f, v in (("edge_weight", weight), ("edge_year", year)) if v is not None]
    master = {
        "eval metric": "rocauc" if dataset.metric == "auc" else dataset.metric,
        "task type": "link prediction",
        "download_name": _dir_name(name),
        "version": _VERSION,
        "url": "",
        "add_inverse_edge": str(bool(dataset.undirected)),
        "has_node_attr": str(dataset.x is not None),
        "has_edge_attr": "False",
        "split": _SPLIT_TYPE,
        "additional node files": "None",
        "additional edge files": ",".join(extra) if extra else "None",
        "is hetero": "False",
        "binary": "False",
    }
    mrr = dataset.metric == "mrr"
    with atomic_dir(folder, OGB_LINK_KIND, derived=("processed/data_processed",)) as tmp:
        (tmp / "processed").mkdir()  # ogb saves its processed copy here and does not create it
        raw = tmp / "raw"
        raw.mkdir()
        _write_csv_gz(raw / "edge.csv.gz", edges.numpy().T, "%d")
        _write_csv_gz(raw / "num-node-list.csv.gz", np.array([dataset.num_nodes]), "%d")
        _write_csv_gz(raw / "num-edge-list.csv.gz", np.array([edges.shape[1]]), "%d")
        if dataset.x is not None:
            _write_csv_gz(raw / "node-feat.csv.gz", dataset.x.float().numpy(), "%.9g")
        if weight is not None:
            _write_csv_gz(raw / "edge_weight.csv.gz", weight.float().numpy().reshape(-1, 1), "%.9g")
        if year is not None:
            _write_csv_gz(raw / "edge_year.csv.gz", year.numpy().reshape(-1, 1), "%d")
        split_dir = tmp / "split" / _SPLIT_TYPE
        split_dir.mkdir(parents=True)
        for part, file in (("train", "train"), ("val", "valid"), ("test", "test")):
            torch.save(_ogb_split(getattr(dataset, part), mrr), split_dir / f"{file}.pt")
        _write_release_and_master(tmp, name, master)
    return folder
