"""Datasets: Planetoid, BlogCatalog, edge lists, OGB and synthetic graphs of any scale.

Every loader returns :class:`NodeDataset` (one node type) or, for heterogeneous graphs (ogbn-mag,
synthetic-mag, synthetic-mag240m), :class:`HeteroNodeDataset`; :func:`load` picks the loader by
name. Link-prediction datasets (``ogbl-*``, ``synthetic-citation2``) come back as
:class:`LinkDataset`, their splits as :class:`LinkSplit`, scored by :func:`evaluate_link`.
:func:`mean_features` derives features for a heterogeneous dataset's featureless types.

Example:
    >>> from graphsys.datasets import load, names
    >>> "cora" in names()
    True
"""
from graphsys.datasets.base import HeteroNodeDataset, LinkDataset, LinkSplit, NodeDataset
from graphsys.datasets.evaluate import evaluate, evaluate_link
from graphsys.datasets.features import mean_features
from graphsys.datasets.generator import chung_lu
from graphsys.datasets.ogb import write_ogb_node_dataset
from graphsys.datasets.registry import load, names

__all__ = ["HeteroNodeDataset", "LinkDataset", "LinkSplit", "NodeDataset", "chung_lu", "evaluate", "evaluate_link",
           "load", "mean_features", "names", "write_ogb_node_dataset"]
