"""The one result type of every dataset loader: :class:`NodeDataset`."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from graphsys.graph import Graph


def physical_memory() -> int | None:
    """Total physical memory of this machine in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_index(dataset: str, name: str, idx: torch.Tensor, num_nodes: int) -> None:
    if not isinstance(idx, torch.Tensor) or idx.dtype != torch.int64:
        got = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise TypeError(f"{dataset}: {name} must be an int64 tensor, got {got}")
    if idx.dim() != 1:
        raise ValueError(f"{dataset}: {name} must be 1-D, got shape {tuple(idx.shape)}")
    if idx.numel():
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num_nodes:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{dataset}: {name} holds node id {bad}, outside [0, {num_nodes})")


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
        for split in ("train", "val", "test"):
            mask = torch.zeros(self.num_nodes, dtype=torch.bool)
            mask[getattr(self, f"{split}_idx")] = True
            data[f"{split}_mask"] = mask
        return data

    def __repr__(self) -> str:
        return (
            f"NodeDataset(name={self.name!r}, num_nodes={self.num_nodes}, num_edges={self.graph.num_edges}, "
            f"num_features={self.num_features}, num_classes={self.num_classes}, multilabel={self.multilabel}, "
            f"split={self.train_idx.numel()}/{self.val_idx.numel()}/{self.test_idx.numel()})"
        )
