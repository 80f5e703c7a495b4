"""OGB node-property datasets: reading through ogb's own loader, writing OGB's raw format.

``load_ogb`` wraps ``ogb.nodeproppred.NodePropPredDataset`` (imported lazily: the device
machine has no ogb), homogeneous datasets as :class:`NodeDataset` and heterogeneous ones
(ogbn-mag: ogb's dicts per node and edge type) as :class:`HeteroNodeDataset`.
``write_ogb_node_dataset`` writes either in the raw layout that loader reads (``raw/...``,
``split/<split>/...``, ``RELEASE_v1.txt``) plus a ``master.csv`` column describing it, so a
custom dataset round-trips through ogb.
"""
from __future__ import annotations

import builtins
import contextlib
import csv
import gzip
import io
import logging
import os
import pickle
import sys
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets.base import HeteroNodeDataset, NodeDataset
from graphsys.datasets.paths import resolve_root
from graphsys.graph import Graph
from graphsys.hetero_graph import HeteroGraph
from graphsys.io import CorruptFileError, atomic_dir

log = logging.getLogger(__name__)

#: The node-property datasets of ogb's master list (ogbn-mag is the heterogeneous one).
OGB_NAMES = ("ogbn-arxiv", "ogbn-products", "ogbn-proteins", "ogbn-papers100M", "ogbn-mag")
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


#: Dtype kinds a processed copy may hold: booleans, integers, floats, complex numbers.
_PLAIN_KINDS = "biufc"


def _reconstruct_function():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_array_globals() -> list:
    """torch's allow-list entries (:class:`torch.serialization.safe_globals`) for plain numpy
    arrays and nothing else: ``_reconstruct`` (under numpy 2's and numpy 1's module name),
    ``ndarray``, ``dtype`` and the concrete dtype classes of booleans and numbers
    (``numpy.dtypes.Float32DType``, ``Int64DType``, ...). Object, structured, string and
    datetime dtypes are left out (an object array's items are pickles of their own)."""
    reconstruct = _reconstruct_function()
    allowed: list = [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"),
                     (reconstruct, "numpy._core.multiarray._reconstruct"), np.ndarray, np.dtype]
    allowed += sorted({type(np.dtype(c)) for c in np.typecodes["All"] if np.dtype(c).kind in _PLAIN_KINDS},
                      key=lambda t: t.__name__)
    return allowed


def _plain_dtype(*args):
    """``numpy.dtype(*args)`` for the kinds in :data:`_PLAIN_KINDS` only."""
    dtype = np.dtype(*args)
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None:
        raise pickle.UnpicklingError(f"Unsupported global: dtype {dtype} is not a plain numeric numpy dtype")
    return dtype


def _plain_reconstruct(subtype, *args):
    """numpy's ``_reconstruct`` for ``ndarray`` itself only (not a subclass, whose code would run)."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"Unsupported global: array subtype {subtype!r} is not numpy.ndarray")
    return _reconstruct_function()(subtype, *args)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Python's "restricting globals" unpickler admitting what :func:`_numpy_array_globals`
    admits: torch's own weights-only unpickler has the same allow-list but reads only pickle
    protocol 2, and ogb saves its processed copy with protocol 4."""

    def find_class(self, module: str, name: str):
        full = f"{module}.{name}"
        if full in ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"):
            return _plain_reconstruct
        if full == "numpy.ndarray":
            return np.ndarray
        if full == "numpy.dtype":
            return _plain_dtype
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {full} is not a numpy array type")


def _pickle_record(file: Path) -> str | None:
    """The name of the pickle (``<archive>/data.pkl``) inside a torch zip file, None when it is not one."""
    try:
        with zipfile.ZipFile(file) as archive:
            return next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
    except (zipfile.BadZipFile, OSError):
        return None


def _pickle_protocol(file: Path, record: str) -> int | None:
    """The protocol the pickle ``record`` of the zip file ``file`` starts with (its PROTO opcode)."""
    with zipfile.ZipFile(file) as archive, archive.open(record) as f:
        head = f.read(2)
    return head[1] if len(head) == 2 and head[0] == pickle.PROTO[0] else None


def _load_arrays_only(file: Path, record: str):
    """Unpickle ``record`` of the torch zip file ``file`` with :class:`_ArraysOnlyUnpickler`,
    streaming it from the archive. A pickle that refers to torch storages (tensors) is refused:
    no ``persistent_load`` is given."""
    with zipfile.ZipFile(file) as archive, archive.open(record) as f:
        return _ArraysOnlyUnpickler(f).load()


