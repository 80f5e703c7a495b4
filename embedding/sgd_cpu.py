"""Skip-gram SGD over one block on the CPU (numba, parallel Hogwild, no GIL).

The update for one positive sample ``(h, t)`` with negatives ``n_1..n_K`` (logistic loss,
GraphVite's formulation) is, with ``v = vertex[h]``::

    g = sigmoid(v . context[t]) - 1              for the positive
    g = w_neg * sigmoid(v . context[n])          for each negative
    context[r] -= lr * (g * v + wd * context[r]) for r = t, n_1..n_K (in that order)
    v          -= lr * (sum_r g * context[r] + wd * v)

Threads update rows without locks (Hogwild), as word2vec and GraphVite do: collisions are
rare once the rows outnumber the threads, and they only perturb the SGD noise.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

# The loss is tallied on every 16th sample only (an unbiased estimate of the sum): the two
# logarithms per sample would otherwise cost about a third of the kernel's time.
_LOSS_EVERY_MASK = 15


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _train_block(vertex, context, heads, tails, negatives, num_negative, lr_start, lr_end,
                 negative_weight, weight_decay, num_chunks):
    n = heads.shape[0]
    dim = vertex.shape[1]
    chunk = (n + num_chunks - 1) // num_chunks
    losses = np.zeros(num_chunks, dtype=np.float64)
    decay = np.float32(weight_decay)
    for c in prange(num_chunks):
        vec = np.empty(dim, dtype=np.float32)
        grad = np.empty(dim, dtype=np.float32)
        loss = 0.0
        first = c * chunk
        lr = np.float32(lr_start + (lr_end - lr_start) * (first / n))
        lr_step = np.float32((lr_end - lr_start) / n)
        for i in range(first, min(n, first + chunk)):
            tally = (i & _LOSS_EVERY_MASK) == 0
            h = heads[i]
            for d in range(dim):
                vec[d] = vertex[h, d]
                grad[d] = 0.0
            for r in range(num_negative + 1):
                row = tails[i] if r == 0 else negatives[i * num_negative + r - 1]
                ctx = context[row]
                dot = np.float32(0.0)
                for d in range(dim):
                    dot += vec[d] * ctx[d]
                dot = min(max(dot, np.float32(-30.0)), np.float32(30.0))
                sig = np.float32(1.0) / (np.float32(1.0) + np.exp(-dot))
                if r == 0:
                    g = sig - np.float32(1.0)
                    if tally:
                        loss -= math.log(max(sig, 1e-12))
                else:
                    g = np.float32(negative_weight) * sig
                    if tally:
                        loss -= negative_weight * math.log(max(np.float32(1.0) - sig, 1e-12))
                for d in range(dim):
                    cd = ctx[d]
                    grad[d] += g * cd
                    ctx[d] = cd - lr * (g * vec[d] + decay * cd)
            for d in range(dim):
                vertex[h, d] = vec[d] - lr * (grad[d] + decay * vec[d])
            lr += lr_step
        losses[c] = loss
    return losses.sum() * (_LOSS_EVERY_MASK + 1)


def train_block_cpu(
    vertex: np.ndarray,
    context: np.ndarray,
    heads: np.ndarray,
    tails: np.ndarray,
    negatives: np.ndarray,
    *,
    lr_start: float,
    lr_end: float,
    negative_weight: float,
    weight_decay: float,
) -> float:
    """Train ``vertex`` / ``context`` rows in place on one block; return the summed loss.

    Cost: one parallel pass over the samples (``numba.get_num_threads()`` threads, the GIL
    released); no allocation beyond two ``dim`` vectors per thread. The returned loss is
    estimated from every 16th sample.

    Args:
        vertex: float32 ``[rows, dim]`` C-contiguous rows of the vertex partition (updated).
        context: float32 ``[rows, dim]`` rows of the context partition (updated).
        heads, tails: int32 ``[n]`` local rows of the positive samples.
        negatives: int ``[n * K]`` local context rows, ``K`` per sample.
        lr_start, lr_end: learning rate at the first and after the last sample (linear).
        negative_weight: weight of each negative's loss (GraphVite: 5 with ``K = 1``).
        weight_decay: L2 coefficient applied to every row touched.
    """
    n = heads.shape[0]
    if n == 0:
        return 0.0
    if negatives.shape[0] % n:
        raise ValueError(f"negatives has {negatives.shape[0]} entries, not a multiple of the {n} samples")
    num_chunks = max(1, min(n // 256, 8 * numba.get_num_threads()))
    return float(
        _train_block(vertex, context, heads, tails, negatives, negatives.shape[0] // n,
                     float(lr_start), float(lr_end), float(negative_weight), float(weight_decay), num_chunks)
    )
