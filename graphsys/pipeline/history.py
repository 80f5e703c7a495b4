"""Per-layer history: the latest embedding of every row of a partition and the epoch it was made.

A pipelined layer on chunk ``c`` reads previous-layer rows of chunks the pipeline has not
reached yet this epoch; those come from here, as written last epoch. The history lives in the
compute device's memory or, when it does not fit, in pinned host memory (placement "pinned"),
read through a :class:`zerocopy.UnifiedTensor`: GPU threads gather the rows over PCIe, no
staging copy.
"""
from __future__ import annotations

import torch
from torch.profiler import record_function

from zerocopy import UnifiedTensor


class ReadStats:
    """Rows a rank read while computing layers, and how stale the stale ones were (in epochs).

    History reads add their counts as device tensors; all of them are read back together, with
    one host sync, when a figure is first asked for. A host sync per read would stall the GPU's
    queue at every chunk of every layer.
    """

    def __init__(self) -> None:
        self.rows = 0
        self._stale_rows = 0
        self._max_staleness = 0
        self._pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def add(self, rows: int, stale_rows: torch.Tensor, max_staleness: torch.Tensor, unwritten: torch.Tensor) -> None:
        """Count one read of ``rows`` rows: 0-dim tensors of its stale rows, their worst age, and
        whether any row read was never written."""
        self.rows += rows
        self._pending.append((stale_rows, max_staleness, unwritten))

    def _settle(self) -> None:
        if not self._pending:
            return
        stale, age, unwritten = (torch.stack([t.long() for t in column]) for column in zip(*self._pending, strict=True))
        self._pending = []
        stale, age, unwritten = torch.stack([stale.sum(), age.max(), unwritten.max()]).tolist()
        if unwritten:
            raise RuntimeError("a layer read a history row that was never written: run a warm-up epoch first")
        self._stale_rows += stale
        self._max_staleness = max(self._max_staleness, age)

    @property
    def stale_rows(self) -> int:
        """Rows read from history rather than computed this epoch.

        Raises:
            RuntimeError: a read took a row that was never written (no staleness-free epoch ran first).
        """
        self._settle()
        return self._stale_rows

    @property
    def max_staleness(self) -> int:
        """The oldest row read, in epochs (0: every read fresh). Raises as :attr:`stale_rows` does."""
        self._settle()
        return self._max_staleness


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

    def read(self, ids: torch.Tensor, epoch: int) -> tuple[torch.Tensor, ...]:
        """Rows ``ids`` on the compute device, which of them were written this ``epoch``, and, as
        0-dim device tensors for :class:`ReadStats`, the count and worst age of the others and
        whether any was never written (no staleness-free epoch ran first).

        Cost: one gather (zero-copy over PCIe from a pinned history); no host sync.
        """
        with record_function("pipeline.history_read"):
            ids = ids.to(self.device)
            if self._unified is not None:
                rows = self._unified.gather(ids, check=False)
            else:
                rows = self.values.index_select(0, ids)
            stamp = self.stamp.index_select(0, ids)
            fresh = stamp == epoch
            stale = (~fresh).sum()
            age = (epoch - stamp).masked_fill(fresh, 0).amax() if ids.numel() else stale
            unwritten = (stamp < 0).any()
        return rows, fresh, stale, age, unwritten

    def close(self) -> None:
        """Release the page-locking of a pinned history (a no-op otherwise)."""
        if self._unified is not None:
            self._unified.close()
