"""Stage timings of a loader: how long sampling and gathering took, for metrics.

On a GPU the stages run on side streams, so host clocks would measure only the launches; each
batch records CUDA events instead, and their times are read once the events are done. The two
stages of consecutive batches overlap there, so their sum can exceed the wall time.
"""
from __future__ import annotations

import threading
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
    """Accounts the sampling span of each batch and the gathering span of each group of batches
    gathered together, on one device.

    A span is a pair of marks from :meth:`mark`. Cost per mark: a ``perf_counter`` on the CPU; an
    event record on a GPU stream (no sync). Batches are added on the loader's producer thread
    and read on the consumer's, hence the lock.
    """

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._lock = threading.Lock()
        self._open: deque = deque()
        self._batches = 0
        self._sample_s = 0.0
        self._gather_s = 0.0

    def mark(self, stream: torch.cuda.Stream | None = None):
        """A time point (on ``stream``, default the current one, on a GPU)."""
        if not self._cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record(stream)
        return event

    def add(self, samples: list[tuple], gather: tuple) -> None:
        """Account ``len(samples)`` batches given the (start, end) span of each one's sampling and
        of their gather (one gather may serve several batches); GPU spans are read once they complete."""
        with self._lock:
            if not self._cuda:
                self._count([end - start for start, end in samples], gather[1] - gather[0])
                return
            self._open.append((samples, gather))
            while self._open and self._done(*self._open[0]):
                self._settle(*self._open.popleft())

    @staticmethod
    def _done(samples: list[tuple], gather: tuple) -> bool:
        return gather[1].query() and all(end.query() for _, end in samples)

    def _settle(self, samples: list[tuple], gather: tuple) -> None:
        sample_s = [start.elapsed_time(end) / 1e3 for start, end in samples]
        self._count(sample_s, gather[0].elapsed_time(gather[1]) / 1e3)

    def _count(self, sample_s: list[float], gather_s: float) -> None:
        self._batches += len(sample_s)
        self._sample_s += sum(sample_s)
        self._gather_s += gather_s

    def read(self) -> LoaderTimings:
        """The totals so far. Cost on a GPU: waits for the batches still in flight (a host sync)."""
        with self._lock:
            while self._open:
                samples, gather = self._open.popleft()
                gather[1].synchronize()
                for _, end in samples:
                    end.synchronize()
                self._settle(samples, gather)
            return LoaderTimings(self._batches, self._sample_s, self._gather_s)

    def reset(self) -> None:
        """Forget the batches counted so far (those in flight are dropped too)."""
        with self._lock:
            self._open.clear()
            self._batches = 0
            self._sample_s = 0.0
            self._gather_s = 0.0
