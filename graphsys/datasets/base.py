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


def _check_features(dataset: str, x: torch.Tensor | None, num_nodes: int) -> None:
    """``x`` is None or a float ``[num_nodes, F]`` tensor; errors name the dataset and what was given."""
    if x is None:
        return
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{dataset}: x must be a float tensor, got {got}")
    if x.dim() != 2 or x.shape[0] != num_nodes:
        raise ValueError(f"{dataset}: x must have shape [{num_nodes}, F], got {tuple(x.shape)}")


class _OneNodeType:
    """``num_nodes`` and ``num_features`` of a dataset with one node type (``graph`` and ``x``)."""

    graph: Graph
    x: torch.Tensor | None

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return self.graph.num_nodes

    @property
    def num_features(self) -> int:
        """Feature width; 0 for a featureless graph."""
        return 0 if self.x is None else int(self.x.shape[1])


@dataclass(frozen=True)
class NodeDataset(_OneNodeType):
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
        original_ids: for a dataset renumbered for locality (:mod:`graphsys.datasets.reorder`),
            ``original_ids[i]`` is the id node ``i`` had in the dataset as given (int64, a
            permutation); every per-node output goes back through it
            (:func:`~graphsys.datasets.reorder.to_original`). ``None`` when not renumbered.

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
    original_ids: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = self.graph.num_nodes
        _check_features(self.name, self.x, n)
        if self.original_ids is not None:
            _check_index(self.name, "original_ids", self.original_ids, n)
            if self.original_ids.numel() != n:
                raise ValueError(f"{self.name}: original_ids must have one id per node ({n}), "
                                 f"got {self.original_ids.numel()}")
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


#: The link metrics :class:`LinkDataset` knows (what ``metric`` may be).
LINK_METRICS = ("mrr", "hits@20", "hits@50", "hits@100", "auc")


def _check_pairs(dataset: str, name: str, edges: torch.Tensor, num_nodes: int, num_dst_nodes: int) -> None:
    if not isinstance(edges, torch.Tensor) or edges.dtype != torch.int64:
        got = edges.dtype if isinstance(edges, torch.Tensor) else type(edges).__name__
        raise TypeError(f"{dataset}: {name} must be an int64 tensor, got {got}")
    if edges.dim() != 2 or edges.shape[0] != 2:
        raise ValueError(f"{dataset}: {name} must have shape [2, E] (row 0 sources, row 1 targets), "
                         f"got {tuple(edges.shape)}")
    if num_dst_nodes == num_nodes:
        _check_index(dataset, name, edges.reshape(-1), num_nodes)
        return
    _check_index(dataset, f"{name}[0]", edges[0], num_nodes, of=" (source nodes)")
    _check_index(dataset, f"{name}[1]", edges[1], num_dst_nodes, of=" (destination nodes)")


@dataclass(frozen=True)
class LinkSplit:
    """The candidate edges of one split (train, val or test) of a :class:`LinkDataset`.

    Attributes:
        edge: positive edges ``[2, E]`` int64 (row 0 sources, row 1 targets; PyG's
            ``edge_label_index`` of the positives). ogbl-citation2's ``source_node`` /
            ``target_node`` are its two rows (see the properties).
        edge_neg: negative edges ``[2, E']`` int64 shared by all positives (Hits@K and AUC
            datasets: ogbl-collab, -ppa, -ddi, random splits), else ``None``.
        target_node_neg: ``[E, K]`` int64 negative targets per positive, scored against
            ``edge[0]`` (MRR datasets: ogbl-citation2, K = 1000), else ``None``.
        weight: ``[E]`` float edge weights where the dataset has them (ogbl-collab), else ``None``.
        year: ``[E]`` int64 edge years where the dataset has them (ogbl-collab), else ``None``.

    The training split of an OGB dataset carries no negatives (they are drawn while training);
    val and test carry exactly one of ``edge_neg`` and ``target_node_neg``.
    """

    edge: torch.Tensor
    edge_neg: torch.Tensor | None = None
    target_node_neg: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    year: torch.Tensor | None = None

    def check(self, dataset: str, part: str, num_nodes: int, num_dst_nodes: int | None = None) -> None:
        """Raise TypeError / ValueError / IndexError naming ``dataset`` and ``part`` for a malformed split;
        sources are ids below ``num_nodes``, targets below ``num_dst_nodes`` (default: the same; another
        count for the links of an edge type between two node types)."""
        num_dst_nodes = num_nodes if num_dst_nodes is None else num_dst_nodes
        _check_pairs(dataset, f"{part}.edge", self.edge, num_nodes, num_dst_nodes)
        e = int(self.edge.shape[1])
        if self.edge_neg is not None:
            _check_pairs(dataset, f"{part}.edge_neg", self.edge_neg, num_nodes, num_dst_nodes)
        if self.target_node_neg is not None:
            neg = self.target_node_neg
            if not isinstance(neg, torch.Tensor) or neg.dtype != torch.int64:
                got = neg.dtype if isinstance(neg, torch.Tensor) else type(neg).__name__
                raise TypeError(f"{dataset}: {part}.target_node_neg must be an int64 tensor, got {got}")
            if neg.dim() != 2 or neg.shape[0] != e:
                raise ValueError(f"{dataset}: {part}.target_node_neg must have shape [{e}, K] (K negatives per "
                                 f"positive edge), got {tuple(neg.shape)}")
            _check_index(dataset, f"{part}.target_node_neg", neg.reshape(-1), num_dst_nodes)
        for field, floating in (("weight", True), ("year", False)):
            value = getattr(self, field)
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or value.is_floating_point() != floating:
                kind = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
                raise TypeError(f"{dataset}: {part}.{field} must be {'a float' if floating else 'an integer'} "
                                f"tensor, got {kind}")
            if tuple(value.shape) != (e,):
                raise ValueError(f"{dataset}: {part}.{field} must have shape [{e}] (one per edge), "
                                 f"got {tuple(value.shape)}")

    @property
    def num_edges(self) -> int:
        """Number of positive edges."""
        return int(self.edge.shape[1])

    @property
    def source_node(self) -> torch.Tensor:
        """``edge[0]``: the sources (ogbl-citation2's ``source_node``)."""
        return self.edge[0]

    @property
    def target_node(self) -> torch.Tensor:
        """``edge[1]``: the true targets (ogbl-citation2's ``target_node``)."""
        return self.edge[1]


