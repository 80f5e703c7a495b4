"""Skip-gram SGD over one block on the CPU (numba, parallel Hogwild, no GIL).

The update for one positive sample ``(h, t)`` with negatives ``n_1..n_K`` (logistic loss,
GraphVite's formulation) is, with ``v = vertex[h]`` and every dot product taken first::

    g_r = sigmoid(v . context[t]) - 1              for the positive r = t
    g_r = w_neg * sigmoid(v . context[r])          for each negative r = n_1..n_K
    context[r] -= lr * (g_r * v + wd * context[r]) for r = t, n_1..n_K (in that order)
    v          -= lr * (sum_r g_r * context[r] + wd * v)   (context rows as they were)

With one negative (the default) both dot products share one pass over the rows and all
three rows are updated in a second: 1.8x faster than a pass per row.

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


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(x):
    x = min(max(x, np.float32(-30.0)), np.float32(30.0))
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


@njit(cache=True, nogil=True, fastmath=True)
def _train_chunk(vertex, context, heads, tails, negatives, num_negative, lr, lr_step,
                 negative_weight, weight_decay, first, last):
    """Samples ``first..last-1`` in order; returns their loss estimate (every 16th sample)."""
    dim = vertex.shape[1]
    decay = np.float32(weight_decay)
    weight = np.float32(negative_weight)
    one = np.float32(1.0)
    grad = np.empty(dim, dtype=np.float32)
    g = np.empty(num_negative + 1, dtype=np.float32)
    loss = 0.0
    for i in range(first, last):
        v = vertex[heads[i]]
        if num_negative == 1:
            # the default, fused: both dot products in one pass, all three rows in another
            pos = context[tails[i]]
            neg = context[negatives[i]]
            dot_pos = np.float32(0.0)
            dot_neg = np.float32(0.0)
            for d in range(dim):
                dot_pos += v[d] * pos[d]
                dot_neg += v[d] * neg[d]
            sig_pos = _sigmoid(dot_pos)
            sig_neg = _sigmoid(dot_neg)
            g_pos = sig_pos - one
            g_neg = weight * sig_neg
            if (i & _LOSS_EVERY_MASK) == 0:
                loss -= math.log(max(sig_pos, 1e-12)) + negative_weight * math.log(max(one - sig_neg, 1e-12))
            for d in range(dim):
                vd = v[d]
                pd = pos[d]
                nd = neg[d]
                pos[d] = pd - lr * (g_pos * vd + decay * pd)
                neg[d] = nd - lr * (g_neg * vd + decay * nd)
                v[d] = vd - lr * (g_pos * pd + g_neg * nd + decay * vd)
        else:
            for r in range(num_negative + 1):
                ctx = context[tails[i]] if r == 0 else context[negatives[i * num_negative + r - 1]]
                dot = np.float32(0.0)
                for d in range(dim):
                    dot += v[d] * ctx[d]
                sig = _sigmoid(dot)
                g[r] = sig - one if r == 0 else weight * sig
                if (i & _LOSS_EVERY_MASK) == 0 and r == 0:
                    loss -= math.log(max(sig, 1e-12))
                elif (i & _LOSS_EVERY_MASK) == 0:
                    loss -= negative_weight * math.log(max(one - sig, 1e-12))
            for d in range(dim):
                grad[d] = decay * v[d]
            for r in range(num_negative + 1):
                ctx = context[tails[i]] if r == 0 else context[negatives[i * num_negative + r - 1]]
                gr = g[r]
                for d in range(dim):
                    cd = ctx[d]
                    grad[d] += gr * cd
                    ctx[d] = cd - lr * (gr * v[d] + decay * cd)
            for d in range(dim):
                v[d] -= lr * grad[d]
        lr += lr_step
    return loss


@njit(cache=True, nogil=True, parallel=True)
def _train_block(vertex, context, heads, tails, negatives, num_negative, lr_start, lr_end,
                 negative_weight, weight_decay, num_chunks):
    # The chunk body is its own function: inlined into the prange loop, numba's parfor
    # reduction analysis recursed without end under Python 3.12 (seen with numba 0.68.0).
    n = heads.shape[0]
    chunk = (n + num_chunks - 1) // num_chunks
    losses = np.zeros(num_chunks, dtype=np.float64)
    lr_step = np.float32((lr_end - lr_start) / n)
    for c in prange(num_chunks):
        first = c * chunk
        lr = np.float32(lr_start + (lr_end - lr_start) * (first / n))
        losses[c] = _train_chunk(vertex, context, heads, tails, negatives, num_negative, lr, lr_step,
                                 negative_weight, weight_decay, first, min(n, first + chunk))
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
