"""The minibatch pipeline of one epoch: seeds -> sampled subgraph -> gathered features -> batch.

Sampling runs where the CSR lives (``TrainConfig.graph``: GPU kernels for "cuda" and
"pinned", numba kernels for "cpu"); features are gathered from the table in its
placement (:mod:`graphsys.train.features`). Each batch is a PyG ``Data`` on the training
device with ``x``, ``y``, ``edge_index``, ``n_id``, ``batch_size``, ``num_sampled_nodes``
and ``num_sampled_edges``, ready for a PyG model's trimmed forward pass.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterator

import torch
from torch_geometric.data import Data

from graphsys.train.config import TrainConfig
from graphsys.train.data import TrainData
from graphsys.train.features import gather_rows
from sampling import NeighborSampler


@dataclass(frozen=True)
class StageSeconds:
    """Time spent in each stage over an epoch (GPU stages measured with CUDA events)."""

    sample_s: float
    gather_s: float


class _StageClock:
    """Times a stage with CUDA events (read once at the end) or the wall clock on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._events: list = []
        self._wall = 0.0

    @contextlib.contextmanager
    def measure(self):
        if self._cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            t0 = time.perf_counter()
            yield
            end.record()
            self._events.append((start, end, time.perf_counter() - t0))
        else:
            t0 = time.perf_counter()
            yield
            self._wall += time.perf_counter() - t0

    def seconds(self) -> float:
        """Total stage time. Cost on a GPU: one sync on the last event."""
        if self._events:
            self._events[-1][1].synchronize()
            # A stage that blocks the host (a sync inside the sampler, a CPU gather) shows
            # its cost in wall time; one that only enqueues GPU work shows it in the events.
            self._wall += sum(max(s.elapsed_time(e) / 1e3, host) for s, e, host in self._events)
            self._events.clear()
        return self._wall


class EpochBatches:
    """The batches of one epoch over a fixed seed order; iterate once.

    Cost per batch: one sampler call (a host sync at its end on a GPU), one feature gather,
    one label gather; all outputs on the training device.
    """

    def __init__(self, sampler: NeighborSampler, data: TrainData, seeds: torch.Tensor, batch_size: int,
                 device: torch.device) -> None:
        self._sampler = sampler
        self._data = data
        self._seeds = seeds.to(sampler.device)
        self._batch_size = batch_size
        self._device = device
        self._sample = _StageClock(device)
        self._gather = _StageClock(device)

    def __len__(self) -> int:
        return -(-self._seeds.numel() // self._batch_size)

    def __iter__(self) -> Iterator[Data]:
        device = self._device
        for start in range(0, self._seeds.numel(), self._batch_size):
            seeds = self._seeds[start : start + self._batch_size]
            with self._sample.measure():
                out = self._sampler.sample(seeds)
            with self._gather.measure():
                n_id = out.node
                x = gather_rows(self._data.features, n_id, device)
                n_id = n_id.to(device, non_blocking=True)
                y = self._data.labels[n_id[: seeds.numel()]]
                edge_index = torch.stack([out.row, out.col]).to(device, non_blocking=True)
            yield Data(x=x, y=y, edge_index=edge_index, n_id=n_id, batch_size=seeds.numel(),
                       num_sampled_nodes=list(out.num_sampled_nodes),
                       num_sampled_edges=list(out.num_sampled_edges))

    def stage_seconds(self) -> StageSeconds:
        """Sampling and gathering time so far. Cost on a GPU: one sync."""
        return StageSeconds(self._sample.seconds(), self._gather.seconds())


class EpochPipeline:
    """Builds each epoch's batches; owns the sampler (reseeded every epoch).

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
        """The batches over ``seeds`` in the given order, neighbour draws from ``seed``."""
        self._sampler.reseed(seed)
        return EpochBatches(self._sampler, self._data, seeds, self._config.batch_size, self._device)
