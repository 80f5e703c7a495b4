"""Loading a dataset for training and putting its parts where the config says."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from graphsys.datasets import NodeDataset, load
from graphsys.train.config import TrainConfig, check_machine
from graphsys.train.distributed import DistContext
from graphsys.train.features import cache_budget_bytes, place_features, share_across_ranks
from zerocopy.placement import place

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainData:
    """A dataset laid out for training.

    Attributes:
        dataset: the loaded dataset (host memory).
        indptr, indices: the CSR in ``config.graph`` placement.
        features: the feature table in ``config.features`` placement (a tensor or a
            ``zerocopy.UnifiedTensor``).
        labels: ``y`` (float for multi-label, for the BCE loss) where the sampler runs: on the
            training device, or on the host for a CPU sampler.
    """

    dataset: NodeDataset
    indptr: torch.Tensor
    indices: torch.Tensor
    features: object
    labels: torch.Tensor

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes


def load_dataset(config: TrainConfig) -> NodeDataset:
    """The dataset the config names, checked to be trainable.

    Raises:
        ValueError: an unknown name (from ``graphsys.datasets.load``), or a dataset without
            features, labels or a training split.
    """
    options = {"undirected": True} if config.undirected else {}
    start = time.perf_counter()
    dataset = load(config.dataset, config.root, scale=config.scale, seed=config.seed, quiet=config.quiet, **options)
    logger.info("%s loaded in %.1f s", dataset, time.perf_counter() - start)
    check_trainable(dataset)
    return dataset


def check_trainable(dataset: NodeDataset) -> None:
    """Refuse a dataset node classification cannot train on.

    Raises:
        ValueError: a dataset without node features, labels or a training split.
    """
    if dataset.x is None:
        raise ValueError(
            f"dataset {dataset.name!r} has no node features; node classification needs them "
            "(train an embedding with `graphsys embed` instead)"
        )
    if dataset.num_classes < 1 or dataset.train_idx.numel() == 0:
        raise ValueError(f"dataset {dataset.name!r} has no labels or no training split")


def prepare(config: TrainConfig, dataset: NodeDataset, ctx: DistContext) -> TrainData:
    """Place the graph, the features and the labels for training on ``ctx.device``.

    In a distributed run a host feature table ("pinned" or "cpu") is shared by all ranks
    of a machine (:func:`share_across_ranks`) rather than held once per rank.

    Cost: copies for "cuda" placements, page-locking for "pinned", nothing for "cpu".

    Raises:
        RuntimeError: a placement the machine cannot provide (see :func:`check_machine`).
    """
    device = ctx.device
    x = dataset.x
    cuda = torch.cuda.is_available()
    free = torch.cuda.mem_get_info(device)[0] if cuda and device.type == "cuda" else None
    cache_bytes = cache_budget_bytes(x, config.cache) if config.cache > 0 else 0
    check_machine(config, cache_bytes=cache_bytes, cuda_available=cuda, free_gpu_bytes=free)
    graph = dataset.graph
    start = time.perf_counter()
    indptr = place(graph.indptr.contiguous(), config.graph if config.graph != "cuda" else device)
    indices = place(graph.indices.contiguous(), config.graph if config.graph != "cuda" else device)
    placed = time.perf_counter()
    logger.info("graph (%d edges) placed in %s in %.1f s", graph.num_edges, config.graph, placed - start)
    # Counted on the training device: a host bincount is slow for papers100M (1.6 B edges; one took
    # 1.8 s per 160 M edges on a core of the development machine).
    hotness = graph.out_degrees(device) if config.cache > 0 else None
    if config.features != "cuda":
        x = share_across_ranks(x, ctx)
    features = place_features(x, config.features, device=device, cache=config.cache, hotness=hotness)
    labels = dataset.y.float() if dataset.multilabel else dataset.y
    # Labels sit where the sampler runs, so a batch's label gather stays on one device.
    labels = labels.to(device if config.graph != "cpu" else "cpu")
    logger.info("features %s (%.2f GiB) placed in %s in %.1f s, labels placed, device %s",
                tuple(x.shape), x.numel() * x.element_size() / 2**30, config.features,
                time.perf_counter() - placed, device)
    return TrainData(dataset, indptr, indices, features, labels)