@dataclass(frozen=True)
class LinkDataset(_OneNodeType):
    """A link-prediction dataset: a training graph, node features and split candidate edges.

    A heterogeneous one is the same with a type dimension: ``edge_type`` ``(s, r, d)`` names the
    edge type whose links are predicted, ``graph`` is a :class:`~graphsys.HeteroGraph`, ``x`` a
    dict node type -> features (as :class:`HeteroNodeDataset`'s), and the splits' row 0 holds ids
    of type ``s``, row 1 (and ``target_node_neg``) ids of type ``d``.

    Attributes:
        name: the dataset's name as :func:`graphsys.datasets.load` knows it (or the file path).
        graph: the TRAINING graph (CSR over in-neighbours): validation and test edges are not in
            it. ``undirected`` datasets store both directions of each link; ogbl-collab keeps its
            edge weights in ``graph.edge_weight``.
        x: node features ``[num_nodes, F]`` float (may be memory-mapped), or ``None``
            (ogbl-ddi: learn an embedding).
        train, val, test: the :class:`LinkSplit` of each part. ``train.edge`` holds each training
            link once (one direction, as OGB gives it).
        metric: how val/test are scored, one of :data:`LINK_METRICS`: ``"mrr"`` (ogbl-citation2:
            each positive against its ``target_node_neg`` row), ``"hits@K"`` (collab 50, ppa 100,
            ddi 20: positives against all ``edge_neg``), ``"auc"`` (random edge splits).
        undirected: whether a link ``u - v`` is symmetric (both directions in ``graph``, so a
            loader excluding a seed edge must drop both); False for citations and for the links
            of an edge type between two node types.
        path: the folder the dataset was opened from (for a random split of a heterogeneous
            dataset, that dataset's); ``None`` for one built in memory.
        edge_type: the predicted edge type of a heterogeneous dataset; ``None`` for a homogeneous one.

    Example:
        >>> from graphsys.datasets import load
        >>> ds = load("synthetic-citation2", scale=0.001)  # doctest: +SKIP
        >>> ds.metric, ds.test.target_node_neg.shape[1]  # doctest: +SKIP
        ('mrr', 1000)
        >>> ds.evaluate(pos_scores, neg_scores)  # doctest: +SKIP
        {'mrr': 0.61, 'hits@1': ..., 'hits@3': ..., 'hits@10': ...}
    """

    name: str
    graph: Graph | HeteroGraph
    x: torch.Tensor | dict[str, torch.Tensor] | None
    train: LinkSplit
    val: LinkSplit
    test: LinkSplit
    metric: str
    undirected: bool = True
    path: Path | None = None
    edge_type: tuple[str, str, str] | None = None

    def __post_init__(self) -> None:
        if self.edge_type is None:
            if not isinstance(self.graph, Graph):
                raise TypeError(f"{self.name}: graph must be a graphsys.Graph (or, with edge_type, a "
                                f"graphsys.HeteroGraph), got {type(self.graph).__name__}")
            num_src = num_dst = self.graph.num_nodes
            _check_features(self.name, self.x, num_src)
        else:
            num_src, num_dst = self._check_typed()
        if self.metric not in LINK_METRICS:
            raise ValueError(f"{self.name}: metric must be one of {', '.join(LINK_METRICS)}, got {self.metric!r}")
        for part in ("train", "val", "test"):
            split = getattr(self, part)
            if not isinstance(split, LinkSplit):
                raise TypeError(f"{self.name}: {part} must be a LinkSplit, got {type(split).__name__}")
            split.check(self.name, part, num_src, num_dst)
        need = "target_node_neg" if self.metric == "mrr" else "edge_neg"
        for part in ("val", "test"):
            if getattr(getattr(self, part), need) is None:
                raise ValueError(f"{self.name}: metric {self.metric!r} scores {part} against {part}.{need}, "
                                 "which is None")

    def _check_typed(self) -> tuple[int, int]:
        """A heterogeneous dataset's graph, edge type and tables checked; the endpoint types' node counts."""
        if not isinstance(self.graph, HeteroGraph):
            raise TypeError(f"{self.name}: edge_type {self.edge_type!r} needs graph to be a graphsys.HeteroGraph, "
                            f"got {type(self.graph).__name__}")
        if tuple(self.edge_type) not in self.graph.edge_types:
            raise ValueError(f"{self.name}: edge_type {self.edge_type!r} is not an edge type of the graph "
                             f"(edge types: {self.graph.edge_types})")
        object.__setattr__(self, "edge_type", tuple(self.edge_type))
        if not isinstance(self.x, dict):
            raise TypeError(f"{self.name}: x of a heterogeneous link dataset must be a dict of node type -> "
                            f"features, got {type(self.x).__name__}")
        counts = self.graph.num_nodes_dict
        for node_type, feat in self.x.items():
            if node_type not in counts:
                raise ValueError(f"{self.name}: x has node type {node_type!r}, which the graph does not "
                                 f"(node types: {list(counts)})")
            _check_features(f"{self.name}[{node_type!r}]", feat, counts[node_type])
        return counts[self.edge_type[0]], counts[self.edge_type[2]]

    @property
    def hetero(self) -> bool:
        """Whether the dataset has node and edge types (and predicts the links of ``edge_type``)."""
        return self.edge_type is not None

    @property
    def num_nodes(self):
        """Number of nodes; node count per node type for a heterogeneous dataset."""
        return self.graph.num_nodes_dict if self.hetero else self.graph.num_nodes

    @property
    def num_features(self) -> int:
        """Feature width; of the predicted edge type's destination type for a heterogeneous dataset
        (0 when it has none)."""
        if not self.hetero:
            return super().num_features
        feat = self.x.get(self.edge_type[2])
        return 0 if feat is None else int(feat.shape[1])

    @property
    def featureless_types(self) -> list[str]:
        """The node types without features, in the graph's order (none for a homogeneous dataset)."""
        return [t for t in self.graph.node_types if t not in self.x] if self.hetero else []

    def split(self, part: str) -> LinkSplit:
        """The split named ``"train"``, ``"val"`` (or OGB's ``"valid"``) or ``"test"``."""
        key = {"valid": "val"}.get(part, part)
        if key not in ("train", "val", "test"):
            raise ValueError(f"part must be 'train', 'val' or 'test', got {part!r}")
        return getattr(self, key)

    def evaluate(self, pos_score, neg_score, metric: str | None = None) -> dict[str, float]:
        """Score candidate edges with ogb's link Evaluator (:func:`graphsys.datasets.evaluate_link`).

        Args:
            pos_score: ``[E]`` scores of a split's positive edges.
            neg_score: ``[E, K]`` scores of ``target_node_neg`` (MRR), or ``[E']`` scores of
                ``edge_neg`` (Hits@K, AUC).
            metric: defaults to the dataset's ``metric``.

        Returns:
            ``{metric: value}`` first (``"mrr"`` also gives ``"hits@1"``, ``"hits@3"``, ``"hits@10"``).
        """
        from graphsys.datasets.evaluate import evaluate_link

        return evaluate_link(metric or self.metric, pos_score, neg_score, name=self.name)

    def to_pyg(self):
        """The training graph as a ``torch_geometric.data.Data`` (``x``, ``edge_index``, ``num_nodes``);
        a heterogeneous one as a ``HeteroData`` (``num_nodes`` and ``x`` per node type, ``edge_index``
        per edge type).

        Cost: builds ``edge_index`` (2 x E int64 per edge type); ``x`` is shared.
        """
        from torch_geometric.data import Data, HeteroData

        if not self.hetero:
            return Data(x=self.x, edge_index=self.graph.to_edge_index(), num_nodes=self.num_nodes)
        data = HeteroData()
        for node_type, count in self.num_nodes.items():
            data[node_type].num_nodes = count
            if node_type in self.x:
                data[node_type].x = self.x[node_type]
        for edge_type, edge_index in self.graph.to_edge_index_dict().items():
            data[edge_type].edge_index = edge_index
        return data

    def __repr__(self) -> str:
        typed = f", edge_type={self.edge_type!r}" if self.hetero else ""
        edges = self.graph.num_edges_dict if self.hetero else self.graph.num_edges
        widths = {t: int(f.shape[1]) for t, f in self.x.items()} if self.hetero else self.num_features
        return (f"LinkDataset(name={self.name!r}{typed}, num_nodes={self.num_nodes}, num_edges={edges}, "
                f"num_features={widths}, metric={self.metric!r}, undirected={self.undirected}, "
                f"split={self.train.num_edges}/{self.val.num_edges}/{self.test.num_edges})")
