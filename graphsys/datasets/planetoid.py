"""Planetoid citation graphs (Cora, CiteSeer) from their raw ``ind.<name>.*`` files.

The files are the ones of the Planetoid paper's repository (and of PyG's ``Planetoid``
dataset): ``root/<name>/raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``.
"""
from __future__ import annotations

import logging
import os

import torch

from graphsys.datasets.base import NodeDataset
from graphsys.datasets.paths import find_dir, resolve_root
from graphsys.graph import Graph

log = logging.getLogger(__name__)

#: Lower-case dataset name -> folder names tried under ``root`` (ours first, then PyG's spelling).
PLANETOID = {"cora": ["cora", "Cora"], "citeseer": ["citeseer", "CiteSeer"]}
_FILES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> NodeDataset:
    """Load Cora or CiteSeer with the standard split (20 labelled nodes per class, 500 val, 1,000 test).

    The graph is made symmetric, without self loops or repeated edges (Cora: 10,556
    directed edges). The 15 CiteSeer nodes whose rows the raw files lack (gaps in its
    test index) get ``y = -1`` and zero features, and belong to no split.

    Args:
        name: ``"cora"`` or ``"citeseer"``.
        root: folder holding ``<name>/raw`` (default: see :func:`~graphsys.datasets.paths.resolve_root`).

    Raises:
        FileNotFoundError: the raw folder or one of its eight files is missing.
    """
    from torch_geometric.io import read_planetoid_data
    from torch_geometric.io.planetoid import read_file

    key = name.lower()
    base = resolve_root(root)
    folder = find_dir(base, [f"{d}/raw" for d in PLANETOID[key]], f"Planetoid {key} raw files")
    for part in _FILES:
        path = folder / f"ind.{key}.{part}"
        if not path.is_file():
            raise FileNotFoundError(f"{key}: missing raw file {path}")
    log.info("reading %s from %s", key, folder)
    data = read_planetoid_data(str(folder), key)
    y = data.y.clone()
    x = data.x.contiguous().float()
    # CiteSeer's test ids skip some positions: PyG pads them with zero rows and class 0;
    # they carry no label at all, so mark them unlabelled.
    test_index = read_file(str(folder), key, "test.index")
    padded = torch.ones(int(test_index.max()) - int(test_index.min()) + 1, dtype=torch.bool)
    padded[test_index - test_index.min()] = False
    y[int(test_index.min()) + padded.nonzero().view(-1)] = -1
    graph = Graph.from_edge_index(data.edge_index, data.num_nodes, symmetrize=True, drop_self_loops=True)
    return NodeDataset(
        name=key,
        graph=graph,
        x=x,
        y=y,
        train_idx=data.train_mask.nonzero().view(-1),
        val_idx=data.val_mask.nonzero().view(-1),
        test_idx=data.test_mask.nonzero().view(-1),
        num_classes=int(y.max()) + 1,
    )
