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


def gather_rows(table, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows ``idx`` of ``table`` on ``device``, whatever the table is.

    ``table`` is a tensor (anywhere) or anything indexable like one whose output lands on
    the index's device (a ``zerocopy.UnifiedTensor``).

    Cost: one gather where the table lives; for a host table and a GPU ``device`` one
    device-to-host copy of ``idx`` (a sync) and one host-to-device copy of the rows.
    """
    if not isinstance(table, torch.Tensor):
        return table[idx.to(device, non_blocking=True)]
    if table.device == idx.device:
        rows = table[idx]
    else:
        rows = table[idx.to(table.device)]
    if rows.device != device:
        if rows.device.type == "cpu" and device.type == "cuda":
            rows = rows.pin_memory()
        rows = rows.to(device, non_blocking=True)
    return rows


def place_features(x: torch.Tensor, placement: str, *, device: torch.device, cache: float = 0.0,
                   hotness: torch.Tensor | None = None):
    """The feature table in ``placement``, ready for :func:`gather_rows`.

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
        row_bytes = x.element_size() * (x.shape[1] if x.dim() > 1 else 1)
        budget = int(cache * x.shape[0]) * row_bytes
        table.enable_cache(budget, hotness)
        logger.info("GPU feature cache: %.1f%% of rows, %.2f GiB", 100 * cache, budget / 2**30)
    return table
