"""The minibatch pipeline of one epoch: a :class:`graphsys.loader.NodeLoader` over this rank's seeds.

Sampling runs where the CSR lives (``TrainConfig.graph``: GPU kernels for "cuda" and
"pinned", numba kernels for "cpu"); features are gathered from the table in its placement
(:mod:`graphsys.train.features`). With a GPU sampler the loader prepares the next batch on
a side stream while the model trains on the current one. With the CPU sampler (the
conventional baseline) batches are built on the host and copied to the training device.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch_geometric.data import Data

from graphsys.loader import LoaderTimings, NodeLoader
from graphsys.train.config import TrainConfig
from graphsys.train.data import TrainData
from sampling import NeighborSampler


class EpochBatches:
    """One epoch's batches on the training device; iterate once.

    Cost per batch: the loader's (one sampler call, one feature and one label gather); for a
    CPU sampler and a GPU device, one host-to-device copy of the batch.
    """

    def __init__(self, loader: NodeLoader, device: torch.device) -> None:
        self._loader = loader
        self._device = device

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self) -> Iterator[Data]:
        if self._loader.device == self._device:
            yield from self._loader
            return
        for batch in self._loader:
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
        self._sampler = NeighborSampler(data.indptr, data.indices, config.fanouts, seed=config.seed, validate=False)

    def epoch(self, seeds: torch.Tensor, *, seed: int) -> EpochBatches:
        """The batches over ``seeds`` in the order given, neighbour draws from ``seed``.

        Cost: one copy of ``seeds`` to the sampler's device and one range check (a sync).
        """
        self._sampler.reseed(seed)
        loader = NodeLoader(self._sampler, self._data.features, self._data.labels, seeds,
                            self._config.batch_size, shuffle=False, seed=seed)
        return EpochBatches(loader, self._device)
