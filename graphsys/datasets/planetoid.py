"""Planetoid citation graphs (Cora, CiteSeer) from their raw ``ind.<name>.*`` files.

The files are the ones of the Planetoid paper's repository (and of PyG's ``Planetoid``
dataset): ``root/<name>/raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``.

All but ``test.index`` are Python 2 pickles. They are read with :class:`_PlanetoidUnpickler`,
which builds only what those files hold (numpy arrays, scipy CSR matrices, lists and
dicts of ints) and refuses every other global before anything is called, so a planted file
cannot run code (DESIGN.md, Files). A truncated, garbled or inconsistent file is refused
with :class:`~graphsys.io.CorruptFileError` naming it.
"""
from __future__ import annotations

import collections
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from graphsys.datasets.base import NodeDataset
from graphsys.datasets.paths import find_dir, resolve_root
from graphsys.graph import Graph
from graphsys.io import CorruptFileError

log = logging.getLogger(__name__)

#: Lower-case dataset name -> folder names tried under ``root`` (ours first, then PyG's spelling).
PLANETOID = {"cora": ["cora", "Cora"], "citeseer": ["citeseer", "CiteSeer"]}
_FILES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]
#: Largest dense feature matrix a Planetoid file may claim (elements): PubMed, the largest, has 1e7.
_MAX_DENSE = 1 << 31
_ALLOWED_WHAT = "only numpy/scipy arrays and plain lists/dicts are allowed"


# --------------------------------------------------------------------------- restricted unpickling
class _NDArrayType:
    """Stands in for ``numpy.ndarray`` inside a pickle: it may only be the type argument of
    ``_reconstruct``, never be called."""

    def __init__(self, file: str) -> None:
        self.file = file

    def __call__(self, *args, **kwargs):
        raise CorruptFileError(f"{self.file}: refusing to call numpy.ndarray from a pickle ({_ALLOWED_WHAT})")


class _PickledCSR:
    """Receives the state of a pickled ``scipy.sparse.csr_matrix`` (``NEWOBJ`` then ``BUILD``);
    :func:`_csr_from_state` checks it and builds the real matrix. Calling it (``REDUCE``) is refused."""

    def __init__(self, *args, **kwargs) -> None:
        raise CorruptFileError(f"refusing to call scipy.sparse.csr_matrix from a pickle ({_ALLOWED_WHAT})")

    def __setstate__(self, state) -> None:
        self.state = state


