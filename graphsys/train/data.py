"""Loading a dataset for training and putting its parts where the config says.

A heterogeneous dataset is the same with a type dimension: one CSR per edge type (reverse edge
types added, so every node type receives messages), one feature table per node type that has
features, labels of the target type.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from graphsys.datasets import HeteroNodeDataset, NodeDataset, load, mean_features
from graphsys.graph import DEGREE_CHUNK
from graphsys.hetero_graph import HeteroGraph
from graphsys.train.config import Featureless, ModelKind, TrainConfig, check_machine
from graphsys.train.distributed import DistContext
from graphsys.train.features import cache_budget_bytes, place_features, share_across_ranks
from zerocopy import HostEmbedding, UnifiedTensor, share_cache
from zerocopy.placement import place

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainData:
    """A dataset laid out for training.

    Attributes:
        dataset: the loaded dataset (host memory).
        indptr, indices: the CSR in ``config.graph`` placement; for a heterogeneous dataset
            dicts edge type -> offsets / neighbour ids, reverse edge types included.
        features: the feature table in ``config.features`` placement (a tensor or a
            ``zerocopy.UnifiedTensor``); for a heterogeneous dataset a dict node type -> table
            of the types with features (learned types have none).
        labels: ``y`` (float for multi-label, for the BCE loss) where the sampler runs: on the
            training device, or on the host for a CPU sampler; of the target type's nodes.
        num_nodes: node count per node type (heterogeneous), else None.
        embeddings: ``featureless = "learn"``: a ``zerocopy.HostEmbedding`` per featureless node
            type, in the features' placement (their rows are the model's inputs for that type).
    """

    dataset: NodeDataset | HeteroNodeDataset
    indptr: torch.Tensor | dict
    indices: torch.Tensor | dict
    features: object
    labels: torch.Tensor
    num_nodes: dict[str, int] | None = None
    embeddings: dict[str, HostEmbedding] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def hetero(self) -> bool:
        """Whether the dataset has node and edge types."""
        return self.num_nodes is not None


#: Standard deviation of learned embeddings at the start: 0.1, so that each starts near the scale of
#: derived features rather than as a unit vector per column (``torch.nn.Embedding``'s 1.0).
EMBEDDING_INIT_STD = 0.1


#: The key of a homogeneous dataset's learned input table in ``TrainData.embeddings`` (and checkpoints).
HOMOGENEOUS_EMBEDDING = "node"


def learned_embedding(config: TrainConfig, num_rows: int, ctx: DistContext, *, offset: int = 0) -> HostEmbedding:
    """``featureless = "learn"``: a learnable ``[num_rows, config.embedding_dim]`` input table in the
    features' placement, drawn from ``config.seed + offset`` (one per featureless node type of a
    heterogeneous dataset, one for a homogeneous dataset without features); trained by
    ``zerocopy.SparseRowAdagrad`` (``Trainer.embedding_optimizer``)."""
    where = {"cuda": ctx.device, "pinned": "pinned", "cpu": "cpu"}[config.features]
    return HostEmbedding(num_rows, config.embedding_dim, placement=where, seed=config.seed + offset,
                         init_std=EMBEDDING_INIT_STD, check_ids=False)


def load_dataset(config: TrainConfig) -> NodeDataset | HeteroNodeDataset:
    """The dataset the config names, checked to be trainable; with ``featureless = "mean"`` a
    heterogeneous dataset's featureless types get their derived features (written beside a
    dataset on disk once, reopened after).

    Raises:
        ValueError: an unknown name (from ``graphsys.datasets.load``), or a dataset without
            features, labels or a training split.
    """
    options = {"undirected": True} if config.undirected else {}
    if config.reorder is not None:
        options["reorder"] = config.reorder
    start = time.perf_counter()
    dataset = load(config.dataset, config.root, scale=config.scale, seed=config.seed, quiet=config.quiet, **options)
    logger.info("%s loaded in %.1f s", dataset, time.perf_counter() - start)
    if isinstance(dataset, HeteroNodeDataset) and config.featureless is Featureless.MEAN and dataset.featureless_types:
        start, types = time.perf_counter(), dataset.featureless_types
        dataset = mean_features(dataset, quiet=config.quiet)
        logger.info("mean features of %s in %.1f s", ", ".join(types), time.perf_counter() - start)
    check_trainable(dataset, config)
    return dataset


def check_trainable(dataset: NodeDataset | HeteroNodeDataset, config: TrainConfig | None = None) -> None:
    """Refuse a dataset (or, with ``config``, a dataset and model) node classification cannot train on.

    Raises:
        ValueError: a dataset without node features, labels or a training split; a heterogeneous
            dataset with featureless node types and no ``featureless`` recipe, or trained with a
            homogeneous model (or the reverse).
    """
    hetero = isinstance(dataset, HeteroNodeDataset)
    if hetero and dataset.target not in dataset.x:
        raise ValueError(f"dataset {dataset.name!r} has no features on its target type {dataset.target!r}")
    if not hetero and dataset.x is None:
        raise ValueError(
            f"dataset {dataset.name!r} has no node features; node classification needs them "
            "(train an embedding with `graphsys embed` instead)"
        )
    if dataset.num_classes < 1 or dataset.train_idx.numel() == 0:
        raise ValueError(f"dataset {dataset.name!r} has no labels or no training split")
    if config is None:
        return
    if hetero and config.model not in (ModelKind.RGCN, ModelKind.SAGE, ModelKind.MLP):
        raise ValueError(f"dataset {dataset.name!r} is heterogeneous: train it with model 'rgcn' or 'sage' "
                         f"(or the graph-free 'mlp'), not {config.model.value!r}")
    if not hetero and config.model is ModelKind.RGCN:
        raise ValueError(f"model 'rgcn' needs a heterogeneous dataset; {dataset.name!r} has one node type")
    if not hetero and config.featureless is not None:
        raise ValueError(f"featureless = {config.featureless.value!r} applies to heterogeneous datasets; "
                         f"{dataset.name!r} has one node type")
    if hetero and dataset.featureless_types and config.featureless is None and config.model is not ModelKind.MLP:
        raise ValueError(f"dataset {dataset.name!r} has node types without features "
                         f"({', '.join(dataset.featureless_types)}); choose featureless = 'mean' (features derived "
                         "from their neighbours) or 'learn' (embeddings)")


def prepare(config: TrainConfig, dataset: NodeDataset, ctx: DistContext) -> TrainData:
    """Place the graph, the features and the labels for training on ``ctx.device``.

    In a distributed run a host feature table ("pinned" or "cpu") is shared by all ranks
    of a machine (:func:`share_across_ranks`) rather than held once per rank.

    Cost: copies for "cuda" placements, page-locking for "pinned", nothing for "cpu".

    Raises:
        RuntimeError: a placement the machine cannot provide (see :func:`check_machine`).
    """
    if isinstance(dataset, HeteroNodeDataset):
        return _prepare_hetero(config, dataset, ctx)
    indptr, indices, features = place_graph_and_features(config, dataset.graph, dataset.x, ctx)
    labels = dataset.y.float() if dataset.multilabel else dataset.y
    # Labels sit where the sampler runs, so a batch's label gather stays on one device.
    labels = labels.to(ctx.device if config.graph != "cpu" else "cpu")
    return TrainData(dataset, indptr, indices, features, labels)


def place_graph_and_features(config: TrainConfig, graph, x: torch.Tensor | None, ctx: DistContext) -> tuple:
    """``(indptr, indices, features)``: a homogeneous graph's CSR in ``config.graph`` placement and
    its feature table in ``config.features`` placement (with the GPU cache of the highest out-degree
    rows), shared across the ranks of a machine when on the host; ``features`` is None when ``x`` is
    (a featureless graph: its inputs are a :func:`learned_embedding`).

    Cost: copies for "cuda" placements, page-locking for "pinned", nothing for "cpu".

    Raises:
        RuntimeError: a placement the machine cannot provide (see :func:`check_machine`).
    """
    device = ctx.device
    cuda = torch.cuda.is_available()
    free = torch.cuda.mem_get_info(device)[0] if cuda and device.type == "cuda" else None
    if x is None and config.cache > 0:
        raise ValueError(f"cache = {config.cache} fronts a feature table; this graph has none (its inputs are learned "
                         "embeddings): drop --cache")
    cache_bytes = cache_budget_bytes(x, config.cache) if config.cache > 0 else 0
    check_machine(config, cache_bytes=cache_bytes, cuda_available=cuda, free_gpu_bytes=free)
    start = time.perf_counter()
    indptr = place(graph.indptr.contiguous(), config.graph if config.graph != "cuda" else device)
    indices = place(graph.indices.contiguous(), config.graph if config.graph != "cuda" else device)
    placed = time.perf_counter()
    logger.info("graph (%d edges) placed in %s in %.1f s", graph.num_edges, config.graph, placed - start)
    # Counted on the training device: a host bincount is slow for papers100M (1.6 B edges; one took
    # 1.8 s per 160 M edges on a core of the development machine).
    if x is None:
        return indptr, indices, None
    hotness = graph.out_degrees(device) if config.cache > 0 else None
    if config.features != "cuda":
        x = share_across_ranks(x, ctx)
    shard = config.cache_shard and ctx.distributed
    features = place_features(x, config.features, device=device, cache=config.cache, hotness=hotness, shard=shard)
    logger.info("features %s (%.2f GiB) placed in %s in %.1f s, device %s", tuple(x.shape),
                x.numel() * x.element_size() / 2**30, config.features, time.perf_counter() - placed, device)
    return indptr, indices, features


def _prepare_hetero(config: TrainConfig, dataset: HeteroNodeDataset, ctx: DistContext) -> TrainData:
    """:func:`prepare` for a heterogeneous dataset: :func:`place_hetero_graph_and_features`, then the
    target type's labels where the sampler runs."""
    indptr, indices, features, embeddings, num_nodes = place_hetero_graph_and_features(config, dataset.graph,
                                                                                       dataset.x, ctx)
    labels = dataset.y.to(ctx.device if config.graph != "cpu" else "cpu")
    return TrainData(dataset, indptr, indices, features, labels, num_nodes=num_nodes, embeddings=embeddings)


