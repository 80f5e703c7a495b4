"""Link prediction (``graphsys train --task link``): an encoder (GraphSAGE, GCN, GAT, or a
features-only MLP) trained on sampled subgraphs around positive and negative edges, a ``dot`` or
``mlp`` predictor, evaluated on every node's full-neighbourhood embedding.

A heterogeneous dataset is the same with a type dimension: the links of one edge type
``(s, r, d)`` (``TrainConfig.link_edge_type``) are split and predicted, the encoder is the node
task's :class:`~graphsys.train.models.HeteroGNN` computing both endpoint types at its last layer,
the predictor scores an (``s`` embedding, ``d`` embedding) pair, and evaluation embeds every node
of both types by heterogeneous layer-wise inference.

Training batches come from :class:`graphsys.loader.LinkLoader` (binary negatives drawn where the
sampler runs, every endpoint sampled in one call, the batch's positive edges taken out of its
message passing) and are scored with binary cross-entropy, as PyG's link-prediction example does.
Evaluation runs layer-wise inference (:mod:`graphsys.train.inference`) for every node's embedding,
then scores a split's candidate edges in batches on the training device and hands the scores to
the dataset's metric (ogb's ``Evaluator``: MRR, Hits@K; ROC-AUC for a random split).
Epochs, checkpoints, exact resume, DDP and metrics are :class:`graphsys.train.loop.Trainer`'s.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.nn.models import MLP

from graphsys import Graph
from graphsys.datasets import HeteroNodeDataset, LinkDataset, LinkSplit, load, mean_features
from graphsys.datasets.hetero_cache import link_features_folder
from graphsys.train.config import Amp, Featureless, Predictor, TrainConfig
from graphsys.train.data import (
    HOMOGENEOUS_EMBEDDING,
    TrainData,
    learned_embedding,
    place_graph_and_features,
    place_hetero_graph_and_features,
)
from graphsys.train.distributed import DistContext, shard_seeds
from graphsys.train.evaluate import Scores
from graphsys.train.inference import hetero_layerwise_embeddings, layerwise_inference, row_wise_inference
from graphsys.train.loop import Trainer, _input
from graphsys.train.metrics import LinkEpochMetrics, peak_gpu_mib, peak_host_mib
from graphsys.train.models import EdgeType, build_hetero_model, build_model, build_optimizer
from graphsys.train.pipeline import EpochPipeline
from zerocopy import SparseRowAdagrad

logger = logging.getLogger(__name__)

#: Candidate pairs scored per batch in evaluation: two ``pairs x hidden`` float32 blocks (512 MiB
#: at hidden 256), small beside an H100's memory, large enough that a launch scores 256 K pairs.
SCORE_PAIRS = 1 << 18


class LinkModel(torch.nn.Module):
    """An encoder of nodes and a predictor of pairs.

    Args:
        encoder: a PyG ``BasicGNN`` (its forward takes ``x, edge_index`` and the per-hop counts)
            or, for the features-only baseline, a PyG ``MLP`` (its forward takes ``x``); with
            ``edge_type`` a :class:`~graphsys.train.models.HeteroGNN` whose targets are its endpoint
            types (dicts in and out, :meth:`~graphsys.train.models.HeteroGNN.embed`).
        predictor: "dot" (``<z_u, z_v>``) or "mlp" (an MLP on ``z_u * z_v``, OGB's ``LinkPredictor``).
        hidden: the embedding width (the MLP predictor's input and hidden width).
        dropout: the MLP predictor's dropout.
        edge_type: the predicted edge type ``(s, r, d)`` of a heterogeneous graph: pairs are
            (an ``s`` node, a ``d`` node); None for a homogeneous graph.
    """

    def __init__(self, encoder: torch.nn.Module, predictor: Predictor, hidden: int, dropout: float,
                 edge_type: EdgeType | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.edge_type = edge_type
        self.graph_free = isinstance(encoder, MLP)
        self.predictor = (MLP([hidden, hidden, 1], dropout=dropout, norm=None)
                          if Predictor(predictor) is Predictor.MLP else None)

    def score(self, z_src: torch.Tensor, z_dst: torch.Tensor) -> torch.Tensor:
        """One logit per pair of embedding rows. Cost: one product, and the MLP's layers."""
        if self.predictor is None:
            return (z_src * z_dst).sum(dim=-1)
        return self.predictor(z_src * z_dst).squeeze(-1)

    def encode(self, x, edge_index, num_sampled_nodes=None, num_sampled_edges=None):
        """Embeddings of a batch's nodes (at least its seeds', the first rows); for a heterogeneous
        graph (``x``, ``edge_index`` and the counts dicts by type) a dict of the endpoint types' rows."""
        if self.graph_free:
            return self.encoder(x)
        if self.edge_type is not None:
            return self.encoder.embed(x, edge_index, num_sampled_nodes, num_sampled_edges)
        return self.encoder(x, edge_index, num_sampled_nodes_per_hop=num_sampled_nodes,
                            num_sampled_edges_per_hop=num_sampled_edges)

    def endpoints(self, z) -> tuple[torch.Tensor, torch.Tensor]:
        """The tables a pair's source and destination rows come from: ``(z, z)`` for a homogeneous
        graph, the source and destination types' entries of ``z`` for a heterogeneous one."""
        if self.edge_type is None:
            return z, z
        return z[self.edge_type[0]], z[self.edge_type[2]]

    def forward(self, x, edge_index, edge_label_index: torch.Tensor, num_sampled_nodes=None,
                num_sampled_edges=None) -> torch.Tensor:
        """Logits of a batch's labelled pairs (``edge_label_index``, local ids: row 0 into the
        sources' rows, row 1 into the destinations')."""
        z_src, z_dst = self.endpoints(self.encode(x, edge_index, num_sampled_nodes, num_sampled_edges))
        return self.score(z_src[edge_label_index[0]], z_dst[edge_label_index[1]])


def build_link_model(config: TrainConfig, in_channels: int | dict[str, int],
                     metadata: tuple[list[str], list[EdgeType]] | None = None) -> LinkModel:
    """A freshly initialised :class:`LinkModel` of ``config``'s encoder (``hidden`` wide output)
    and predictor, its parameters drawn from ``config.seed`` alone (as :func:`build_model`).

    With ``config.link_edge_type`` the encoder is :func:`build_hetero_model`'s over ``metadata``
    (``(node_types, edge_types)``, reverse types included) with ``in_channels`` per node type,
    computing the edge type's endpoint types."""
    edge_type = config.link_edge_type
    if edge_type is None:
        encoder = build_model(config, in_channels, config.hidden)
    else:
        encoder = build_hetero_model(config, metadata, in_channels, config.hidden, (edge_type[0], edge_type[2]))
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed + 1)
        return LinkModel(encoder, config.predictor, config.hidden, config.dropout, edge_type=edge_type)


def load_link_dataset(config: TrainConfig) -> LinkDataset:
    """The link dataset ``config`` names: ``ogbl-*`` through ogb (official, or written by
    ``write_ogb_link_dataset`` under ``root``), a synthetic link preset, or any node dataset
    (Cora, an edge list, ...) given a seeded random edge split (``val_edges`` / ``test_edges``);
    a heterogeneous one (synthetic-mag, ogbn-mag) split over ``link_edge_type``.

    Raises:
        ValueError: an unknown name, bad fractions or an empty split; a heterogeneous dataset
            without ``link_edge_type``, or with one it lacks; ``link_edge_type`` for a
            homogeneous dataset.
    """
    from graphsys.datasets import link_synthetic
    from graphsys.datasets.ogb_link import load_ogb_link
    from graphsys.datasets.splits import random_link_split

    name = config.dataset
    start = time.perf_counter()
    if name.lower().startswith("ogbl-"):
        dataset = load_ogb_link(name, config.root)
    elif name.lower() in link_synthetic.PRESETS:
        dataset = link_synthetic.generate_link(name.lower(), config.root, scale=config.scale, seed=config.seed,
                                               quiet=config.quiet)
    else:
        dataset = load(name, config.root, scale=config.scale, seed=config.seed, quiet=config.quiet)
        if not isinstance(dataset, LinkDataset):
            dataset = random_link_split(dataset, config.val_edges, config.test_edges, seed=config.seed,
                                        edge_type=config.link_edge_type)
    logger.info("%s loaded in %.1f s", dataset, time.perf_counter() - start)
    return dataset


def link_mean_features(dataset: LinkDataset, split: tuple[int, float, float] | None = None, *,
                       quiet: bool = True) -> LinkDataset:
    """A heterogeneous link dataset with its featureless types' features derived as
    :func:`~graphsys.datasets.mean_features` derives them, from the TRAINING graph: derived from
    the full graph, an author's feature would average the papers of its held-out links.

    Where they go: for a dataset split from a folder (``dataset.path``) with ``split``, the
    ``(seed, val, test)`` :func:`~graphsys.datasets.random_link_split` made it with, into that
    folder's ``link_mean_features/`` as the node task keeps its own (one unit with a manifest,
    written atomically), keyed by the edge type, ``split`` and the folder's version; the next
    run of the same split reopens them (checked against the manifest: a file altered since is
    refused), another split derives its own. Otherwise (a dataset built or split in memory, or
    a folder whose manifest does not admit them) in memory, once per run.

    Cost: as :func:`~graphsys.datasets.mean_features` (one pass over the edges used; on disk,
    plus one checksum read of what it wrote); reopening, one checksum read of the kept files.

    Raises:
        CorruptFileError: kept features that no longer match their manifest.
        OutputError: the split's folder holds something graphsys did not write.
    """
    counts = dataset.num_nodes
    target = dataset.edge_type[2]
    no_ids = torch.zeros(0, dtype=torch.int64)
    folder = graph_key = None
    if split is not None and dataset.path is not None:
        seed, val, test = split
        folder = link_features_folder(dataset.path, dataset.graph.edge_types.index(dataset.edge_type), seed, val,
                                      test)
        graph_key = {"edge_type": list(dataset.edge_type), "seed": seed, "val": val, "test": test}
    # mean_features reads a node dataset's graph and tables only, and the folder's version when it
    # keeps them in ``folder`` (never the path alone: its mean_features/ are the full graph's);
    # the labels are placeholders
    as_nodes = HeteroNodeDataset(dataset.name, dataset.graph, dict(dataset.x), torch.full((counts[target],), -1),
                                 no_ids, no_ids, no_ids, num_classes=0, target=target,
                                 path=dataset.path if folder is not None else None)
    return dataclasses.replace(dataset, x=mean_features(as_nodes, folder, graph_key=graph_key, quiet=quiet).x)


def check_link_trainable(dataset: LinkDataset, metric: str, featureless: Featureless | None = None,
                         edge_type: EdgeType | None = None) -> None:
    """Refuse a dataset that link training cannot use with ``metric`` (and ``featureless``, and the
    predicted ``edge_type`` of a heterogeneous run).

    Raises:
        ValueError: no node features and no ``featureless = "learn"``; a heterogeneous dataset with
            featureless node types and no ``featureless`` recipe; an ``edge_type`` that is not the
            dataset's (None for a heterogeneous dataset, given for a homogeneous one); no training
            edges; a metric whose candidates the val or test split lacks (MRR needs negative
            targets per positive, Hits@K and AUC negative edges).
    """
    if not isinstance(dataset, LinkDataset):
        raise ValueError(f"dataset {dataset.name!r} is not a link dataset")
    if edge_type != dataset.edge_type:
        if dataset.edge_type is None:
            raise ValueError(f"link edge type {','.join(edge_type)} (--link-edge-type): dataset {dataset.name!r} is "
                             "homogeneous (one node type, one edge type); drop it")
        given = "none" if edge_type is None else ",".join(edge_type)
        raise ValueError(f"dataset {dataset.name!r} holds the links of {','.join(dataset.edge_type)}, but the link "
                         f"edge type (--link-edge-type) is {given}")
    if dataset.hetero and dataset.featureless_types and featureless is None:
        raise ValueError(f"dataset {dataset.name!r} has node types without features "
                         f"({', '.join(dataset.featureless_types)}); choose --featureless mean (features derived "
                         "from their neighbours in the training graph) or learn (embeddings)")
    if dataset.x is None and featureless is not Featureless.LEARN:
        raise ValueError(f"dataset {dataset.name!r} has no node features; pass `--featureless learn` "
                         "(featureless = 'learn': a learned embedding per node as the encoder's input)")
    if dataset.train.num_edges == 0:
        raise ValueError(f"dataset {dataset.name!r} has no training edges")
    need, what = (("target_node_neg", "negative targets per positive") if metric == "mrr"
                  else ("edge_neg", "negative edges"))
    for part in ("val", "test"):
        split = dataset.split(part)
        if getattr(split, need) is None or split.num_edges == 0:
            raise ValueError(f"metric {metric!r} needs {what} ({part}.{need}) and positives in the {part} split, "
                             f"which dataset {dataset.name!r} does not have; its metric is {dataset.metric!r}")


def message_passing_graph(dataset: LinkDataset) -> Graph:
    """The training graph messages pass over: as stored for an undirected dataset; for a directed one
    (citations) with every edge both ways, as OGB's citation2 GNNs (``adj_t.to_symmetric()``).
    Cost for a directed graph: one edge list and one CSR build on the host."""
    graph = dataset.graph
    if dataset.undirected:
        return graph
    return Graph.from_edge_index(graph.to_edge_index(), graph.num_nodes, symmetrize=True)


@torch.no_grad()
def score_pairs(model: LinkModel, z_src: torch.Tensor, z_dst: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
                *, device: torch.device, amp: Amp = Amp.NONE) -> torch.Tensor:
    """Logits of the pairs ``(src[i], dst[i])`` (same shape, any) from the rows of ``z_src`` and
    ``z_dst`` (embeddings anywhere; one table twice for a homogeneous graph),
    :data:`SCORE_PAIRS` pairs per batch on ``device``; float32 on ``device``.

    Cost per batch: two row gathers (a copy to ``device`` when ``z`` is on the host) and the predictor.
    """
    shape = src.shape
    src, dst = src.reshape(-1), dst.reshape(-1)
    out = torch.empty(src.numel(), dtype=torch.float32, device=device)
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
                if amp is Amp.BF16 else contextlib.nullcontext())
    for at in range(0, src.numel(), SCORE_PAIRS):
        s, d = src[at : at + SCORE_PAIRS], dst[at : at + SCORE_PAIRS]
        rows_src = z_src[s.to(z_src.device)].to(device, non_blocking=True)
        rows_dst = z_dst[d.to(z_dst.device)].to(device, non_blocking=True)
        with autocast:
            out[at : at + s.numel()] = model.score(rows_src, rows_dst).float()
    return out.view(shape)


