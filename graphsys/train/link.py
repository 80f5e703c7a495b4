"""Link prediction (``graphsys train --task link``): an encoder (GraphSAGE, GCN, GAT, or a
features-only MLP) trained on sampled subgraphs around positive and negative edges, a ``dot`` or
``mlp`` predictor, evaluated on every node's full-neighbourhood embedding.

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
import logging
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.nn.models import MLP

from graphsys import Graph
from graphsys.datasets import LinkDataset, LinkSplit, load
from graphsys.train.config import Amp, Featureless, Predictor, TrainConfig
from graphsys.train.data import HOMOGENEOUS_EMBEDDING, TrainData, learned_embedding, place_graph_and_features
from graphsys.train.distributed import DistContext, shard_seeds
from graphsys.train.evaluate import Scores
from graphsys.train.inference import layerwise_inference, row_wise_inference
from graphsys.train.loop import Trainer, _input
from graphsys.train.metrics import LinkEpochMetrics, peak_gpu_mib, peak_host_mib
from graphsys.train.models import build_model, build_optimizer
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
            or, for the features-only baseline, a PyG ``MLP`` (its forward takes ``x``).
        predictor: "dot" (``<z_u, z_v>``) or "mlp" (an MLP on ``z_u * z_v``, OGB's ``LinkPredictor``).
        hidden: the embedding width (the MLP predictor's input and hidden width).
        dropout: the MLP predictor's dropout.
    """

    def __init__(self, encoder: torch.nn.Module, predictor: Predictor, hidden: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.graph_free = isinstance(encoder, MLP)
        self.predictor = (MLP([hidden, hidden, 1], dropout=dropout, norm=None)
                          if Predictor(predictor) is Predictor.MLP else None)

    def score(self, z_src: torch.Tensor, z_dst: torch.Tensor) -> torch.Tensor:
        """One logit per pair of embedding rows. Cost: one product, and the MLP's layers."""
        if self.predictor is None:
            return (z_src * z_dst).sum(dim=-1)
        return self.predictor(z_src * z_dst).squeeze(-1)

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor, num_sampled_nodes=None,
               num_sampled_edges=None) -> torch.Tensor:
        """Embeddings of a batch's nodes (at least its seeds', the first rows)."""
        if self.graph_free:
            return self.encoder(x)
        return self.encoder(x, edge_index, num_sampled_nodes_per_hop=num_sampled_nodes,
                            num_sampled_edges_per_hop=num_sampled_edges)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_label_index: torch.Tensor,
                num_sampled_nodes=None, num_sampled_edges=None) -> torch.Tensor:
        """Logits of a batch's labelled pairs (``edge_label_index``, local ids)."""
        z = self.encode(x, edge_index, num_sampled_nodes, num_sampled_edges)
        return self.score(z[edge_label_index[0]], z[edge_label_index[1]])


def build_link_model(config: TrainConfig, in_channels: int) -> LinkModel:
    """A freshly initialised :class:`LinkModel` of ``config``'s encoder (``hidden`` wide output)
    and predictor, its parameters drawn from ``config.seed`` alone (as :func:`build_model`)."""
    encoder = build_model(config, in_channels, config.hidden)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed + 1)
        return LinkModel(encoder, config.predictor, config.hidden, config.dropout)


def load_link_dataset(config: TrainConfig) -> LinkDataset:
    """The link dataset ``config`` names: ``ogbl-*`` through ogb (official, or written by
    ``write_ogb_link_dataset`` under ``root``), a synthetic link preset, or any node dataset
    (Cora, an edge list, ...) given a seeded random edge split (``val_edges`` / ``test_edges``).

    Raises:
        ValueError: an unknown name, bad fractions or an empty split.
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
            dataset = random_link_split(dataset, config.val_edges, config.test_edges, seed=config.seed)
    logger.info("%s loaded in %.1f s", dataset, time.perf_counter() - start)
    return dataset


def check_link_trainable(dataset: LinkDataset, metric: str, featureless: Featureless | None = None) -> None:
    """Refuse a dataset that link training cannot use with ``metric`` (and ``featureless``).

    Raises:
        ValueError: no node features and no ``featureless = "learn"``; no training edges; a metric
            whose candidates the val or test split lacks (MRR needs negative targets per positive,
            Hits@K and AUC negative edges).
    """
    if not isinstance(dataset, LinkDataset):
        raise ValueError(f"dataset {dataset.name!r} is not a link dataset")
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
def score_pairs(model: LinkModel, z: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, *,
                device: torch.device, amp: Amp = Amp.NONE) -> torch.Tensor:
    """Logits of the pairs ``(src[i], dst[i])`` (same shape, any) from embeddings ``z`` (anywhere),
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
        z_src = z[s.to(z.device)].to(device, non_blocking=True)
        z_dst = z[d.to(z.device)].to(device, non_blocking=True)
        with autocast:
            out[at : at + s.numel()] = model.score(z_src, z_dst).float()
    return out.view(shape)


