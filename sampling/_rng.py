"""Counter-based random numbers for the numba kernels: the same seed gives the same draws
whatever the thread count, because every draw is a hash of (seed, stream, counter).

SplitMix64's finalizer is the hash; ``below`` maps 64 random bits to ``[0, n)`` with
Lemire's multiply-shift (no division, bias below 2**-32 for n < 2**32).
"""
from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0


@njit(inline="always", cache=True)
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 finalizer: a bijective 64-bit hash with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def stream(key: np.uint64, i: np.int64) -> np.uint64:
    """The base state of stream ``i`` under ``key``."""
    return mix64(key ^ (np.uint64(i) * GOLDEN + GOLDEN))


@njit(inline="always", cache=True)
def draw(base: np.uint64, j: np.int64) -> np.uint64:
    """Draw number ``j`` of the stream whose base state is ``base``."""
    return mix64(base + (np.uint64(j) + np.uint64(1)) * GOLDEN)


@njit(inline="always", cache=True)
def below(r: np.uint64, n: np.int64) -> np.int64:
    """An integer in ``[0, n)`` from 64 random bits ``r`` (n < 2**32)."""
    return np.int64(((r >> _S32) * np.uint64(n)) >> _S32)


@njit(inline="always", cache=True)
def unit(r: np.uint64) -> float:
    """A float in ``[0, 1)`` from 64 random bits ``r``."""
    return np.float64(r >> _S11) * _INV53


def make_key(*parts: int) -> np.uint64:
    """Fold integers (seed, call counter, hop, ...) into one 64-bit key, on the host."""
    key = 0x243F6A8885A308D3
    mask = (1 << 64) - 1
    for part in parts:
        key = (key ^ (int(part) & mask)) * 0x9E3779B97F4A7C15 & mask
        key ^= key >> 29
        key = key * 0xBF58476D1CE4E5B9 & mask
        key ^= key >> 32
    return np.uint64(key)


def draw_key(seed: int, call: int, hop: int, edge_type: int = 0) -> np.uint64:
    """The key of the draws of one (call, hop, edge type): draws are a function of
    ``(seed, call, hop, edge type, position)``.

    Edge type 0 (the only one of a homogeneous graph) folds no fourth part, so a graph of
    one edge type draws exactly what the homogeneous sampler draws.
    """
    return make_key(seed, call, hop) if edge_type == 0 else make_key(seed, call, hop, edge_type)