def split_scores(model: LinkModel, z, split: LinkSplit, metric: str, *, device: torch.device,
                 amp: Amp = Amp.NONE) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` logits of a split's candidates as the metric takes them: for MRR the
    negatives ``[E, K]`` of each positive's ``target_node_neg`` against its source, else ``[E']``
    of ``edge_neg``. ``z``: every node's embedding (a dict by node type for a heterogeneous model)."""
    z_src, z_dst = model.endpoints(z)
    pos = score_pairs(model, z_src, z_dst, split.edge[0], split.edge[1], device=device, amp=amp)
    if metric == "mrr":
        neg_dst = split.target_node_neg
        neg_src = split.edge[0].unsqueeze(1).expand_as(neg_dst)
        return pos, score_pairs(model, z_src, z_dst, neg_src, neg_dst, device=device, amp=amp)
    return pos, score_pairs(model, z_src, z_dst, split.edge_neg[0], split.edge_neg[1], device=device, amp=amp)


class LinkTrainer(Trainer):
    """Trains and evaluates link prediction as a :class:`TrainConfig` with ``task = "link"`` describes.

    Args:
        config: the run.
        ctx: this process's place in a distributed run.
        dataset: an already loaded :class:`~graphsys.datasets.LinkDataset` (default: :func:`load_link_dataset`);
            with ``featureless = "mean"`` a heterogeneous one's featureless types get
            :func:`link_mean_features` first: in memory for a dataset given here, kept beside the
            dataset's folder for one this trainer loads from ``root``.
        on_step, on_epoch: as :class:`Trainer`'s.

    Example:
        >>> cfg = TrainConfig("cora", task="link", model="gcn", layers=2, fanouts=(-1, -1), features="cpu",
        ...                   graph="cpu", epochs=2)
        >>> result = LinkTrainer(cfg, ctx=DistContext()).fit()  # doctest: +SKIP
    """

    metrics_type = LinkEpochMetrics

    def __init__(self, config: TrainConfig, *, ctx: DistContext, dataset: LinkDataset | None = None,
                 on_step=None, on_epoch=None) -> None:
        self.config, self.ctx, self.on_step, self.on_epoch = config, ctx, on_step, on_epoch
        # the split of a dataset loaded here is config's; one given may come from any split
        split = (config.seed, config.val_edges, config.test_edges) if dataset is None else None
        dataset = ctx.in_turns(lambda: self._load(dataset, split))  # rank 0 first, as Trainer's
        if dataset.hetero:
            indptr, indices, features, embeddings, num_nodes = place_hetero_graph_and_features(
                config, dataset.graph, dataset.x, ctx)
            self.data = TrainData(dataset, indptr, indices, features, None, num_nodes=num_nodes, embeddings=embeddings)
            widths = {t: int(table.shape[1]) for t, table in features.items()}
            widths.update({t: table.dim for t, table in embeddings.items()})
            self.model = build_link_model(config, widths, (list(num_nodes), list(indptr))).to(ctx.device)
        else:
            indptr, indices, features = place_graph_and_features(config, message_passing_graph(dataset), dataset.x,
                                                                 ctx)
            # featureless: one learned table is the input, trained as a heterogeneous run's featureless types
            embeddings = ({HOMOGENEOUS_EMBEDDING: learned_embedding(config, dataset.num_nodes, ctx)}
                          if features is None else {})
            self.data = TrainData(dataset, indptr, indices, features, None, embeddings=embeddings)
            width = config.embedding_dim if features is None else int(features.shape[1])
            self.model = build_link_model(config, width).to(ctx.device)
        self.dataset = dataset
        self.train_edges = dataset.train.edge
        self.optimizer = build_optimizer(config, self.model)
        self.embedding_optimizer = (SparseRowAdagrad(list(embeddings.values()), lr=config.embedding_lr)
                                    if embeddings else None)
        self.pipeline = EpochPipeline(config, self.data, ctx.device)
        self.history: list[dict] = []
        self.start_epoch = 1
        if config.resume:
            self._restore()
        self.ddp = (DistributedDataParallel(self.model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
                    if ctx.distributed else None)

    @property
    def inputs(self):
        """The encoder's input table: the features, or (featureless) the learned embedding's rows; for a
        heterogeneous dataset a dict node type -> table (features, or learned rows)."""
        if self.data.hetero:
            return {**self.data.features, **{t: table.weight for t, table in self.data.embeddings.items()}}
        if self.data.features is not None:
            return self.data.features
        return self.data.embeddings[HOMOGENEOUS_EMBEDDING].weight

    def _epoch_batches(self, epoch: int, seed: int) -> tuple:
        """This rank's link batches of ``epoch``: its share of the training edges, negatives from ``seed``."""
        positions = shard_seeds(torch.arange(self.train_edges.shape[1]), epoch=epoch, seed=self.config.seed,
                                ctx=self.ctx)
        return self.pipeline.link_epoch(self.train_edges[:, positions], self.train_edges, seed=seed), positions.numel()

    def _batch_inputs(self, batch):
        """The encoder's inputs of a batch: its gathered feature rows, or its nodes' learned rows
        (featureless); per node type for a heterogeneous batch. Dropout on them in training."""
        cfg = self.config

        def inputs(x: torch.Tensor) -> torch.Tensor:
            x = _input(x, cfg.amp)
            return F.dropout(x, cfg.input_dropout) if cfg.input_dropout > 0 else x

        if self.data.hetero:
            x = {t: inputs(batch[t].x) for t in self.data.features}
            x.update({t: inputs(table(batch[t].n_id)) for t, table in self.data.embeddings.items()})
            return x
        embedding = self.data.embeddings.get(HOMOGENEOUS_EMBEDDING)
        return inputs(batch.x if embedding is None else embedding(batch.n_id))

    def _batch_loss(self, net: torch.nn.Module, batch, autocast) -> torch.Tensor:
        """Binary cross-entropy of the batch's positive (1) and negative (0) pairs' logits."""
        x = self._batch_inputs(batch)
        if self.data.hetero:
            labelled = batch[self.dataset.edge_type]
            graph = (batch.edge_index_dict, batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict)
        else:
            labelled, graph = batch, (batch.edge_index, batch.num_sampled_nodes, batch.num_sampled_edges)
        with autocast:
            out = net(x, graph[0], labelled.edge_label_index, graph[1], graph[2])
        return F.binary_cross_entropy_with_logits(out.float(), labelled.edge_label.float())

    def embed(self):
        """Every node's embedding from full neighbourhoods (layer-wise inference), float32, on the
        training device, or on the host when ``num_nodes x hidden`` floats (of every node type)
        would take over a quarter of the free GPU memory; for a heterogeneous dataset a dict of the
        predicted edge type's endpoint types' embeddings."""
        cfg, device, data = self.config, self.ctx.device, self.data
        num_nodes = sum(data.num_nodes.values()) if data.hetero else self.dataset.num_nodes
        embedding_device = device
        if device.type == "cuda" and num_nodes * cfg.hidden * 4 > torch.cuda.mem_get_info(device)[0] // 4:
            embedding_device = torch.device("cpu")
        common = dict(device=device, batch_size=cfg.eval_batch_size, embedding_device=embedding_device, amp=cfg.amp,
                      quiet=cfg.quiet)
        if self.model.graph_free:
            return row_wise_inference(self.model.encoder, self.inputs, **common)
        if data.hetero:
            csr = {et: (data.indptr[et], data.indices[et]) for et in data.indptr}
            return hetero_layerwise_embeddings(self.model.encoder, csr, self.inputs, data.num_nodes, **common)
        return layerwise_inference(self.model.encoder, data.indptr, data.indices, self.inputs, **common)

    def _load(self, dataset: LinkDataset | None, split: tuple[int, float, float] | None) -> LinkDataset:
        """The dataset to train (loaded by the config's name unless given), checked, with the training
        graph's mean features where the config asks for them (kept beside a loaded dataset)."""
        config = self.config
        dataset = load_link_dataset(config) if dataset is None else dataset
        self.metric = config.metric or dataset.metric
        check_link_trainable(dataset, self.metric, config.featureless, config.link_edge_type)
        if dataset.hetero and config.featureless is Featureless.MEAN and dataset.featureless_types:
            start = time.perf_counter()
            dataset = link_mean_features(dataset, split, quiet=config.quiet)
            logger.info("mean features of the training graph in %.1f s", time.perf_counter() - start)
        return dataset

    def _evaluate(self) -> Scores:
        """Embeddings of every node, then the metric on the val and test candidates (``train`` is NaN);
        run by :meth:`Trainer.evaluate` (a sharded cache read without the other ranks)."""
        was_training = self.model.training
        self.model.eval()
        try:
            start = time.perf_counter()
            z = self.embed()
            self._eval_times = {"embed_s": time.perf_counter() - start}
            scores = {}
            for part in ("val", "test"):
                start = time.perf_counter()
                pos, neg = split_scores(self.model, z, self.dataset.split(part), self.metric, device=self.ctx.device,
                                        amp=self.config.amp)
                scores[part] = self.dataset.evaluate(pos, neg, self.metric)[self.metric]
                self._eval_times[f"{part}_score_s"] = time.perf_counter() - start  # the metric read the scores
        finally:
            self.model.train(was_training)
        return Scores(self.metric, float("nan"), scores["val"], scores["test"])

    def _record(self, epoch: int, stats: dict, scores: Scores | None, *, eval_s: float,
                epoch_s: float) -> LinkEpochMetrics:
        timed = getattr(self, "_eval_times", {}) if scores is not None and self.ctx.is_main else {}
        return LinkEpochMetrics(
            epoch=epoch, loss=stats["loss"],
            val_score=scores.val if scores is not None else None,
            test_score=scores.test if scores is not None else None,
            metric=self.metric, epoch_s=epoch_s, train_s=stats["train_s"], sample_s=stats["sample_s"],
            gather_s=stats["gather_s"], compute_s=stats["compute_s"], eval_s=eval_s, batches=stats["batches"],
            seeds_per_s=stats["seeds"] / stats["train_s"] if stats["train_s"] > 0 else 0.0,
            peak_gpu_mib=peak_gpu_mib(self.ctx.device), peak_host_mib=peak_host_mib(),
            embed_s=timed.get("embed_s"), test_score_s=timed.get("test_score_s"),
        )