def _check_plain(value, where: str = "the file") -> None:
    """Refuse anything but containers, numbers, strings, None, plain numeric arrays and tensors
    (tensors come only through ``torch.load(weights_only=True)``: ogbl split files hold them)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _PLAIN_KINDS:
            raise pickle.UnpicklingError(f"Unsupported global: {where} is an array of dtype {value.dtype}")
    elif isinstance(value, torch.Tensor):
        pass
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, where)
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not (value is None or isinstance(value, (bool, int, float, complex, str, bytes))):
        raise pickle.UnpicklingError(f"Unsupported global: {where} is a {type(value).__name__}")


def load_processed(path: str | os.PathLike) -> dict:
    """Read ogb's ``processed/data_processed`` (what ogb's own ``torch.load`` reads) admitting
    plain numpy arrays and Python containers only, so a crafted file cannot run code.

    Files of pickle protocol 2 go through ``torch.load(weights_only=True)`` with
    :func:`_numpy_array_globals` as its allow-list; protocol 3 and up (ogb saves 4), which
    torch's weights-only unpickler cannot parse, through :class:`_ArraysOnlyUnpickler`, the
    same allow-list in Python's own unpickler (no ``torch.load``, so no environment variable
    of torch's changes what is admitted). Cost: one read of the file.

    Raises:
        CorruptFileError: the file holds anything else (a crafted pickle: refused before any
            of its code runs), or is not a torch file.
    """
    file = Path(path)
    try:
        record = _pickle_record(file)
        if record is not None and (_pickle_protocol(file, record) or 0) > 2:
            loaded = _load_arrays_only(file, record)
        else:
            with torch.serialization.safe_globals(_numpy_array_globals()):
                loaded = torch.load(file, map_location="cpu", weights_only=True)
        _check_plain(loaded)
    except pickle.UnpicklingError as err:
        raise _refused(file, err) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as err:
        raise CorruptFileError(f"{file} cannot be read as ogb's processed copy ({_first_line(err)}); "
                               "delete it to have ogb rebuild it from raw/") from None
    if not isinstance(loaded, dict):
        raise CorruptFileError(f"{file} holds a {type(loaded).__name__}, not the dict ogb saves; "
                               "delete it to have ogb rebuild it from raw/")
    return loaded


class _TorchForOgb:
    """What ``ogb.nodeproppred.dataset`` sees as ``torch`` while :func:`_ogb_cache_readable`
    is active: torch itself, except that ``load`` (ogb's only use: its processed copy) is
    :func:`load_processed`."""

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def load(f, *args, **kwargs):
        return load_processed(f)


@contextlib.contextmanager
def _ogb_cache_readable(module: str = "ogb.nodeproppred.dataset"):
    """Let ogb reopen the processed copy it saved, unpickling numpy arrays and nothing else.

    ogb 1.3 saves ``processed/data_processed`` (a dict of numpy arrays, pickle protocol 4)
    and reads it back with a plain ``torch.load``, which torch >= 2.6 runs as
    ``weights_only=True`` and which then rejects it (numpy's globals, protocol 4). Rather than
    turning that check off (a crafted file would run code), ogb's ``module`` (the node or the
    link dataset's; the link one also reads its split files so) is handed
    :func:`load_processed` as its ``torch.load`` for the duration.
    """
    import importlib

    ogb_dataset = importlib.import_module(module)
    before = ogb_dataset.__dict__.get("torch")
    ogb_dataset.torch = _TorchForOgb()
    try:
        yield
    finally:
        ogb_dataset.torch = before


def _first_line(err: BaseException) -> str:
    """The informative line of a (multi-line) torch error: the one naming the refused global or
    operand (torch's first line is boilerplate about weights_only), else the first."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line:
            return line.removeprefix("WeightsUnpickler error: ")
    return lines[0] if lines else type(err).__name__


def _refused(file: Path, err: BaseException) -> CorruptFileError:
    return CorruptFileError(
        f"{file} is not a processed copy graphsys will read: it holds more than plain numpy arrays, or is not "
        f"a torch file ({_first_line(err)}), and graphsys unpickles nothing else; "
        "delete it to have ogb rebuild it from raw/"
    )


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


def load_ogb(name: str, root: str | os.PathLike | None = None, *,
             undirected: bool = False) -> NodeDataset | HeteroNodeDataset:
    """Load an ``ogbn-*`` dataset through ``ogb.nodeproppred.NodePropPredDataset``.

    A heterogeneous dataset (ogbn-mag, or one written from a :class:`HeteroNodeDataset`)
    comes back as a :class:`HeteroNodeDataset`: ogb's ``num_nodes_dict``, ``edge_index_dict``
    and ``node_feat_dict`` (float32), labels and split of the one node type that has them
    (ogbn-mag: ``"paper"``); ogb's extra files (``node_year``, ``edge_reltype``) are not kept.

    Official names download into ``root`` when missing (ogb asks before large downloads);
    a dataset written by :func:`write_ogb_node_dataset` is read from its folder offline.
    ogb's own console output (prints, progress bars) goes to this module's logger at DEBUG level;
    its questions (before a download over 1 GB) are asked on the real standard output.
    Labels OGB leaves blank (NaN, as in ogbn-papers100M) become ``-1``; edge features (as in
    ogbn-proteins) are not kept.

    Args:
        name: ``ogbn-arxiv``, ``ogbn-products``, ``ogbn-proteins``, ``ogbn-papers100M``,
            ``ogbn-mag`` or a custom ``ogbn-*`` name written by :func:`write_ogb_node_dataset`.
        root: the folder holding ``<name with _ for ->/``.
        undirected: store every edge both ways (as GNNs on ogbn-arxiv usually do); for a
            heterogeneous dataset, :meth:`HeteroGraph.add_reverse` (PyG's ``ToUndirected``).

    Raises:
        ValueError: an ``ogbn-*`` name that is neither official nor found under ``root``.
        RuntimeError: ogb is not installed; the dataset is not under ``root`` and cannot be
            downloaded (no network) or its download was declined; ogb asks whether to
            download and standard input is closed.
        CorruptFileError: ``processed/data_processed`` holds more than numpy arrays (it is
            refused without being unpickled).
    """
    name = _canonical_name(name)
    base = resolve_root(root)
    folder = base / _dir_name(name)
    try:
        from ogb.nodeproppred import NodePropPredDataset
    except ImportError as err:
        raise RuntimeError(
            f"dataset {name!r} is read with the ogb package, which cannot be imported here ({err}); "
            "install it (pip install ogb)"
        ) from None
    meta = _read_master_column(folder)
    if meta is None and name not in OGB_NAMES:
        raise ValueError(
            f"unknown OGB dataset {name!r}: not one of {', '.join(OGB_NAMES)} and no "
            f"{folder / 'master.csv'} (written by write_ogb_node_dataset)"
        )
    console = io.StringIO()
    try:
        with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console), _ogb_cache_readable(), \
                _questions_on_terminal():
            dataset = NodePropPredDataset(name, root=str(base), meta_dict=meta)
            split = dataset.get_idx_split()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:  # ogb's download: no network, DNS, HTTP
        raise RuntimeError(
            f"dataset {name!r} is not in {folder} and cannot be downloaded ({getattr(err, 'reason', err)}); "
            f"connect to the network and run again, or download it elsewhere and copy its folder to {folder}"
        ) from None
    except SystemExit:  # ogb exits when the download question is answered no
        raise RuntimeError(
            f"dataset {name!r} is not in {folder} and its download was declined; answer y to download it, "
            f"or copy its folder to {folder}"
        ) from None
    if console.getvalue():
        log.debug("ogb: %s", console.getvalue().strip())
    graph_dict, labels = dataset[0]
    if dataset.is_hetero:
        return _hetero_dataset(name, dataset, graph_dict, labels, split, undirected)
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


def _hetero_dataset(name: str, dataset, graph_dict: dict, labels: dict, split: dict,
                    undirected: bool) -> HeteroNodeDataset:
    """A :class:`HeteroNodeDataset` of what ogb read for a heterogeneous dataset. Cost: one CSR
    build per edge type from ogb's ``edge_index`` (plus the reverse types when ``undirected``)."""
    num_nodes = {t: int(n) for t, n in graph_dict["num_nodes_dict"].items()}
    edge_index = {tuple(k): np.asarray(v, dtype=np.int64) for k, v in graph_dict["edge_index_dict"].items()}
    graph = HeteroGraph.from_edge_index_dict(edge_index, num_nodes, add_reverse=undirected)
    x = {t: torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32))
         for t, f in (graph_dict.get("node_feat_dict") or {}).items()}
    targets = [t for t in split["train"] if t in labels]
    if len(targets) != 1:
        raise CorruptFileError(f"{name}: expected labels and a split on one node type, found labels on "
                               f"{sorted(labels)} and a split on {sorted(split['train'])}")
    target = targets[0]
    raw = np.asarray(labels[target], dtype=np.float64).reshape(-1)
    y = torch.from_numpy(np.where(np.isnan(raw), -1, raw).astype(np.int64))

    def ids(part: str) -> torch.Tensor:
        return torch.from_numpy(np.sort(np.asarray(split[part][target], dtype=np.int64)))

    return HeteroNodeDataset(name, graph, x, y, ids("train"), ids("valid"), ids("test"),
                             num_classes=int(dataset.num_classes), target=target)


