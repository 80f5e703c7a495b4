"""Sample pools and their double buffer: producers fill one pool while trainers consume the other.

A :class:`SamplePool` is a view of one of two preallocated buffers (pinned when the trainers
are GPUs, so a pool reaches the device in one fast copy). :class:`PoolPipeline` runs the
producer in a background thread: numba kernels release the GIL, so walking and bucketing run
in parallel with training. It records how long each side waited for the other, which says
which side limits throughput.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplePool:
    """Positive samples grouped into a ``P x P`` grid of blocks.

    Attributes:
        index: the pool's sequence number (its samples depend only on the seed and this).
        heads: int32 ``[n]`` rows in the head's vertex partition.
        tails: int32 ``[n]`` rows in the tail's context partition.
        block_ptr: int64 ``[P*P + 1]``; block ``(i, j)`` is ``block_ptr[i*P+j]:block_ptr[i*P+j+1]``.
        num_partitions: ``P``.
        buffer: which of the pipeline's buffers holds the samples.
    """

    index: int
    heads: torch.Tensor
    tails: torch.Tensor
    block_ptr: torch.Tensor
    num_partitions: int
    buffer: int = 0

    @property
    def num_samples(self) -> int:
        return self.heads.numel()

    def block(self, i: int, j: int) -> slice:
        """The slice of ``heads`` / ``tails`` holding block ``(i, j)``."""
        b = i * self.num_partitions + j
        return slice(int(self.block_ptr[b]), int(self.block_ptr[b + 1]))


@dataclass
class PipelineStats:
    """Seconds each side spent working and waiting (read after :meth:`PoolPipeline.close`)."""

    producer_busy_s: float = 0.0
    producer_wait_s: float = 0.0
    trainer_wait_s: float = 0.0
    pools: int = 0
    samples: int = 0


class PoolPipeline:
    """Double-buffered pools filled by a background producer thread.

    Example:
        >>> with PoolPipeline(producer.fill, capacity, pin=False) as pipe:  # doctest: +SKIP
        ...     pool = pipe.get()
        ...     train(pool)
        ...     pipe.release(pool)

    Args:
        fill: ``fill(index, heads_buffer, tails_buffer, buffer) -> SamplePool``, writing pool
            ``index`` into the given int32 buffers (number ``buffer``), e.g. ``SampleProducer.fill``.
        capacity: samples each buffer holds.
        first_index: index of the first pool (a resumed run continues the sequence).
        pin: allocate the buffers in pinned memory (for GPU trainers).
        num_buffers: 2 is double buffering; 1 makes producing and training alternate.
    """

    def __init__(
        self,
        fill: Callable[[int, torch.Tensor, torch.Tensor, int], SamplePool],
        capacity: int,
        *,
        first_index: int = 0,
        pin: bool = False,
        num_buffers: int = 2,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 samples, got {capacity}")
        if num_buffers < 1:
            raise ValueError(f"num_buffers must be >= 1, got {num_buffers}")
        self.stats = PipelineStats()
        self._fill = fill
        self._buffers = []
        for _ in range(num_buffers):
            pair = (torch.empty(capacity, dtype=torch.int32), torch.empty(capacity, dtype=torch.int32))
            self._buffers.append(tuple(t.pin_memory() for t in pair) if pin else pair)
        self._free: queue.Queue[int] = queue.Queue()
        for b in range(num_buffers):
            self._free.put(b)
        self._ready: queue.Queue[SamplePool | BaseException] = queue.Queue()
        self._stop = threading.Event()
        self._next = first_index
        self._thread = threading.Thread(target=self._run, name="embedding-producer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                b = self._free.get(timeout=0.1)
            except queue.Empty:
                self.stats.producer_wait_s += time.perf_counter() - t0
                continue
            t1 = time.perf_counter()
            self.stats.producer_wait_s += t1 - t0
            if self._stop.is_set():
                return
            try:
                heads, tails = self._buffers[b]
                pool = self._fill(self._next, heads, tails, b)
            except BaseException as err:  # handed to the consumer, which re-raises it
                self._ready.put(err)
                return
            self._next += 1
            self.stats.producer_busy_s += time.perf_counter() - t1
            self.stats.pools += 1
            self.stats.samples += pool.num_samples
            self._ready.put(pool)

    def get(self) -> SamplePool:
        """The next filled pool; blocks until the producer has one. Cost: no copy."""
        t0 = time.perf_counter()
        item = self._ready.get()
        self.stats.trainer_wait_s += time.perf_counter() - t0
        if isinstance(item, BaseException):
            raise RuntimeError(f"the sample producer failed: {item}") from item
        return item

    def release(self, pool: SamplePool) -> None:
        """Give the pool's buffer back to the producer (after its samples reached the device)."""
        self._free.put(pool.buffer)

    def close(self) -> None:
        """Stop the producer thread and wait for it (finishing the pool in progress)."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> PoolPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
