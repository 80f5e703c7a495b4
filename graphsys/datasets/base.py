"""The result types of the dataset loaders: :class:`NodeDataset` (one node type) and
:class:`HeteroNodeDataset` (typed nodes and edges, labels on one target type)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from graphsys.graph import Graph
from graphsys.hetero_graph import HeteroGraph


def physical_memory() -> int | None:
    """Total physical memory of this machine in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_index(dataset: str, name: str, idx: torch.Tensor, num_nodes: int, of: str = "") -> None:
    if not isinstance(idx, torch.Tensor) or idx.dtype != torch.int64:
        got = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise TypeError(f"{dataset}: {name} must be an int64 tensor, got {got}")
    if idx.dim() != 1:
        raise ValueError(f"{dataset}: {name} must be 1-D, got shape {tuple(idx.shape)}")
    if idx.numel():
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num_nodes:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{dataset}: {name} holds node id {bad}, outside [0, {num_nodes}){of}")


@dataclass(frozen=True)
class NodeDataset:
    """A graph with node features, node labels and a train/val/test split.

    Attributes:
        name: the dataset's name as :func:`graphsys.datasets.load` knows it (or the file path).
        graph: the topology (CSR over in-neighbours; undirected graphs store both directions).
        x: node features ``[num_nodes, num_features]`` (float32, or float16 for the largest
            presets); may be backed by a memory map, so index it rather than copying it whole.
            ``None`` for featureless graphs (BlogCatalog, plain edge lists): embedding methods
            learn from the topology alone.
        y: single-label: int64 ``[num_nodes]`` class ids with ``-1`` for unlabelled nodes;
            multi-label (``multilabel=True``): a ``[num_nodes, num_classes]`` 0/1 tensor.
        train_idx, val_idx, test_idx: int64 node ids of each split (sorted, disjoint); empty
            when the dataset has no split.
        num_classes: number of classes (or labels, for multi-label); 0 for unlabelled graphs.
        multilabel: whether ``y`` is a 0/1 matrix rather than one class per node.

    Example:
        >>> from graphsys.datasets import load
        >>> ds = load("synthetic-arxiv", scale=0.01)
        >>> ds.num_nodes == ds.graph.num_nodes and ds.x.shape[1] == ds.num_features
        True
    """

    name: str
    graph: Graph
    x: torch.Tensor | None
    y: torch.Tensor
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    test_idx: torch.Tensor
    num_classes: int
    multilabel: bool = False

    def __post_init__(self) -> None:
        n = self.graph.num_nodes
        if self.x is not None:
            if not isinstance(self.x, torch.Tensor) or not self.x.is_floating_point():
                got = self.x.dtype if isinstance(self.x, torch.Tensor) else type(self.x).__name__
                raise TypeError(f"{self.name}: x must be a float tensor, got {got}")
            if self.x.dim() != 2 or self.x.shape[0] != n:
                raise ValueError(f"{self.name}: x must have shape [{n}, F], got {tuple(self.x.shape)}")
        if not isinstance(self.y, torch.Tensor):
            raise TypeError(f"{self.name}: y must be a tensor, got {type(self.y).__name__}")
        expected = (n, self.num_classes) if self.multilabel else (n,)
        if tuple(self.y.shape) != expected:
            raise ValueError(f"{self.name}: y must have shape {list(expected)}, got {tuple(self.y.shape)}")
        if not self.multilabel and self.y.dtype != torch.int64:
            raise TypeError(f"{self.name}: single-label y must be int64, got {self.y.dtype}")
        if self.num_classes < 0:
            raise ValueError(f"{self.name}: num_classes must be >= 0, got {self.num_classes}")
        for split in ("train_idx", "val_idx", "test_idx"):
            _check_index(self.name, split, getattr(self, split), n)

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return self.graph.num_nodes

    @property
    def num_features(self) -> int:
        """Feature width; 0 for a featureless graph."""
        return 0 if self.x is None else int(self.x.shape[1])

    def to_pyg(self):
        """The dataset as a ``torch_geometric.data.Data`` (``edge_index``, ``x``, ``y`` and split masks).

        Cost: builds ``edge_index`` (2 x E int64) and three boolean masks; ``x`` and ``y`` are shared.
        """
        from torch_geometric.data import Data

        data = Data(x=self.x, edge_index=self.graph.to_edge_index(), y=self.y, num_nodes=self.num_nodes)
        _split_masks(data, self.num_nodes, {"train": self.train_idx, "val": self.val_idx, "test": self.test_idx})
        return data

    def __repr__(self) -> str:
        return (
            f"NodeDataset(name={self.name!r}, num_nodes={self.num_nodes}, num_edges={self.graph.num_edges}, "
            f"num_features={self.num_features}, num_classes={self.num_classes}, multilabel={self.multilabel}, "
            f"split={self.train_idx.numel()}/{self.val_idx.numel()}/{self.test_idx.numel()})"
        )


def _split_masks(data_store, num_nodes: int, splits: dict[str, torch.Tensor]) -> None:
    for split, idx in splits.items():
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[idx] = True
        data_store[f"{split}_mask"] = mask


