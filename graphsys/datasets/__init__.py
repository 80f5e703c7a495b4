"""Datasets: Planetoid, BlogCatalog, edge lists, OGB and synthetic graphs of any scale.

Every loader returns :class:`NodeDataset` (one node type) or, for heterogeneous graphs (ogbn-mag,
synthetic-mag, synthetic-mag240m), :class:`HeteroNodeDataset`; :func:`load` picks the loader by
name. Link-prediction datasets (``ogbl-*``, ``synthetic-citation2``) come back as
:class:`LinkDataset`, their splits as :class:`LinkSplit`, scored by :func:`evaluate_link`;
:func:`load_link` (or :func:`random_link_split`) gives any other dataset a seeded random edge split.
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
from graphsys.datasets.ogb_link import write_ogb_link_dataset
from graphsys.datasets.registry import load, load_link, names
from graphsys.datasets.splits import random_link_split

__all__ = ["HeteroNodeDataset", "LinkDataset", "LinkSplit", "NodeDataset", "chung_lu", "evaluate", "evaluate_link",
           "load", "load_link", "mean_features", "names", "random_link_split", "write_ogb_link_dataset",
           "write_ogb_node_dataset"]
