"""BlogCatalog: the multi-label social network of the node-embedding literature (DeepWalk, LINE, node2vec)."""
from __future__ import annotations

import os
import zlib

import numpy as np
import torch

from graphsys.datasets.base import NodeDataset
from graphsys.datasets.paths import resolve_root
from graphsys.datasets.splits import random_split
from graphsys.graph import Graph
from graphsys.io import CorruptFileError


def load_blogcatalog(
    root: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    train_ratio: float = 0.5,
    val_ratio: float = 0.0,
) -> NodeDataset:
    """Load ``root/blogcatalog.mat`` (MATLAB v5: ``network`` adjacency, ``group`` labels).

    10,312 nodes, 333,983 undirected edges stored both ways (667,966 entries), 39 labels
    (``multilabel=True``, ``y`` an int64 0/1 matrix). No features (``x is None``). The
    dataset has no official split: ``train_ratio`` / ``val_ratio`` of the nodes are drawn
    with ``seed``, the rest is the test set (default 50 % labelled, as in the papers).

    Raises:
        FileNotFoundError: no ``blogcatalog.mat`` under ``root``.
        CorruptFileError (a ValueError): the file is truncated or not a MATLAB v5 file, lacks
            ``network`` or ``group``, holds something else under those names, or their shapes
            disagree. (``loadmat`` reads arrays only; it never unpickles or runs code.)
    """
    import scipy.io
    import scipy.sparse as sp

    base = resolve_root(root)
    path = base / "blogcatalog.mat"
    if not path.is_file() and (base / "blogcatalog" / "blogcatalog.mat").is_file():
        path = base / "blogcatalog" / "blogcatalog.mat"
    if not path.is_file():
        raise FileNotFoundError(f"blogcatalog: {path} not found (pass root= the folder holding blogcatalog.mat)")
    try:
        mat = scipy.io.loadmat(path)
    except FileNotFoundError:
        raise
    except NotImplementedError as err:  # MATLAB v7.3 (HDF5)
        raise CorruptFileError(f"{path}: not a MATLAB v5 file ({err}); save it with -v7 or older") from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OSError, EOFError, OverflowError,
            MemoryError, UnicodeDecodeError, zlib.error, scipy.io.matlab.MatReadError) as err:
        raise CorruptFileError(f"{path} is truncated or not a MATLAB v5 file "
                               f"(scipy.io.loadmat: {type(err).__name__}: {err})") from None
    for key in ("network", "group"):
        if key not in mat:
            raise CorruptFileError(f"{path}: no variable {key!r} "
                                   f"(found {sorted(k for k in mat if not k.startswith('__'))})")
    adjacency, groups = mat["network"], mat["group"]
    for key, value in (("network", adjacency), ("group", groups)):
        if not sp.issparse(value):
            kind = f"a {value.ndim}-D {value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__
            raise CorruptFileError(f"{path}: {key!r} is {kind}, expected a sparse matrix")
    if adjacency.shape[0] != adjacency.shape[1]:
        raise CorruptFileError(f"{path}: 'network' has shape {adjacency.shape}, expected a square adjacency matrix")
    if groups.shape[0] != adjacency.shape[0]:
        raise CorruptFileError(
            f"{path}: 'group' has {groups.shape[0]} rows but 'network' has {adjacency.shape[0]} nodes"
        )
    graph = Graph.from_scipy(adjacency, symmetrize=True, drop_self_loops=True)
    y = torch.from_numpy((np.asarray(groups.todense()) != 0).astype(np.int64))
    train_idx, val_idx, test_idx = random_split(graph.num_nodes, train_ratio, val_ratio, seed)
    return NodeDataset(
        name="blogcatalog",
        graph=graph,
        x=None,
        y=y,
        train_idx=train_idx,
        val_idx=val_idx,
        test_idx=test_idx,
        num_classes=int(y.shape[1]),
        multilabel=True,
    )