class _PlanetoidUnpickler(pickle.Unpickler):
    """A pickle reader that resolves only the globals Planetoid's files use.

    ``numpy.ndarray`` / ``numpy.dtype`` / ``_reconstruct`` are replaced by checked stand-ins:
    an array is at most as large as the file (its bytes come from the file), object dtypes
    are refused, and a CSR matrix is built from its checked parts. Any other global (``os.system``,
    ``builtins.eval``, ...) raises :class:`CorruptFileError` naming the file and the global
    before it is looked up, so nothing in the file is called.
    """

    def __init__(self, file, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path
        self.size = path.stat().st_size
        self.ndarray = _NDArrayType(str(path))
        containers = {"list": list, "dict": dict, "tuple": tuple, "set": set, "frozenset": frozenset}
        self.allowed = {
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy", "ndarray"): self.ndarray,
            ("numpy", "dtype"): self._dtype,
            ("scipy.sparse.csr", "csr_matrix"): _PickledCSR,
            ("scipy.sparse._csr", "csr_matrix"): _PickledCSR,
            ("scipy.sparse", "csr_matrix"): _PickledCSR,
            ("collections", "defaultdict"): self._defaultdict,
            ("_codecs", "encode"): self._encode,  # how Python 3's protocol 2 spells bytes
        }
        for module in ("builtins", "__builtin__"):
            self.allowed[(module, "bytes")] = self._empty_bytes  # and how it spells b""
        for module in ("builtins", "__builtin__"):
            self.allowed.update({(module, name): kind for name, kind in containers.items()})

    def find_class(self, module: str, name: str):
        found = self.allowed.get((module, name))
        if found is None:
            raise CorruptFileError(f"{self.path}: refusing to unpickle {module}.{name} ({_ALLOWED_WHAT})")
        return found

    def persistent_load(self, pid):
        raise CorruptFileError(f"{self.path}: refusing a pickle persistent id ({_ALLOWED_WHAT})")

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not self.ndarray:
            raise CorruptFileError(f"{self.path}: _reconstruct of {type(subtype).__name__}, expected numpy.ndarray")
        if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
            raise CorruptFileError(f"{self.path}: an array shape {shape!r} is not a tuple of sizes")
        kind = self._dtype(dtype)
        if int(np.prod(shape, dtype=np.float64)) * kind.itemsize > self.size:
            raise CorruptFileError(f"{self.path}: an array of shape {shape} is larger than the file")
        return np.ndarray(shape, dtype=kind)

    def _dtype(self, spec, align=False, copy=False):
        if not isinstance(spec, (str, bytes, np.dtype)):
            raise CorruptFileError(f"{self.path}: a dtype given as {type(spec).__name__}, expected a type code")
        try:
            kind = np.dtype(spec)
        except (TypeError, ValueError) as err:
            raise CorruptFileError(f"{self.path}: unknown dtype {spec!r} ({err})") from None
        if kind.hasobject:
            raise CorruptFileError(f"{self.path}: holds Python objects (dtype {kind}); only numeric arrays are allowed")
        return np.dtype(spec, bool(align), bool(copy))

    def _encode(self, text, encoding="latin1"):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise CorruptFileError(f"{self.path}: _codecs.encode of {type(text).__name__} as {encoding!r}, expected "
                                   "text as latin1 (protocol 2 bytes)")
        return text.encode("latin1")

    def _empty_bytes(self, *args):
        if args:
            raise CorruptFileError(f"{self.path}: refusing to call bytes{args!r} from a pickle ({_ALLOWED_WHAT})")
        return b""

    def _defaultdict(self, factory=None):
        if factory is not list and factory is not None:
            raise CorruptFileError(f"{self.path}: a defaultdict of {factory!r}, expected one of lists")
        return collections.defaultdict(factory)


def _unpickle(path: Path):
    """The one object pickled in ``path``, read with :class:`_PlanetoidUnpickler`.

    Raises:
        CorruptFileError: a refused global, a truncated or garbled pickle, or bytes after its end.
    """
    with open(path, "rb") as f:
        try:
            obj = _PlanetoidUnpickler(f, path).load()
        except CorruptFileError:
            raise
        except EOFError as err:
            raise CorruptFileError(f"{path} is truncated: its pickle ends before its last object ({err})") from None
        except pickle.UnpicklingError as err:
            what = "truncated" if "truncated" in str(err) else "garbled"
            raise CorruptFileError(f"{path} is {what}: not a readable Planetoid pickle ({err})") from None
        except (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, MemoryError,
                UnicodeDecodeError, RecursionError) as err:
            raise CorruptFileError(f"{path} is garbled: not a readable Planetoid pickle "
                                   f"({type(err).__name__}: {err})") from None
        trailing = len(f.read())
    if trailing:
        raise CorruptFileError(f"{path} is garbled: {trailing} bytes follow the end of its pickle")
    return obj


def _numeric(path: Path, array, what: str) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        got = f"an array of {array.dtype}" if isinstance(array, np.ndarray) else type(array).__name__
        raise CorruptFileError(f"{path}: {what} is {got}, expected a numeric array")
    return array


def _csr_from_state(path: Path, obj: _PickledCSR):
    import scipy.sparse as sp

    state = getattr(obj, "state", None)
    if not isinstance(state, dict) or not {"data", "indices", "indptr", "_shape"} <= set(state):
        raise CorruptFileError(f"{path}: a csr_matrix without its data, indices, indptr and shape")
    data = _numeric(path, state["data"], "the matrix data")
    indices = _numeric(path, state["indices"], "the matrix indices")
    indptr = _numeric(path, state["indptr"], "the matrix indptr")
    shape = state["_shape"]
    if not isinstance(shape, tuple) or len(shape) != 2 or not all(type(d) is int and d >= 0 for d in shape):
        raise CorruptFileError(f"{path}: a csr_matrix of shape {shape!r}, expected two sizes")
    if shape[0] * shape[1] > _MAX_DENSE:
        raise CorruptFileError(f"{path}: claims a {shape[0]} x {shape[1]} feature matrix, larger than any Planetoid "
                               "dataset")
    try:
        matrix = sp.csr_matrix((data, indices, indptr), shape=shape)
        matrix.check_format(full_check=True)
    except (ValueError, TypeError, IndexError) as err:
        raise CorruptFileError(f"{path}: an inconsistent csr_matrix ({err})") from None
    return matrix


def _read_matrix(path: Path) -> np.ndarray | object:
    """A features (CSR, kept sparse) or labels (dense) matrix, 2-D and numeric."""
    obj = _unpickle(path)
    if isinstance(obj, _PickledCSR):
        return _csr_from_state(path, obj)
    array = _numeric(path, obj, "the pickled object")
    if array.ndim != 2:
        raise CorruptFileError(f"{path}: a {array.ndim}-D array, expected a 2-D matrix")
    return array


def _read_graph(path: Path, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) int64 arrays of the adjacency dict ``{node: [neighbours]}``."""
    graph = _unpickle(path)
    if not isinstance(graph, dict):
        raise CorruptFileError(f"{path}: holds a {type(graph).__name__}, expected a dict of neighbour lists")
    keys, cols, lengths = [], [], []
    for key, nbrs in graph.items():
        if type(key) is not int or not isinstance(nbrs, list):
            raise CorruptFileError(f"{path}: entry {key!r}: {type(nbrs).__name__}, expected node id -> list of ids")
        keys.append(key)
        lengths.append(len(nbrs))
        cols.extend(nbrs)
    src = np.repeat(np.asarray(keys, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
    dst = np.asarray(cols) if cols else np.zeros(0, dtype=np.int64)
    if dst.dtype.kind not in "iu":
        raise CorruptFileError(f"{path}: a neighbour list holds {dst.dtype} values, expected node ids")
    dst = dst.astype(np.int64, copy=False)
    for ids in (src, dst):
        if ids.size and (ids.min() < 0 or ids.max() >= num_nodes):
            bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
            raise CorruptFileError(f"{path}: node id {bad} is outside [0, {num_nodes})")
    return src, dst


def _read_test_index(path: Path) -> np.ndarray:
    """``ind.<name>.test.index``: one node id per line (text)."""
    try:
        text = path.read_bytes().decode("ascii")
    except UnicodeDecodeError as err:
        raise CorruptFileError(f"{path}: not a text file of node ids (byte {err.start} is not ASCII)") from None
    ids = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            ids.append(int(line))
        except ValueError:
            raise CorruptFileError(f"{path}, line {number}: expected a node id, got {line[:40]!r}") from None
    if not ids:
        raise CorruptFileError(f"{path}: holds no node ids")
    return np.asarray(ids, dtype=np.int64)


def _agree(paths: dict[str, Path], part: str, matrix, axis: int, ref: str, ref_matrix, what: str) -> None:
    """CorruptFileError unless ``matrix`` (file ``part``) has as many ``what`` along ``axis`` as file ``ref``."""
    if matrix.shape[axis] != ref_matrix.shape[axis]:
        raise CorruptFileError(f"{paths[part]}: {matrix.shape[axis]} {what}, but {paths[ref].name} has "
                               f"{ref_matrix.shape[axis]}")


def _dense(matrix) -> torch.Tensor:
    array = np.asarray(matrix.todense()) if hasattr(matrix, "todense") else matrix
    return torch.from_numpy(np.ascontiguousarray(array)).to(torch.float)


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> NodeDataset:
    """Load Cora or CiteSeer with the standard split (20 labelled nodes per class, 500 val, 1,000 test).

    The graph is made symmetric, without self loops or repeated edges (Cora: 10,556
    directed edges). The 15 CiteSeer nodes whose rows the raw files lack (gaps in its
    test index) get ``y = -1`` and zero features, and belong to no split. The result equals
    PyG's ``Planetoid`` (its ``read_planetoid_data``), read without unpickling code.

    Args:
        name: ``"cora"`` or ``"citeseer"``.
        root: folder holding ``<name>/raw`` (default: see :func:`~graphsys.datasets.paths.resolve_root`).

    Raises:
        FileNotFoundError: the raw folder or one of its eight files is missing.
        CorruptFileError: a file is truncated, garbled, inconsistent with the others, or holds
            anything but arrays and lists (a pickle that would call other code is refused
            before any of it runs).
    """
    key = name.lower()
    base = resolve_root(root)
    folder = find_dir(base, [f"{d}/raw" for d in PLANETOID[key]], f"Planetoid {key} raw files")
    paths = {}
    for part in _FILES:
        path = folder / f"ind.{key}.{part}"
        if not path.is_file():
            raise FileNotFoundError(f"{key}: missing raw file {path}")
        paths[part] = path
    log.info("reading %s from %s", key, folder)
    x, tx, allx, y, ty, ally = (_read_matrix(paths[part]) for part in ("x", "tx", "allx", "y", "ty", "ally"))
    test_index = _read_test_index(paths["test.index"])
    if tx.shape[0] != len(test_index) or ty.shape[0] != len(test_index):
        bad = "tx" if tx.shape[0] != len(test_index) else "ty"
        raise CorruptFileError(f"{paths[bad]}: {(tx if bad == 'tx' else ty).shape[0]} rows, but "
                               f"{paths['test.index'].name} lists {len(test_index)} test nodes")
    _agree(paths, "y", y, 0, "x", x, "rows")
    _agree(paths, "ally", ally, 0, "allx", allx, "rows")
    for part, matrix in (("x", x), ("tx", tx)):
        _agree(paths, part, matrix, 1, "allx", allx, "features")
    for part, matrix in (("y", y), ("ty", ty)):
        _agree(paths, part, matrix, 1, "ally", ally, "classes")
    if len(np.unique(test_index)) != len(test_index) or test_index.min() < ally.shape[0]:
        raise CorruptFileError(f"{paths['test.index']}: test ids must be distinct and >= {ally.shape[0]} "
                               "(the labelled rows come first)")
    if y.shape[0] + 500 > ally.shape[0]:
        raise CorruptFileError(f"{paths['ally']}: {ally.shape[0]} rows, fewer than the {y.shape[0]} training and "
                               "500 validation nodes")

    # As PyG's read_planetoid_data: the test rows are stored in sorted order; CiteSeer's test
    # ids skip some positions, which get zero rows.
    test = torch.from_numpy(test_index)
    sorted_test = test.sort()[0]
    tx_t, ty_t = _dense(tx), _dense(ty)
    span = int(test.max()) - int(test.min()) + 1
    if key == "citeseer":
        tx_ext = torch.zeros(span, tx_t.size(1), dtype=tx_t.dtype)
        tx_ext[sorted_test - test.min(), :] = tx_t
        ty_ext = torch.zeros(span, ty_t.size(1), dtype=ty_t.dtype)
        ty_ext[sorted_test - test.min(), :] = ty_t
        tx_t, ty_t = tx_ext, ty_ext
    num_nodes = ally.shape[0] + tx_t.size(0)
    if int(test.max()) >= num_nodes:
        raise CorruptFileError(f"{paths['test.index']}: test id {int(test.max())} is outside the {num_nodes} nodes "
                               f"of {paths['allx'].name} and {paths['tx'].name}")
    x_t = torch.cat([_dense(allx), tx_t], dim=0)
    x_t[test] = x_t[sorted_test]
    y_t = torch.cat([_dense(ally), ty_t], dim=0).max(dim=1)[1]
    y_t[test] = y_t[sorted_test]
    src, dst = _read_graph(paths["graph"], num_nodes)

    # CiteSeer's padded test positions carry no label at all: mark them unlabelled.
    padded = torch.ones(span, dtype=torch.bool)
    padded[test - test.min()] = False
    y_t[int(test.min()) + padded.nonzero().view(-1)] = -1
    graph = Graph.from_coo(src, dst, num_nodes, symmetrize=True, drop_self_loops=True)
    train_idx = torch.arange(y.shape[0], dtype=torch.int64)
    val_idx = torch.arange(y.shape[0], y.shape[0] + 500, dtype=torch.int64)
    return NodeDataset(
        name=key,
        graph=graph,
        x=x_t.contiguous().float(),
        y=y_t,
        train_idx=train_idx,
        val_idx=val_idx,
        test_idx=sorted_test,
        num_classes=int(y_t.max()) + 1,
    )
