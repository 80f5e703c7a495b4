"""Datasets: Planetoid, BlogCatalog, edge lists, OGB and synthetic graphs of any scale.

Every loader returns one type, :class:`NodeDataset`; :func:`load` picks the loader by name.

Example:
    >>> from graphsys.datasets import load, names
    >>> "cora" in names()
    True
"""
from graphsys.datasets.base import NodeDataset
from graphsys.datasets.evaluate import evaluate
from graphsys.datasets.generator import chung_lu
from graphsys.datasets.ogb import write_ogb_node_dataset
from graphsys.datasets.registry import load, names

__all__ = ["NodeDataset", "chung_lu", "evaluate", "load", "names", "write_ogb_node_dataset"]
