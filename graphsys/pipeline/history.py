"""Per-layer history: the latest embedding of every row of a partition and the epoch it was made.

A pipelined layer on chunk ``c`` reads previous-layer rows of chunks the pipeline has not
reached yet this epoch; those come from here, as written last epoch. The history lives in the
compute device's memory or, when it does not fit, in pinned host memory (placement "pinned"),
from which reads cross PCIe as one gather-and-copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from zerocopy.placement import place


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
        rows, width: the table's shape. device: where computation happens.
        placement: "device" (the table on ``device``) or "pinned" (page-locked host memory).
    """

    def __init__(self, rows: int, width: int, device: torch.device, placement: str) -> None:
        self.device = device
        table = torch.zeros(rows, width)
        self.values = table.to(device) if placement == "device" else place(table, "pinned" if device.type == "cuda" else "cpu")
        self.stamp = torch.full((rows,), -1, dtype=torch.int64, device=self.values.device)

    def write(self, start: int, values: torch.Tensor, epoch: int) -> None:
        """Store rows ``start .. start + len(values)`` made in ``epoch``. Cost: one copy."""
        stop = start + values.shape[0]
        self.values[start:stop] = values.detach().to(self.values.device, non_blocking=True)
        self.stamp[start:stop] = epoch

    def read(self, ids: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """Rows ``ids`` on the compute device, which of them were written this ``epoch``, and
        the count and worst age of the others.

        Cost: one gather (plus one host-to-device copy from pinned memory) and one host sync
        for the staleness figures.
        """
        ids_here = ids.to(self.values.device)
        rows = self.values.index_select(0, ids_here).to(self.device, non_blocking=True)
        stamp = self.stamp.index_select(0, ids_here)
        fresh = stamp == epoch
        stale = int((~fresh).sum())
        if stale and bool((stamp < 0).any()):
            raise RuntimeError("a layer read a history row that was never written: run a warm-up epoch first")
        age = int((epoch - stamp).max()) if stale else 0
        return rows, fresh.to(self.device), stale, age
