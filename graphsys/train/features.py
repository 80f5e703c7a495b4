"""Where the feature table lives during training, and how rows reach the GPU.

Three placements (``TrainConfig.features``):

- ``"cuda"``: the table is copied into GPU memory; a gather is one GPU ``index_select``.
- ``"pinned"``: the table is pinned in place and wrapped in a ``zerocopy.UnifiedTensor``;
  GPU threads read the rows over PCIe (zero-copy), optionally through a GPU cache of the
  highest out-degree rows (those the most neighbour lists hold, so the sampler draws them most).
- ``"cpu"``: the conventional pipeline, kept as the baseline: the CPU gathers the rows
  (``index_select`` on all cores) and copies them to the GPU.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from graphsys.io import atomic_path, process_alive
from graphsys.train.distributed import DistContext
from zerocopy import UnifiedTensor

logger = logging.getLogger(__name__)


def _shared_dir(nbytes: int) -> Path | None:
    """``/dev/shm`` (else the temporary folder) when it has room for ``nbytes`` plus 10%, else None."""
    for folder in (Path("/dev/shm"), Path(tempfile.gettempdir())):
        if folder.is_dir() and os.access(folder, os.W_OK) and shutil.disk_usage(folder).free > 1.1 * nbytes:
            return folder
    return None


_SHARED_TABLE = re.compile(r"graphsys-.*\.pid(\d+)\..*\.npy")


def _remove_orphans(folder: Path) -> None:
    """Remove the shared tables of runs killed before unlinking theirs (their writer is gone)."""
    for entry in folder.glob("graphsys-*.pid*.npy"):
        match = _SHARED_TABLE.fullmatch(entry.name)
        if match and not process_alive(int(match[1])):
            entry.unlink(missing_ok=True)


def share_across_ranks(x: torch.Tensor, ctx: DistContext, name: str = "features") -> torch.Tensor:
    """One copy of ``x`` per machine for all its ranks: local rank 0 writes it, every rank maps it.

    The table goes to a file in shared memory (``/dev/shm``); each rank memory-maps it
    read-only, so all ranks of a machine read the same physical pages (pinning them for
    zero-copy registers those pages, it does not copy them). The file is unlinked once
    every rank holds its mapping, so nothing is left behind even if the run dies. A no-op
    for a single process or for dtypes numpy cannot hold (bfloat16); when a machine has no
    room for the file, every rank keeps its own copy (with a warning).

    Cost: local rank 0 writes the table once; one all-reduce and two barriers.
    """
    if not ctx.distributed or x.dtype == torch.bfloat16:
        return x
    folder = _shared_dir(x.numel() * x.element_size())
    if ctx.all_mean([1.0 if folder is not None else 0.0])[0] < 1.0:
        logger.warning("no shared-memory room for the %s table on every machine; each rank keeps a copy", name)
        return x
    run = "-".join(os.environ.get(k, "0") for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT"))
    prefix = f"graphsys-{run}".replace("/", "_")
    if ctx.local_rank == 0:
        _remove_orphans(folder)
        path = folder / f"{prefix}.pid{os.getpid()}.{name.replace('/', '_')}.npy"
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, x.numpy(), allow_pickle=False)
    ctx.barrier()
    (path,) = folder.glob(f"{prefix}.pid*.{name.replace('/', '_')}.npy")
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    ctx.barrier()
    if ctx.local_rank == 0:
        path.unlink()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(mapped)


def cache_budget_bytes(x: torch.Tensor, cache: float) -> int:
    """GPU bytes a cache of ``cache`` x rows of ``x`` takes: the rows plus a 4-byte slot per table row."""
    row_bytes = x.element_size() * (x[0].numel() if x.shape[0] else 0)
    return int(cache * x.shape[0]) * row_bytes + 4 * x.shape[0]


def place_features(x: torch.Tensor, placement: str, *, device: torch.device, cache: float = 0.0,
                   hotness: torch.Tensor | None = None, shard: bool = False):
    """The feature table in ``placement``, ready for ``graphsys.loader.gather_rows``.

    Args:
        x: the ``[num_nodes, dim]`` table in host memory.
        placement: "cuda", "pinned" or "cpu".
        device: the training device.
        cache: for "pinned", the fraction of rows kept in a GPU cache.
        hotness: for the cache, a score per row (the out-degree); the highest are cached.
        shard: split the cache over the ranks of the default process group (collective: every rank
            calls this), each holding ``cache`` of the rows; with "cpu" the table is wrapped unpinned and
            the shards live in host memory (the CPU form of the sharded cache).

    Cost: "cuda" copies the table to the GPU; "pinned" page-locks it in place (no copy);
    "cpu" does nothing (with ``shard``: one gather of this rank's shard, and the cache's collectives).
    """
    if placement == "cpu" and not (shard and cache > 0):
        return x
    if placement == "cuda":
        return x.to(device)
    start = time.perf_counter()
    if placement == "cpu":
        table = UnifiedTensor(x, pin=False)
    elif x.dtype == torch.bfloat16:
        table = UnifiedTensor(x)
    else:
        # Training never writes features: registering the pages read-only keeps a copy-on-write
        # memory map (a cached dataset) or a map shared by several ranks from being copied.
        view = x.numpy()
        view.flags.writeable = False
        table = UnifiedTensor.from_numpy(view)
    pinned = time.perf_counter()
    logger.info("feature table pinned in %.1f s", pinned - start)
    if cache > 0:
        budget = cache_budget_bytes(x, cache)
        if shard:
            table.enable_cache(budget, hotness, device if placement == "pinned" else "cpu", shards=True)
            stats = table.cache_stats()
            logger.info("feature cache sharded over %d ranks: %d rows here, %.2f GiB per rank, built in %.1f s",
                        stats.shards, stats.cached_rows, budget / 2**30, time.perf_counter() - pinned)
            return table
        table.enable_cache(budget, hotness, device)
        logger.info("GPU feature cache: %.1f%% of rows, %.2f GiB, built in %.1f s", 100 * cache, budget / 2**30,
                    time.perf_counter() - pinned)
    return table



def cache_counts(features) -> tuple[int, int, int] | None:
    """``(hits, misses, bytes read from host on misses)`` summed over the cached tables of
    ``features`` (a table or a dict of them) since their caches were enabled; None when no table
    has a cache. Cost: one read of each cache's device counters (a sync)."""
    tables = features.values() if isinstance(features, dict) else [features]
    cached = [t for t in tables if isinstance(t, UnifiedTensor) and t.has_cache]
    if not cached:
        return None
    hits = misses = host_bytes = 0
    for table in cached:
        stats = table.cache_stats()
        row_bytes = int(np.prod(table.shape[1:])) * table.dtype.itemsize
        hits, misses, host_bytes = hits + stats.hits, misses + stats.misses, host_bytes + stats.misses * row_bytes
    return hits, misses, host_bytes
