"""A host thread that produces a loader's batches ahead of the consumer.

Producing a GPU batch holds the host: the sampler waits once per batch for its own kernels
(to learn how many nodes it found) before the gathers can be launched. Done on the training
thread, that wait is time in which no model kernel is launched, and a step of a small GNN is
launch-bound. On this thread the wait releases the GIL and the training thread goes on
launching. With the CPU sampler the numba kernels release the GIL too, so sampling overlaps
the model's step there as well.

The thread calls ``produce`` for each item in order, so the batches (and every random draw
in them) are the same as when produced inline.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

import torch

Item = TypeVar("Item")
Batch = TypeVar("Batch")

_DONE = object()


class _Failure:
    """An exception raised on the producer thread, re-raised on the consumer's."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Producer(Generic[Item, Batch]):
    """Iterates ``produce(item)`` over ``items``, at most ``ahead`` results made before they are asked for.

    Use as a context manager: leaving it (at the end, on ``break`` or on an exception) stops
    the thread after the item it is producing and joins it, so nothing runs on after the loop.

    Args:
        produce: makes one batch; runs on the producer thread.
        items: the arguments, in order.
        ahead: batches produced and not yet taken, at most (>= 1); the one the consumer holds
            is not counted, so ``ahead = 1`` keeps two batches alive, as double buffering does.
        device: the CUDA device the thread works on (None on the CPU).
    """

    def __init__(self, produce: Callable[[Item], Batch], items: Sequence[Item], ahead: int,
                 device: torch.device | None = None) -> None:
        if ahead < 1:
            raise ValueError(f"ahead must be >= 1, got {ahead}")
        self._produce = produce
        self._items = items
        self._device = device
        self._slots = threading.Semaphore(ahead)
        self._ready: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="graphsys-loader", daemon=True)

    def __enter__(self) -> Producer[Item, Batch]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._slots.release()  # wakes the thread if it waits for a free slot
        self._thread.join()

    def __iter__(self) -> Iterator[Batch]:
        """The batches in order. Cost: a queue wait per batch (none when the batch is ready)."""
        for _ in self._items:
            result = self._ready.get()
            if isinstance(result, _Failure):
                raise result.error
            self._slots.release()
            yield result
        if self._ready.get() is not _DONE:  # pragma: no cover - the thread puts one result per item
            raise RuntimeError("the loader's producer thread made more batches than asked")

    def _run(self) -> None:
        try:
            if self._device is not None:
                torch.cuda.set_device(self._device)
            for item in self._items:
                self._slots.acquire()
                if self._stop.is_set():
                    return
                self._ready.put(self._produce(item))
            self._ready.put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._ready.put(_Failure(error))
