"""A device-resident cache of a unified tensor's hottest rows, and the rankings that pick them.

On power-law graphs a few rows are touched by most minibatches: caching the top rows by degree
(how many neighbour lists hold a row) or by visit counts from a few presampled epochs in GPU
memory serves most of a gather from the GPU (~800 GB/s) and leaves only the misses to PCIe
(~55 GB/s). The cache is looked up inside the same kernel launch that reads the misses, so a
cached gather is still one call.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from zerocopy.unified import UnifiedTensor

SLOT_BYTES = 4
"""Bytes of device memory per table row spent on the slot map (int32 slot or -1), in the budget."""


@dataclass(frozen=True)
class CacheStats:
    """Hit statistics of a row cache since it was enabled or last reset.

    Attributes:
        hits: rows served from the device cache.
        misses: rows read from host memory (in range; out-of-range ids raise and are not counted).
        hit_rate: ``hits / (hits + misses)``, 0.0 before any lookup.
        cached_rows: rows held on the device (a sharded cache: this rank's shard).
        peer_hits: of ``hits``, rows served by another rank's shard (a sharded cache,
            :mod:`zerocopy.shard`; 0 otherwise). Tiers: ``local_hits + peer_hits + misses`` lookups.
        shards: how many ranks' shards make up the cache (1: an unsharded cache).
    """

    hits: int
    misses: int
    hit_rate: float
    cached_rows: int
    peer_hits: int = 0
    shards: int = 1

    @property
    def local_hits(self) -> int:
        """Rows served from this device's own cache (or shard)."""
        return self.hits - self.peer_hits


