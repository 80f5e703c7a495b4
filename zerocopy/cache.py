"""A device-resident cache of a unified tensor's hottest rows, and the rankings that pick them.

On power-law graphs a few rows are touched by most minibatches: caching the top rows by degree
(how many neighbour lists hold a row) or by visit counts from a few presampled epochs in GPU
memory serves most of a gather from the GPU (~800 GB/s) and leaves only the misses to PCIe
(~55 GB/s). The cache is looked up inside the same kernel launch that reads the misses, so a
cached gather is still one call.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

SLOT_BYTES = 4
"""Bytes of device memory per table row spent on the slot map (int32 slot or -1), in the budget."""


@dataclass(frozen=True)
class CacheStats:
    """Hit statistics of a row cache since it was enabled or last reset.

    Attributes:
        hits: rows served from the device cache.
        misses: rows read from host memory (in range; out-of-range ids raise and are not counted).
        hit_rate: ``hits / (hits + misses)``, 0.0 before any lookup.
        cached_rows: rows held on the device.
    """

    hits: int
    misses: int
    hit_rate: float
    cached_rows: int


def degree_ranking(indices: torch.Tensor, num_rows: int) -> torch.Tensor:
    """How many neighbour lists of a CSR name each row (its out-degree when the CSR lists
    in-neighbours, as the samplers' does): a ranking for :class:`RowCache`.

    A neighbour sampler draws a node as often as lists hold it, so this, not the length of the
    node's own list (the in-degree, ``indptr`` differences), is the degree that predicts which
    rows a minibatch gathers; on a directed graph the two differ (benchmarks/bench_cache_hits.py).

    Cost: a min, a max and a bincount over ``indices`` on its device; returns int64 ``[num_rows]`` there.

    Raises:
        ValueError: ``indices`` not 1-D, or an id outside ``[0, num_rows)``.
    """
    if indices.dim() != 1:
        raise ValueError(f"indices must be 1-D, got shape {tuple(indices.shape)}")
    if indices.numel():
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= num_rows:
            raise ValueError(f"indices hold id {lo if lo < 0 else hi}, outside [0, {num_rows})")
    return torch.bincount(indices, minlength=num_rows)


def visit_ranking(batches: Iterable[torch.Tensor], num_rows: int) -> torch.Tensor:
    """How often each row appears in ``batches`` (e.g. the node ids of a few presampled epochs).

    Cost: one bincount per batch on the batch's device; returns int64 ``[num_rows]`` on the CPU.

    Raises:
        TypeError: for a batch that does not hold integer row ids (a float or a bool mask).
        IndexError: for an id outside ``[0, num_rows)``, naming it.
    """
    counts = torch.zeros(num_rows, dtype=torch.int64)
    for at, batch in enumerate(batches):
        if batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
            raise TypeError(f"batches[{at}] must hold integer row ids, got dtype {batch.dtype}")
        flat = batch.reshape(-1).cpu().to(torch.int64)
        if flat.numel() == 0:
            continue
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= num_rows:
            bad = lo if lo < 0 else hi
            raise IndexError(f"batch holds row id {bad}, outside [0, {num_rows})")
        counts += torch.bincount(flat, minlength=num_rows)
    return counts


class RowCache:
    """The hottest rows of a table, held on ``device``, with a slot map and hit counters there.

    Built by :meth:`zerocopy.UnifiedTensor.enable_cache`; one per unified tensor.

    Args:
        rows: the cached row ids, ascending (int64, CPU).
        data: ``[len(rows), *row_shape]`` on ``device``: the rows' contents.
        num_rows: rows in the whole table (the slot map's length).
        device: where the cache lives ("cuda:k", or "cpu" on a machine without a GPU).
    """

    def __init__(self, rows: torch.Tensor, data: torch.Tensor, num_rows: int, device: torch.device) -> None:
        self.device = device
        self.rows = rows
        self.data = data
        self.slot_map = torch.full((num_rows,), -1, dtype=torch.int32, device=device)
        self.slot_map[rows.to(device)] = torch.arange(rows.numel(), dtype=torch.int32, device=device)
        self.counts = torch.zeros(2, dtype=torch.int64, device=device)

    @staticmethod
    def rows_for_budget(budget_bytes: int, num_rows: int, row_bytes: int) -> int:
        """How many rows ``budget_bytes`` holds, after the slot map's ``SLOT_BYTES`` per table row.

        Raises:
            ValueError: when the budget does not cover the slot map plus one row.
        """
        if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int):
            raise TypeError(f"budget_bytes must be an int, got {type(budget_bytes).__name__}")
        need = SLOT_BYTES * num_rows + max(row_bytes, 1)
        if budget_bytes < need:
            raise ValueError(
                f"budget_bytes={budget_bytes} holds no row: the slot map takes {SLOT_BYTES} B x {num_rows} rows, "
                f"so the budget must be at least {need}"
            )
        if row_bytes == 0:
            return num_rows
        return min(num_rows, (budget_bytes - SLOT_BYTES * num_rows) // row_bytes)

    @staticmethod
    def hottest(ranking: torch.Tensor | None, num_rows: int, count: int) -> torch.Tensor:
        """The ``count`` highest-ranked row ids, ascending; ties go to the lower id.

        ``ranking`` None means rows are already ordered hottest first (ids ``0 .. count-1``).

        Raises:
            ValueError: for a ranking that is not 1-D with ``num_rows`` entries.
            TypeError: for a complex or boolean ranking.
        """
        if ranking is None:
            return torch.arange(count, dtype=torch.int64)
        if not isinstance(ranking, torch.Tensor):
            raise TypeError(f"ranking must be a torch.Tensor or None, got {type(ranking).__name__}")
        if ranking.dim() != 1 or ranking.numel() != num_rows:
            raise ValueError(
                f"ranking must be 1-D with one score per row ({num_rows}), got shape {tuple(ranking.shape)}"
            )
        if ranking.dtype == torch.bool or ranking.is_complex():
            raise TypeError(f"ranking must hold real scores, got dtype {ranking.dtype}")
        # Sorted where the ranking lives, so a ranking counted on the GPU is not sorted by host cores.
        order = torch.sort(ranking, descending=True, stable=True).indices[:count]
        return torch.sort(order).values.cpu()

    def lookup_cpu(self, idx: torch.Tensor, host: torch.Tensor) -> torch.Tensor:
        """``host[idx]`` with cached rows taken from the cache, for a cache on the CPU.

        Cost: a slot lookup, two index_selects and a scatter on the CPU threads.
        """
        slots = self.slot_map[idx]
        hit = slots >= 0
        out = torch.empty((idx.numel(),) + tuple(host.shape[1:]), dtype=host.dtype)
        out[hit] = self.data[slots[hit].to(torch.int64)]
        out[~hit] = host[idx[~hit]]
        self.counts[0] += hit.sum()
        self.counts[1] += idx.numel()
        return out

    def stats(self) -> CacheStats:
        """Current statistics. Cost: one device-to-host copy of two integers (a sync on a GPU cache)."""
        hits, lookups = (int(v) for v in self.counts.tolist())
        return CacheStats(
            hits=hits,
            misses=lookups - hits,
            hit_rate=hits / lookups if lookups else 0.0,
            cached_rows=int(self.rows.numel()),
        )

    def reset_stats(self) -> None:
        """Zero the hit counters (in place, on the cache's device, no sync)."""
        self.counts.zero_()