@dataclass(frozen=True)
class HeteroNodeDataset:
    """A heterogeneous graph with features per node type, and labels and a split on one target type.

    Attributes:
        name: the dataset's name as :func:`graphsys.datasets.load` knows it.
        graph: the topology (one in-neighbour CSR per edge type), on the CPU; may be memory-mapped.
        x: node features per node type, ``{node_type: float tensor [num_nodes(node_type), F]}``,
            for the types that have them (ogbn-mag: papers only); may be memory-mapped, so index
            rows rather than copying a table whole. :func:`~graphsys.datasets.mean_features`
            derives the others.
        y: int64 ``[num_nodes(target)]`` class ids, ``-1`` for unlabelled nodes.
        train_idx, val_idx, test_idx: int64 ids of ``target`` nodes (sorted, disjoint).
        num_classes: number of classes.
        target: the node type that carries ``y`` and the split (``"paper"``).
        path: the folder the dataset was opened from (derived features are kept under it);
            ``None`` for a dataset in memory.

    Example:
        >>> from graphsys.datasets import load
        >>> ds = load("synthetic-mag", scale=0.002)
        >>> ds.target, ds.num_features, sorted(ds.featureless_types)
        ('paper', 128, ['author', 'field_of_study', 'institution'])
    """

    name: str
    graph: HeteroGraph
    x: dict[str, torch.Tensor]
    y: torch.Tensor
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    test_idx: torch.Tensor
    num_classes: int
    target: str
    path: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.graph, HeteroGraph):
            raise TypeError(f"{self.name}: graph must be a graphsys.HeteroGraph, got {type(self.graph).__name__}")
        counts = self.graph.num_nodes_dict
        if self.target not in counts:
            raise ValueError(f"{self.name}: target {self.target!r} is not a node type of the graph "
                             f"(node types: {list(counts)})")
        if not isinstance(self.x, dict):
            raise TypeError(f"{self.name}: x must be a dict of node type -> features, got {type(self.x).__name__}")
        for node_type, feat in self.x.items():
            if node_type not in counts:
                raise ValueError(f"{self.name}: x has node type {node_type!r}, which the graph does not "
                                 f"(node types: {list(counts)})")
            if not isinstance(feat, torch.Tensor) or not feat.is_floating_point():
                got = feat.dtype if isinstance(feat, torch.Tensor) else type(feat).__name__
                raise TypeError(f"{self.name}: x[{node_type!r}] must be a float tensor, got {got}")
            if feat.dim() != 2 or feat.shape[0] != counts[node_type]:
                raise ValueError(f"{self.name}: x[{node_type!r}] must have shape [{counts[node_type]}, F] "
                                 f"(one row per {node_type!r} node), got {tuple(feat.shape)}")
        n = counts[self.target]
        if not isinstance(self.y, torch.Tensor) or self.y.dtype != torch.int64:
            got = self.y.dtype if isinstance(self.y, torch.Tensor) else type(self.y).__name__
            raise TypeError(f"{self.name}: y must be an int64 tensor, got {got}")
        if tuple(self.y.shape) != (n,):
            raise ValueError(f"{self.name}: y must have shape [{n}] (one label per {self.target!r} node), "
                             f"got {tuple(self.y.shape)}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"{self.name}: num_classes must be an int >= 0, got {self.num_classes!r}")
        for split in ("train_idx", "val_idx", "test_idx"):
            _check_index(self.name, split, getattr(self, split), n, of=f" ({self.target!r} nodes)")

    @property
    def num_nodes(self) -> dict[str, int]:
        """Node count per node type."""
        return self.graph.num_nodes_dict

    @property
    def num_features(self) -> int:
        """Feature width of the target type; 0 when it has no features."""
        feat = self.x.get(self.target)
        return 0 if feat is None else int(feat.shape[1])

    @property
    def featureless_types(self) -> list[str]:
        """The node types without features, in the graph's order."""
        return [t for t in self.graph.node_types if t not in self.x]

    def to_pyg(self):
        """The dataset as a ``torch_geometric.data.HeteroData``: ``num_nodes`` and ``x`` per node
        type, ``y`` and ``train_mask`` / ``val_mask`` / ``test_mask`` on the target type,
        ``edge_index`` per edge type.

        Cost: builds every ``edge_index`` (2 x E int64 per edge type) and three boolean masks;
        ``x`` and ``y`` are shared (memory maps stay memory maps).
        """
        from torch_geometric.data import HeteroData

        data = HeteroData()
        for node_type, count in self.num_nodes.items():
            data[node_type].num_nodes = count
            if node_type in self.x:
                data[node_type].x = self.x[node_type]
        data[self.target].y = self.y
        _split_masks(data[self.target], self.num_nodes[self.target],
                     {"train": self.train_idx, "val": self.val_idx, "test": self.test_idx})
        for edge_type, edge_index in self.graph.to_edge_index_dict().items():
            data[edge_type].edge_index = edge_index
        return data

    def __repr__(self) -> str:
        widths = {t: int(f.shape[1]) for t, f in self.x.items()}
        return (f"HeteroNodeDataset(name={self.name!r}, target={self.target!r}, num_nodes={self.num_nodes}, "
                f"num_edges={self.graph.num_edges_dict}, num_features={widths}, num_classes={self.num_classes}, "
                f"split={self.train_idx.numel()}/{self.val_idx.numel()}/{self.test_idx.numel()})")
