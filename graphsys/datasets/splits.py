"""Seeded random splits for datasets that ship without one."""
from __future__ import annotations

import numpy as np
import torch


def random_split(
    num_nodes: int, train: float, val: float, seed: int, candidates: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``candidates`` (default: every node) into train / val / test id tensors, each sorted.

    ``train`` and ``val`` are fractions; the test set is the rest. Deterministic by ``seed``.

    Raises:
        ValueError: fractions outside [0, 1] or summing past 1.
    """
    if not (0.0 <= train <= 1.0 and 0.0 <= val <= 1.0 and train + val <= 1.0):
        raise ValueError(f"train_ratio={train} and val_ratio={val} must lie in [0, 1] and sum to at most 1")
    pool = np.arange(num_nodes, dtype=np.int64) if candidates is None else np.asarray(candidates, np.int64)
    order = np.random.default_rng(seed).permutation(pool)
    n_train = int(round(train * pool.size))
    n_val = int(round(val * pool.size))
    parts = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    return tuple(torch.from_numpy(np.sort(p)) for p in parts)
