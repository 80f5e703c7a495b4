"""``AliasTable``: O(1) draws from a fixed discrete distribution (Walker/Vose), on CPU or GPU.

Example:
    >>> import torch
    >>> from sampling import AliasTable
    >>> table = AliasTable(torch.tensor([1.0, 0.0, 3.0]), seed=0)
    >>> bool((table.sample(1000) != 1).all())
    True
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit

from zerocopy.placement import Placement


@njit(inline="always", cache=True)
def vose(scaled, n, prob, alias, base, small, large):
    """Vose's alias method over ``scaled[:n]`` (weights scaled to mean 1; consumed): bucket ``j``
    keeps ``j`` with probability ``prob[base + j]``, else takes ``alias[base + j]``. ``small`` and
    ``large``: scratch of ``n`` entries. Cost: O(n), no allocation."""
    ns = 0
    nl = 0
    for j in range(n):
        prob[base + j] = 1.0
        alias[base + j] = j
        if scaled[j] < 1.0:
            small[ns] = j
            ns += 1
        else:
            large[nl] = j
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        prob[base + s] = scaled[s]
        alias[base + s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1


@njit(cache=True)
def _build(weights):
    """Vose's alias method on float64 weights summing to > 0: ``(prob, alias)``."""
    n = weights.shape[0]
    scaled = weights * (n / weights.sum())
    prob = np.empty(n, dtype=np.float64)
    alias = np.empty(n, dtype=np.int64)
    vose(scaled, n, prob, alias, 0, np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64))
    return prob, alias


class AliasTable:
    """Draws index ``i`` with probability ``weights[i] / weights.sum()`` in O(1) per draw.

    Built once on the CPU (O(n), float64), then held on ``device``. A draw picks a bucket
    uniformly and keeps it or takes its alias by one coin flip.

    Args:
        weights: 1-D non-negative finite float weights, at least one positive.
        device: where the table lives and draws land (``"cpu"``, ``"cuda"``, ``"cuda:k"``).
        seed: seed of the table's own generator, used when ``sample`` gets none.

    Raises:
        TypeError: non-floating weights.
        ValueError: empty, not 1-D, negative, non-finite or all-zero weights; an unknown device.
        RuntimeError: a CUDA device on a machine without one.
    """

    def __init__(self, weights: torch.Tensor, device: str | torch.device = "cpu", *, seed: int = 0) -> None:
        if not isinstance(weights, torch.Tensor):
            raise TypeError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
        if not weights.is_floating_point():
            raise TypeError(f"weights must be a floating-point tensor, got dtype {weights.dtype}")
        if weights.dim() != 1 or weights.numel() == 0:
            raise ValueError(f"weights must be a non-empty 1-D tensor, got shape {tuple(weights.shape)}")
        w = weights.detach().to("cpu", torch.float64).numpy()
        if not np.isfinite(w).all():
            at = int(np.argmax(~np.isfinite(w)))
            raise ValueError(f"weights[{at}] = {w[at]}; expected finite weights")
        if (w < 0).any():
            at = int(np.argmax(w < 0))
            raise ValueError(f"weights[{at}] = {w[at]}; expected non-negative weights")
        if not w.sum() > 0:
            raise ValueError("weights are all zero; at least one must be positive")
        where = Placement.parse(device)
        if where.kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {str(where)!r} needs CUDA and torch.cuda.is_available() is False; use 'cpu'")
        prob, alias = _build(w)
        self._device = where.device
        self._prob = torch.from_numpy(prob).to(self._device, torch.float32)
        self._alias = torch.from_numpy(alias).to(self._device)
        self._generator = torch.Generator(device=self._device)
        self._generator.manual_seed(seed)

    @property
    def device(self) -> torch.device:
        """Where the table lives and draws land."""
        return self._device

    def __len__(self) -> int:
        return int(self._prob.numel())

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` int64 indices on :attr:`device`.

        Cost: five kernels (two draws, two gathers, one select), no host sync; allocates
        ``n`` int64 plus temporaries.

        Args:
            n: number of draws, ``>= 0``.
            generator: a ``torch.Generator`` on :attr:`device`; the table's own (seeded) if None.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {n!r}")
        if n < 0:
            raise ValueError(f"n = {n}; expected a draw count >= 0")
        gen = self._generator if generator is None else generator
        bucket = torch.randint(len(self), (n,), generator=gen, device=self._device)
        coin = torch.rand(n, generator=gen, device=self._device)
        return torch.where(coin < self._prob[bucket], bucket, self._alias[bucket])