def _write_csv_gz(path: Path, array: np.ndarray, fmt: str) -> None:
    with gzip.open(path, "wb", compresslevel=6) as fh:
        np.savetxt(fh, array, fmt=fmt, delimiter=",")


def _write_release_and_master(folder: Path, name: str, master: dict) -> None:
    """The two files ogb looks for beside ``raw/``: ``RELEASE_v1.txt`` and ``master.csv`` with
    ``name``'s column (``master``: ogb's master-list fields)."""
    (folder / f"RELEASE_v{_VERSION}.txt").write_text(f"{name}: written by graphsys\n")
    with (folder / "master.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", name])
        writer.writerows(master.items())


def _write_header_csv_gz(path: Path, header: list[str], row: list) -> None:
    """A one-row table with a header (ogb's ``num-node-dict``, ``nodetype-has-label``, ...)."""
    with gzip.open(path, "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerow(row)


def _check_ogb_part(what: str, value: str) -> str:
    """A node type or relation that ogb's raw layout can carry: it becomes a folder name and
    a CSV field, so no path separators, commas, quotes, ``___`` (ogb's triplet separator) or
    '.'/'..'."""
    bad = [c for c in ("/", "\\", ",", '"', "\n", "\0") if c in value]
    if bad or "___" in value or value in (".", "..") or not value:
        raise ValueError(f"{what} {value!r} cannot be written in OGB's raw layout (it names a folder and a CSV "
                         "field): use letters, digits, '-' and single '_'")
    return value


def _write_hetero_raw(dataset: HeteroNodeDataset, tmp: Path) -> None:
    """Fill ``tmp`` with ogb's raw heterogeneous layout (what ``read_csv_heterograph_raw``,
    ``read_node_label_hetero`` and ``read_nodesplitidx_split_hetero`` of ogb 1.3 read)."""
    graph = dataset.graph
    for node_type in graph.node_types:
        _check_ogb_part("node type", node_type)
    for edge_type in graph.edge_types:
        for part in edge_type:
            _check_ogb_part(f"edge type {edge_type!r} part", part)
    raw = tmp / "raw"
    raw.mkdir()
    types = graph.node_types
    _write_header_csv_gz(raw / "num-node-dict.csv.gz", types, [graph.num_nodes(t) for t in types])
    triplets = sorted(graph.edge_types)  # ogb sorts them too; edge_reltype is the position in this list
    with gzip.open(raw / "triplet-type-list.csv.gz", "wt", newline="") as fh:
        csv.writer(fh).writerows(triplets)
    edge_index = graph.to_edge_index_dict()
    for reltype, triplet in enumerate(triplets):
        folder = raw / "relations" / "___".join(triplet)
        folder.mkdir(parents=True)
        edges = edge_index[triplet].numpy()
        _write_csv_gz(folder / "edge.csv.gz", edges.T, "%d")
        _write_csv_gz(folder / "num-edge-list.csv.gz", np.array([edges.shape[1]]), "%d")
        _write_csv_gz(folder / "edge_reltype.csv.gz", np.full((edges.shape[1], 1), reltype), "%d")
    for node_type, feat in dataset.x.items():
        folder = raw / "node-feat" / node_type
        folder.mkdir(parents=True)
        _write_csv_gz(folder / "node-feat.csv.gz", feat.float().numpy(), "%.9g")
    flags = [t == dataset.target for t in types]
    _write_header_csv_gz(raw / "nodetype-has-label.csv.gz", types, flags)
    (raw / "node-label" / dataset.target).mkdir(parents=True)
    _write_csv_gz(raw / "node-label" / dataset.target / "node-label.csv.gz", dataset.y.numpy().reshape(-1, 1), "%d")
    split_dir = tmp / "split" / _SPLIT_TYPE
    (split_dir / dataset.target).mkdir(parents=True)
    _write_header_csv_gz(split_dir / "nodetype-has-split.csv.gz", types, flags)
    for part, idx in (("train", dataset.train_idx), ("valid", dataset.val_idx), ("test", dataset.test_idx)):
        _write_csv_gz(split_dir / dataset.target / f"{part}.csv.gz", idx.numpy().reshape(-1, 1), "%d")


def _write_homogeneous_raw(dataset: NodeDataset, tmp: Path) -> None:
    """Fill ``tmp`` with ogb's raw homogeneous layout."""
    raw = tmp / "raw"
    raw.mkdir()
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


def write_ogb_node_dataset(dataset: NodeDataset | HeteroNodeDataset, root: str | os.PathLike, name: str) -> Path:
    """Write ``dataset`` in OGB's raw node-property format as ``root/<name with _>/``.

    The folder holds what ``NodePropPredDataset`` reads. For a :class:`NodeDataset`:
    ``raw/edge.csv.gz`` (every stored edge ``src,dst``), ``raw/num-node-list.csv.gz``,
    ``raw/num-edge-list.csv.gz``, ``raw/node-feat.csv.gz`` (unless featureless),
    ``raw/node-label.csv.gz`` (``-1`` for unlabelled), ``split/random/{train,valid,test}.csv.gz``.
    For a :class:`HeteroNodeDataset` (ogbn-mag's layout): ``raw/num-node-dict.csv.gz``,
    ``raw/triplet-type-list.csv.gz``, per edge type ``raw/relations/<src>___<rel>___<dst>/``
    with ``edge.csv.gz``, ``num-edge-list.csv.gz`` and ``edge_reltype.csv.gz``, per featured type
    ``raw/node-feat/<type>/node-feat.csv.gz`` (float16 written as float32),
    ``raw/nodetype-has-label.csv.gz``, ``raw/node-label/<target>/node-label.csv.gz``,
    ``split/random/nodetype-has-split.csv.gz`` and ``split/random/<target>/{train,valid,test}.csv.gz``.
    Both add ``RELEASE_v1.txt``, an empty ``processed/`` (where ogb caches its parsed copy) and
    ``master.csv``: ogb's master-list column for ``name``, which :func:`load_ogb` passes as
    ``meta_dict`` so nothing is downloaded. Written atomically (the whole folder or nothing).

    Cost: text output, about 1 s per million edges or feature rows on one core; meant for
    exchanging datasets with OGB tooling, not as a cache (use the synthetic ``root`` cache).

    Returns:
        The dataset folder.

    Raises:
        ValueError: ``name`` does not start with ``ogbn-`` or is an official OGB name; a node
            type or relation that cannot name a folder of ogb's layout.
        TypeError: ``dataset`` is neither dataset type.
    """
    if not name.startswith("ogbn-"):
        raise ValueError(f"name must start with 'ogbn-' (OGB's node-property prefix), got {name!r}")
    if _canonical_name(name) in OGB_NAMES:
        raise ValueError(f"name {name!r} is an official OGB dataset; pick another ogbn-* name")
    hetero = isinstance(dataset, HeteroNodeDataset)
    if not hetero and not isinstance(dataset, NodeDataset):
        raise TypeError(f"dataset must be a NodeDataset or HeteroNodeDataset, got {type(dataset).__name__}")
    multilabel = not hetero and dataset.multilabel
    folder = Path(root) / _dir_name(name)
    num_tasks = dataset.num_classes if multilabel else 1
    master = {
        "num tasks": num_tasks,
        "num classes": 2 if multilabel else dataset.num_classes,
        "eval metric": "rocauc" if multilabel else "acc",
        "task type": "binary classification" if multilabel else "multiclass classification",
        "download_name": _dir_name(name),
        "version": _VERSION,
        "url": "",
        "add_inverse_edge": "False",
        "has_node_attr": str(bool(dataset.x) if hetero else dataset.x is not None),
        "has_edge_attr": "False",
        "split": _SPLIT_TYPE,
        "additional node files": "None",
        "additional edge files": "edge_reltype" if hetero else "None",
        "is hetero": str(hetero),
        "binary": "False",
    }
    with atomic_dir(folder, OGB_KIND, derived=("processed/data_processed",)) as tmp:
        (tmp / "processed").mkdir()  # ogb saves its processed copy here and does not create it
        if hetero:
            _write_hetero_raw(dataset, tmp)
        else:
            _write_homogeneous_raw(dataset, tmp)
        _write_release_and_master(tmp, name, master)
    return folder
