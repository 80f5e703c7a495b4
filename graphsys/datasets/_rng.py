"""Counter-based randomness for the generator kernels.

Every random number is a hash of ``(key, counter)``, so a generated graph depends on the
seed alone, never on the thread count or the order in which threads run.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_SH30, _SH27, _SH31, _SH11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_POW_M53 = 1.0 / 9007199254740992.0


@numba.njit(cache=True, inline="always")
def mix(z):
    """SplitMix64's finalizer: a bijection on 64-bit words with full avalanche."""
    z = np.uint64(z)
    z = (z ^ (z >> _SH30)) * _MUL1
    z = (z ^ (z >> _SH27)) * _MUL2
    return z ^ (z >> _SH31)


@numba.njit(cache=True, inline="always")
def subkey(key, index):
    """The key of sub-stream ``index`` (a node, an edge, a feature row) under ``key``."""
    return mix(np.uint64(key) ^ mix(np.uint64(index) * _GOLDEN + _GOLDEN))


@numba.njit(cache=True, inline="always")
def bits(key, counter):
    """64 random bits: draw number ``counter`` of the stream ``key``."""
    return mix(np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN)


@numba.njit(cache=True, inline="always")
def uniform(key, counter) -> float:
    """A float64 in [0, 1) with 53 random bits."""
    return np.float64(bits(key, counter) >> _SH11) * _TWO_POW_M53


@numba.njit(cache=True, inline="always")
def normal_pair(key, counter):
    """Two independent standard normals (Box-Muller) from two draws at ``counter`` and ``counter + 1``."""
    u1 = 1.0 - uniform(key, counter)  # (0, 1]: log stays finite
    u2 = uniform(key, counter + 1)
    radius = math.sqrt(-2.0 * math.log(u1))
    angle = 2.0 * math.pi * u2
    return radius * math.cos(angle), radius * math.sin(angle)


def root_key(seed: int, purpose: int) -> np.uint64:
    """The key of one generator stage (``purpose``) under ``seed``; any int seed is accepted."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    folded = np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)
    return np.uint64(subkey(folded, np.uint64(purpose)))
