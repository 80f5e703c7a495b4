"""Stage timings of a loader: how long sampling and gathering took, for metrics.

On a GPU the stages run on a side stream, so host clocks would measure only the launches;
each batch records CUDA events instead, and their times are read once the events are done.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LoaderTimings:
    """Seconds spent per stage over ``batches`` batches.

    Attributes:
        batches: batches produced.
        sample_s: time in the neighbour sampler.
        gather_s: time gathering feature and label rows.
    """

    batches: int
    sample_s: float
    gather_s: float

    @property
    def sample_ms_per_batch(self) -> float:
        return 1e3 * self.sample_s / self.batches if self.batches else 0.0

    @property
    def gather_ms_per_batch(self) -> float:
        return 1e3 * self.gather_s / self.batches if self.batches else 0.0


class StageClock:
    """Marks the boundaries sample-start / sampled / gathered of each batch on one device.

    Cost per mark: a ``perf_counter`` on the CPU; an event record (no sync) on a GPU.
    """

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._open: deque = deque()
        self._batches = 0
        self._sample_s = 0.0
        self._gather_s = 0.0

    def mark(self):
        """A time point on the current stream."""
        if not self._cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def add(self, start, sampled, gathered) -> None:
        """Account one batch given its three marks (GPU marks are read once they complete)."""
        if not self._cuda:
            self._count(sampled - start, gathered - sampled)
            return
        self._open.append((start, sampled, gathered))
        while self._open and self._open[0][2].query():
            self._settle(*self._open.popleft())

    def _settle(self, start, sampled, gathered) -> None:
        self._count(start.elapsed_time(sampled) / 1e3, sampled.elapsed_time(gathered) / 1e3)

    def _count(self, sample_s: float, gather_s: float) -> None:
        self._batches += 1
        self._sample_s += sample_s
        self._gather_s += gather_s

    def read(self) -> LoaderTimings:
        """The totals so far. Cost on a GPU: waits for the batches still in flight (a host sync)."""
        while self._open:
            marks = self._open.popleft()
            marks[2].synchronize()
            self._settle(*marks)
        return LoaderTimings(self._batches, self._sample_s, self._gather_s)

    def reset(self) -> None:
        """Forget the batches counted so far (those in flight are dropped too)."""
        self._open.clear()
        self._batches = 0
        self._sample_s = 0.0
        self._gather_s = 0.0
