"""Per-layer history: the latest embedding of every row of a partition and the epoch it was made.

A pipelined layer on chunk ``c`` reads previous-layer rows of chunks the pipeline has not
reached yet this epoch; those come from here, as written last epoch. The history lives in the
compute device's memory or, when it does not fit, in pinned host memory (placement "pinned"),
read through a :class:`zerocopy.UnifiedTensor`: GPU threads gather the rows over PCIe, no
staging copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.profiler import record_function

from zerocopy import UnifiedTensor


@dataclass
class ReadStats:
    """Rows a rank read while computing layers, and how stale the stale ones were (in epochs)."""

    rows: int = 0
    stale_rows: int = 0
    max_staleness: int = 0

    def add(self, rows: int, stale_rows: int, max_staleness: int) -> None:
        self.rows += rows
        self.stale_rows += stale_rows
        self.max_staleness = max(self.max_staleness, max_staleness)


class History:
    """``rows x width`` embeddings with the epoch each row was last written (-1: never).

    Args:
        rows, width: the table's shape. device: where computation happens (and the stamps live).
        placement: "device" (the table on ``device``) or "pinned" (host memory, page-locked when
            CUDA is present, gathered zero-copy).
    """

    def __init__(self, rows: int, width: int, device: torch.device, placement: str) -> None:
        if placement not in ("device", "pinned"):
            raise ValueError(f"placement must be 'device' or 'pinned', got {placement!r}")
        self.device = device
        table = torch.zeros(rows, width)
        self._unified = UnifiedTensor(table) if placement == "pinned" else None
        self.values = self._unified.host if self._unified is not None else table.to(device)
        self.stamp = torch.full((rows,), -1, dtype=torch.int64, device=device)

    def write(self, start: int, values: torch.Tensor, epoch: int) -> None:
        """Store rows ``start .. start + len(values)`` made in ``epoch``.

        Cost: one copy (device to host, synchronous, for a pinned history).
        """
        stop = start + values.shape[0]
        with record_function("pipeline.history_write"):
            self.values[start:stop] = values.detach().to(self.values.device)
            self.stamp[start:stop] = epoch

    def read(self, ids: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """Rows ``ids`` on the compute device, which of them were written this ``epoch``, and
        the count and worst age of the others.

        Cost: one gather (zero-copy over PCIe from a pinned history) and one host sync for the
        staleness figures.

        Raises:
            RuntimeError: a stale row was never written (no staleness-free epoch ran first).
        """
        with record_function("pipeline.history_read"):
            ids = ids.to(self.device)
            if self._unified is not None:
                rows = self._unified.gather(ids, check=False)
            else:
                rows = self.values.index_select(0, ids)
            stamp = self.stamp.index_select(0, ids)
            fresh = stamp == epoch
            stale = int((~fresh).sum())
            if stale and bool((stamp < 0).any()):
                raise RuntimeError("a layer read a history row that was never written: run a warm-up epoch first")
            age = int((epoch - stamp).max()) if stale else 0
        return rows, fresh, stale, age

    def close(self) -> None:
        """Release the page-locking of a pinned history (a no-op otherwise)."""
        if self._unified is not None:
            self._unified.close()