@dataclass(frozen=True)
class CacheShare:
    """One table's part of a cache budget shared across tables (:func:`share_cache`).

    Attributes:
        rows: rows of the table cached.
        bytes: device bytes they take, the table's slot map included (0 when ``rows`` is 0).
        ranked_fraction: the fraction of the table's ranking its cached rows hold: the hit rate to
            expect when the ranking counts how often batches draw each row.
    """

    rows: int
    bytes: int
    ranked_fraction: float


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
        slot_map: a prebuilt ``[num_rows]`` int32 map on ``device`` (a sharded cache's routes);
            None builds it from ``rows``.
    """

    def __init__(
        self,
        rows: torch.Tensor,
        data: torch.Tensor,
        num_rows: int,
        device: torch.device,
        slot_map: torch.Tensor | None = None,
    ) -> None:
        self.device = device
        self.rows = rows
        self.data = data
        if slot_map is None:
            slot_map = torch.full((num_rows,), -1, dtype=torch.int32, device=device)
            slot_map[rows.to(device)] = torch.arange(rows.numel(), dtype=torch.int32, device=device)
        # >= 0: the row's slot in ``data``; any negative value: read the host table (a sharded cache
        # encodes the owning peer there, see zerocopy.shard.route_map).
        self.slot_map = slot_map
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

    def write_rows(self, ids: torch.Tensor, rows: torch.Tensor) -> None:
        """Copy the rows among valid ``ids`` that are cached into the cache (a write-through by torch
        indexing, for writes that did not pass through the scatter kernel's cache path).

        Cost: a slot lookup and a masked copy on the cache's device (a sync there when it is a GPU).
        """
        slots = self.slot_map[ids.to(self.device)]
        hit = slots >= 0
        self.data[slots[hit].to(torch.int64)] = rows.to(self.device)[hit]

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


def split_cache_budget(
    num_rows: Mapping[str, int],
    row_bytes: Mapping[str, int],
    rankings: Mapping[str, torch.Tensor],
    budget_bytes: int,
) -> dict[str, CacheShare]:
    """How many rows of each table one cache budget holds when it takes the globally hottest rows.

    Every row of every table is scored by its ranking (how often the sampler draws it) divided by
    the bytes it costs, so the budget buys the most hits per byte; rows are taken in descending
    score (ties: the table listed first, then the lower id) while the budget lasts, a table's slot
    map (``SLOT_BYTES`` per row of the table) charged with its first row. A table whose slot map no
    longer fits is left out and the rest are taken again. Rows with a score <= 0 are never taken,
    so a table the sampler never draws costs nothing.

    Cost: one sort of each ranking on its device; one sort of the candidates (at most the rows
    the budget could hold of each table) on the CPU.

    Raises:
        ValueError: rankings missing for a table or given for an unknown one, a ranking of the wrong
            shape, zero-width rows, or a negative budget, naming the table.
        TypeError: a non-int budget or a non-real ranking.
    """
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int):
        raise TypeError(f"budget_bytes must be an int, got {type(budget_bytes).__name__}")
    if budget_bytes < 0:
        raise ValueError(f"budget_bytes must be >= 0, got {budget_bytes}")
    names = list(num_rows)
    if set(rankings) != set(names):
        raise ValueError(
            f"rankings must name exactly the tables {sorted(names)}; got {sorted(rankings)} "
            f"(missing {sorted(set(names) - set(rankings))}, unknown {sorted(set(rankings) - set(names))})"
        )
    tops, scores, owners, totals = [], [], [], {}
    for at, name in enumerate(names):
        rows, width = num_rows[name], row_bytes[name]
        if width <= 0:
            raise ValueError(f"table {name!r} has zero-width rows: nothing to cache")
        ranking = rankings[name]
        if not isinstance(ranking, torch.Tensor) or ranking.dim() != 1 or ranking.numel() != rows:
            got = tuple(ranking.shape) if isinstance(ranking, torch.Tensor) else type(ranking).__name__
            raise ValueError(f"rankings[{name!r}] must be 1-D with one score per row ({rows}), got {got}")
        if ranking.dtype == torch.bool or ranking.is_complex():
            raise TypeError(f"rankings[{name!r}] must hold real scores, got dtype {ranking.dtype}")
        cap = min(rows, max(0, budget_bytes - SLOT_BYTES * rows) // width)
        top = torch.sort(ranking, descending=True, stable=True).values[:cap].cpu().to(torch.float64)
        top = top[top > 0]
        totals[name] = float(ranking.clamp(min=0).sum())
        tops.append(top)
        scores.append(top / width)
        owners.append(torch.full((top.numel(),), at, dtype=torch.int64))
    left_out: set[int] = set()
    while True:
        kept = [at for at in range(len(names)) if at not in left_out]
        score = torch.cat([scores[at] for at in kept]) if kept else torch.zeros(0, dtype=torch.float64)
        owner = torch.cat([owners[at] for at in kept]) if kept else torch.zeros(0, dtype=torch.int64)
        order = torch.sort(score, descending=True, stable=True).indices
        owner = owner[order]
        first = torch.zeros(owner.numel(), dtype=torch.bool)
        if owner.numel():
            # The position where each table's first row comes: its slot map is charged there.
            earliest = torch.full((len(names),), owner.numel(), dtype=torch.int64).scatter_reduce_(
                0, owner, torch.arange(owner.numel()), reduce="amin"
            )
            first[earliest[earliest < owner.numel()]] = True
        widths = torch.tensor([row_bytes[n] for n in names], dtype=torch.int64)
        slots = torch.tensor([SLOT_BYTES * num_rows[n] for n in names], dtype=torch.int64)
        cost = widths[owner] + torch.where(first, slots[owner], 0)
        taken = int((torch.cumsum(cost, 0) <= budget_bytes).sum())
        if taken < owner.numel() and bool(first[taken]):
            left_out.add(int(owner[taken]))
            continue
        break
    counts = torch.bincount(owner[:taken], minlength=len(names)).tolist()
    shares = {}
    for at, name in enumerate(names):
        count = counts[at]
        held = float(tops[at][:count].sum())
        shares[name] = CacheShare(
            rows=count,
            bytes=count * row_bytes[name] + SLOT_BYTES * num_rows[name] if count else 0,
            ranked_fraction=held / totals[name] if totals[name] > 0 else 0.0,
        )
    return shares


def share_cache(
    tables: Mapping[str, UnifiedTensor],
    rankings: Mapping[str, torch.Tensor],
    budget_bytes: int,
    device: str | torch.device | None = None,
    *,
    shards: bool | dist.ProcessGroup | None = None,
    replicated: Collection[str] = (),
) -> dict[str, CacheShare]:
    """Spend one cache budget on the globally hottest rows of several tables (node types) and enable
    each table's cache with its share (:func:`split_cache_budget` says how rows are chosen).

    ``rankings`` are per-row scores comparable across tables: :func:`visit_ranking` counts from
    the same presampled batches (the sampler's draws), or :func:`degree_ranking`. A table that gets
    no rows has its cache disabled. Shares sum to at most ``budget_bytes``.

    ``shards`` (True: the default process group's ranks, or a group; collective) shards each
    table's share over the ranks as :meth:`zerocopy.UnifiedTensor.enable_cache` does, every rank
    spending ``budget_bytes``; the split is made from the rankings summed over the ranks, so every
    rank enables the same tables with the same shares. Tables named in ``replicated`` (those
    written during training, such as learned inputs: a sharded cache is read-only) keep a cache of
    their own share on every rank.

    Cost: the split's sorts, then per table with rows what
    :meth:`zerocopy.UnifiedTensor.enable_cache` costs (one more sort of its ranking, one gather
    of the cached rows) and its share of device memory; with ``shards``, an all-reduce of every
    ranking besides.

    Example:
        >>> counts = {t: visit_ranking((b[t] for b in batches), len(x[t])) for t in x}
        >>> share_cache(x, counts, 8 << 30)        # {'paper': CacheShare(rows=..., ...), ...}

    Raises:
        As :func:`split_cache_budget`, TypeError for a table that is not a UnifiedTensor, ValueError
        for a ``replicated`` name that is not a table, and as ``enable_cache`` for ``shards``.
    """
    from zerocopy.shard import resolve_group, summed_over
    from zerocopy.unified import UnifiedTensor

    for name, table in tables.items():
        if not isinstance(table, UnifiedTensor):
            raise TypeError(f"tables[{name!r}] is a {type(table).__name__}, expected a zerocopy.UnifiedTensor")
    unknown = sorted(set(replicated) - set(tables))
    if unknown:
        raise ValueError(f"replicated names {unknown}, which are not tables here; tables: {sorted(tables)}")
    group = resolve_group(shards) if shards is not None else None
    split_by = rankings
    if group is not None:
        split_by = {name: summed_over(r, group) if isinstance(r, torch.Tensor) else r for name, r in rankings.items()}
    shares = split_cache_budget(
        {name: len(t) for name, t in tables.items()},
        {name: math.prod(t.shape[1:]) * t.dtype.itemsize for name, t in tables.items()},
        split_by,
        budget_bytes,
    )
    for name, table in tables.items():
        if shares[name].rows:
            sharded = group if name not in replicated else None
            table.enable_cache(shares[name].bytes, rankings[name], device, shards=sharded)
        else:
            table.disable_cache()
    return shares
