"""Where the feature table lives during training, and how rows reach the GPU.

Three placements (``TrainConfig.features``):

- ``"cuda"``: the table is copied into GPU memory; a gather is one GPU ``index_select``.
- ``"pinned"``: the table is pinned in place and wrapped in a ``zerocopy.UnifiedTensor``;
  GPU threads read the rows over PCIe (zero-copy), optionally through a GPU cache of the
  highest in-degree rows.
- ``"cpu"``: the conventional pipeline, kept as the baseline: the CPU gathers the rows
  (``index_select`` on all cores) and copies them to the GPU.
"""
from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def cache_budget_bytes(x: torch.Tensor, cache: float) -> int:
    """GPU bytes a cache of ``cache`` x rows of ``x`` takes: the rows plus a 4-byte slot per table row."""
    row_bytes = x.element_size() * (x[0].numel() if x.shape[0] else 0)
    return int(cache * x.shape[0]) * row_bytes + 4 * x.shape[0]


def place_features(x: torch.Tensor, placement: str, *, device: torch.device, cache: float = 0.0,
                   hotness: torch.Tensor | None = None):
    """The feature table in ``placement``, ready for ``graphsys.loader.gather_rows``.

    Args:
        x: the ``[num_nodes, dim]`` table in host memory.
        placement: "cuda", "pinned" or "cpu".
        device: the training device.
        cache: for "pinned", the fraction of rows kept in a GPU cache.
        hotness: for the cache, a score per row (the in-degree); the highest are cached.

    Cost: "cuda" copies the table to the GPU; "pinned" page-locks it in place (no copy);
    "cpu" does nothing.
    """
    if placement == "cpu":
        return x
    if placement == "cuda":
        return x.to(device)
    from zerocopy import UnifiedTensor

    table = UnifiedTensor(x, pin=True)
    if cache > 0:
        budget = cache_budget_bytes(x, cache)
        table.enable_cache(budget, hotness, device)
        logger.info("GPU feature cache: %.1f%% of rows, %.2f GiB", 100 * cache, budget / 2**30)
    return table