def place_hetero_graph_and_features(config: TrainConfig, graph: HeteroGraph, x: dict[str, torch.Tensor],
                                    ctx: DistContext) -> tuple:
    """``(indptr, indices, features, embeddings, num_nodes)`` of a heterogeneous graph, as
    :func:`place_graph_and_features` for one type: reverse edge types added, every CSR placed
    (dicts edge type -> offsets / neighbour ids), a table per featured node type of ``x`` placed
    (with ``featureless = "learn"`` a learnable one per featureless type, drawn from
    ``config.seed``, in ``embeddings``), the GPU cache budget (``config.cache`` of all their bytes)
    shared across the types by how many neighbour lists hold each row; ``num_nodes`` per node type.

    Cost: building the reverse CSRs (one parallel transpose per edge type), then as :func:`prepare`.
    """
    device = ctx.device
    cuda = torch.cuda.is_available()
    free = torch.cuda.mem_get_info(device)[0] if cuda and device.type == "cuda" else None
    tables = dict(x)
    learns = config.featureless is Featureless.LEARN and config.model is not ModelKind.MLP
    learned = [t for t in graph.node_types if t not in tables] if learns else []
    num_nodes = graph.num_nodes_dict
    widths = [(num_nodes[t], config.embedding_dim) for t in learned]
    cache_bytes = 0
    if config.cache > 0:
        cache_bytes = sum(cache_budget_bytes(table, config.cache) for table in tables.values())
        cache_bytes += sum(int(config.cache * n) * 4 * dim + 4 * n for n, dim in widths)
    check_machine(config, cache_bytes=cache_bytes, cuda_available=cuda, free_gpu_bytes=free)
    start = time.perf_counter()
    graph = graph.add_reverse()
    placed = graph.to(config.graph if config.graph != "cuda" else device)
    indptr = {et: placed.csr(et)[0] for et in placed.edge_types}
    indices = {et: placed.csr(et)[1] for et in placed.edge_types}
    logger.info("graph (%d edge types, %d edges with the reverse ones) placed in %s in %.1f s",
                len(indptr), sum(graph.num_edges_dict.values()), config.graph, time.perf_counter() - start)
    if config.features != "cuda":
        tables = {t: share_across_ranks(table, ctx, name=f"features-{t}") for t, table in tables.items()}
    hotness = None
    if config.cache > 0:
        hotness = {t: torch.zeros(n, dtype=torch.int64, device=device) for t, n in num_nodes.items()
                   if t in tables or t in learned}
        for (src, _, _), ids in indices.items():
            if src in hotness:
                for part in ids.split(DEGREE_CHUNK):
                    hotness[src] += torch.bincount(part.to(device, non_blocking=True), minlength=hotness[src].numel())
    shard = config.cache_shard and ctx.distributed
    # no cache per table: the types share one budget below (sharded: host tables wrapped, unpinned, for it)
    features = {t: UnifiedTensor(table, pin=False) if shard and config.features == "cpu"
                else place_features(table, config.features, device=device) for t, table in tables.items()}
    embeddings = {t: learned_embedding(config, num_nodes[t], ctx, offset=at) for at, t in enumerate(learned)}
    if cache_bytes > 0 and (config.features == "pinned" or shard):
        learned_tables = {t: e.weight for t, e in embeddings.items() if isinstance(e.weight, UnifiedTensor)}
        cached = {**features, **learned_tables}
        # learned tables are written every step, so their rows are replicated on every rank, never sharded
        on_gpu = config.features != "cpu"
        split = share_cache(cached, {t: hotness[t] for t in cached}, cache_bytes, device if on_gpu else "cpu",
                            shards=True if shard else None, replicated=learned_tables)
        logger.info("%s cache of %.2f GiB%s shared across node types: %s", "GPU" if on_gpu else "host",
                    cache_bytes / 2**30, " per rank, sharded over the ranks," if shard else "",
                    ", ".join(f"{t} {share.rows} rows" for t, share in split.items()))
    return indptr, indices, features, embeddings, num_nodes