def split_scores(model: LinkModel, z: torch.Tensor, split: LinkSplit, metric: str, *, device: torch.device,
                 amp: Amp = Amp.NONE) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` logits of a split's candidates as the metric takes them: for MRR the
    negatives ``[E, K]`` of each positive's ``target_node_neg`` against its source, else ``[E']``
    of ``edge_neg``."""
    pos = score_pairs(model, z, split.edge[0], split.edge[1], device=device, amp=amp)
    if metric == "mrr":
        neg_dst = split.target_node_neg
        neg_src = split.edge[0].unsqueeze(1).expand_as(neg_dst)
        return pos, score_pairs(model, z, neg_src, neg_dst, device=device, amp=amp)
    return pos, score_pairs(model, z, split.edge_neg[0], split.edge_neg[1], device=device, amp=amp)


class LinkTrainer(Trainer):
    """Trains and evaluates link prediction as a :class:`TrainConfig` with ``task = "link"`` describes.

    Args:
        config: the run.
        ctx: this process's place in a distributed run.
        dataset: an already loaded :class:`~graphsys.datasets.LinkDataset` (default: :func:`load_link_dataset`).
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
        dataset = load_link_dataset(config) if dataset is None else dataset
        self.metric = config.metric or dataset.metric
        check_link_trainable(dataset, self.metric, config.featureless)
        indptr, indices, features = place_graph_and_features(config, message_passing_graph(dataset), dataset.x, ctx)
        # featureless: one learned table is the input, trained as a heterogeneous run's featureless types
        embeddings = ({HOMOGENEOUS_EMBEDDING: learned_embedding(config, dataset.num_nodes, ctx)}
                      if features is None else {})
        self.data = TrainData(dataset, indptr, indices, features, None, embeddings=embeddings)
        self.dataset = dataset
        self.train_edges = dataset.train.edge
        width = config.embedding_dim if features is None else int(features.shape[1])
        self.model = build_link_model(config, width).to(ctx.device)
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
        """The encoder's input table: the features, or (featureless) the learned embedding's rows."""
        if self.data.features is not None:
            return self.data.features
        return self.data.embeddings[HOMOGENEOUS_EMBEDDING].weight

    def _epoch_batches(self, epoch: int, seed: int) -> tuple:
        """This rank's link batches of ``epoch``: its share of the training edges, negatives from ``seed``."""
        positions = shard_seeds(torch.arange(self.train_edges.shape[1]), epoch=epoch, seed=self.config.seed,
                                ctx=self.ctx)
        return self.pipeline.link_epoch(self.train_edges[:, positions], self.train_edges, seed=seed), positions.numel()

    def _batch_loss(self, net: torch.nn.Module, batch, autocast) -> torch.Tensor:
        """Binary cross-entropy of the batch's positive (1) and negative (0) pairs' logits."""
        embedding = self.data.embeddings.get(HOMOGENEOUS_EMBEDDING)
        x = _input(batch.x if embedding is None else embedding(batch.n_id), self.config.amp)
        x = F.dropout(x, self.config.input_dropout) if self.config.input_dropout > 0 else x
        with autocast:
            out = net(x, batch.edge_index, batch.edge_label_index, batch.num_sampled_nodes, batch.num_sampled_edges)
        return F.binary_cross_entropy_with_logits(out.float(), batch.edge_label.float())

    def embed(self) -> torch.Tensor:
        """Every node's embedding from full neighbourhoods (layer-wise inference), float32, on the
        training device, or on the host when ``num_nodes x hidden`` floats would take over a quarter
        of the free GPU memory."""
        cfg, device, data = self.config, self.ctx.device, self.data
        embedding_device = device
        if device.type == "cuda" and self.dataset.num_nodes * cfg.hidden * 4 > torch.cuda.mem_get_info(device)[0] // 4:
            embedding_device = torch.device("cpu")
        common = dict(device=device, batch_size=cfg.eval_batch_size, embedding_device=embedding_device, amp=cfg.amp,
                      quiet=cfg.quiet)
        if self.model.graph_free:
            return row_wise_inference(self.model.encoder, self.inputs, **common)
        return layerwise_inference(self.model.encoder, data.indptr, data.indices, self.inputs, **common)

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

