"""The minibatch pipeline of one epoch: a :class:`graphsys.loader.NodeLoader` over this rank's seeds
(of the target node type, for a heterogeneous dataset), or for link prediction a
:class:`graphsys.loader.LinkLoader` over this rank's training edges.

Sampling runs where the CSR lives (``TrainConfig.graph``: GPU kernels for "cuda" and
"pinned", numba kernels for "cpu"); features are gathered from the table in its placement
(:mod:`graphsys.train.features`). With a GPU sampler the loader prepares the next batch on
a side stream while the model trains on the current one. With the CPU sampler (the
conventional baseline) a host thread builds and pins the next batch while the GPU trains,
and each batch is copied to the training device.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch_geometric.data import Data

from graphsys.loader import LinkLoader, LoaderTimings, NegativeDrawer, NegativeSampling, NodeLoader
from graphsys.train.config import ModelKind, TrainConfig
from graphsys.train.data import TrainData
from sampling import NeighborSampler


def _next_host_batch(batches: Iterator[Data], pin: bool) -> Data | None:
    """The next host batch, page-locked for an asynchronous copy when ``pin``; None at the end."""
    batch = next(batches, None)
    if batch is None or not pin:
        return batch
    return batch.apply(lambda t: t if t.is_cuda else t.pin_memory())


class EpochBatches:
    """One epoch's batches on the training device; iterate once.

    Cost per batch: the loader's (one sampler call, one feature and one label gather); for a
    CPU sampler and a GPU device, a pinning copy on a host thread (one batch ahead) and one
    asynchronous host-to-device copy.
    """

    def __init__(self, loader: NodeLoader | LinkLoader, device: torch.device) -> None:
        self._loader = loader
        self._device = device

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self) -> Iterator[Data]:
        if self._loader.device == self._device:
            yield from self._loader
            return
        # The conventional pipeline as PyG runs it with a worker: a host thread samples,
        # gathers and pins batch i + 1 while the GPU trains on batch i.
        batches = iter(self._loader)
        pin = self._device.type == "cuda"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphsys-batches") as pool:
            pending = pool.submit(_next_host_batch, batches, pin)
            while (batch := pending.result()) is not None:
                pending = pool.submit(_next_host_batch, batches, pin)
                yield batch.to(self._device, non_blocking=True)

    def timings(self) -> LoaderTimings:
        """Sampling and gathering seconds of the batches so far. Cost on a GPU: one sync."""
        return self._loader.timings()


class EpochPipeline:
    """Builds each epoch's batches; owns the sampler, reseeded every epoch so epochs are reproducible.

    Args:
        config: fanouts and batch size.
        data: the placed graph, features and labels.
        device: the training device.
    """

    def __init__(self, config: TrainConfig, data: TrainData, device: torch.device) -> None:
        self._config = config
        self._data = data
        self._device = device
        # an MLP reads its seeds' rows alone: no neighbours
        fanouts = (0,) if config.model is ModelKind.MLP else config.fanouts
        self._sampler = NeighborSampler(data.indptr, data.indices, fanouts, seed=config.seed, validate=False,
                                        cuda_graph=config.cuda_graph, num_nodes=data.num_nodes)
        self._negatives: NegativeDrawer | None = None

    def link_epoch(self, edges: torch.Tensor, all_edges: torch.Tensor, *, seed: int) -> EpochBatches:
        """The link batches over ``edges`` (``[2, E]``, this rank's positives in the order given), with
        binary negatives (``config.negatives`` per positive, labelled 0) drawn from ``seed``; for a
        heterogeneous dataset the edges are of its ``edge_type`` and the negatives over its endpoint
        types (``HeteroData`` batches, the link fields on the edge type's store).

        The negative drawer (its degree table, and for strict negatives the sorted keys of the graph's
        edges and of ``all_edges``, every training positive) is built at the first epoch and kept.
        Cost: one copy of ``edges`` to the sampler's device and one range check (a sync).
        """
        cfg, data = self._config, self._data
        self._sampler.reseed(seed)
        # a heterogeneous dataset's links are of one edge type: its CSR, its endpoint types
        edge_type = data.dataset.edge_type if data.hetero else None
        if self._negatives is None:
            neg = NegativeSampling("binary", cfg.negatives, weight=cfg.negative_weight, strict=cfg.strict_negatives)
            indptr, indices, num_src = data.indptr, data.indices, None
            if edge_type is not None:
                indptr, indices = data.indptr[edge_type], data.indices[edge_type]
                num_src = data.num_nodes[edge_type[0]] if edge_type[0] != edge_type[2] else None
            self._negatives = NegativeDrawer(neg, indptr, indices, all_edges, self._sampler.device,
                                             num_src_nodes=num_src)
        seeds = edges if edge_type is None else (edge_type, edges)
        loader = LinkLoader(self._sampler, data.features, None, seeds, cfg.batch_size, shuffle=False,
                            neg_sampling=self._negatives, exclude_seed_edges=cfg.exclude_seed_edges,
                            gather_group=cfg.gather_group, seed=seed)
        return EpochBatches(loader, self._device)

    def epoch(self, seeds: torch.Tensor, *, seed: int) -> EpochBatches:
        """The batches over ``seeds`` in the order given, neighbour draws from ``seed``.

        Cost: one copy of ``seeds`` to the sampler's device and one range check (a sync).
        """
        self._sampler.reseed(seed)
        if self._data.hetero:
            seeds = (self._data.dataset.target, seeds)
        loader = NodeLoader(self._sampler, self._data.features, self._data.labels, seeds,
                            self._config.batch_size, shuffle=False, gather_group=self._config.gather_group, seed=seed)
        return EpochBatches(loader, self._device)
