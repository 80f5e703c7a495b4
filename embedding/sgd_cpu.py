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

Rows may be stored as bfloat16 (passed as their ``uint16`` bit patterns, numpy having no
bfloat16): a value is widened to float32 when read and rounded stochastically when stored,
with the noise of :func:`embedding.sgd_gpu`'s kernel (the same hash of seed, sample, row slot
and column), so both kernels round alike. Cost over float32 rows: a hash per stored value.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core.extending import intrinsic, overload

# The loss is tallied on every 16th sample only (an unbiased estimate of the sum): the two
# logarithms per sample would otherwise cost about a third of the kernel's time.
_LOSS_EVERY_MASK = 15


_MASK32 = np.uint64(0xFFFFFFFF)
# Odd multipliers of the 32-bit mixer and the per-column stride of the rounding key; the GPU
# kernel uses the same ones (embedding.sgd_gpu), below 2**31 so Triton types them as int32.
# A stored row's key is fully mixed once (per sample and row slot); column d's 16 bits of noise
# are then the top half of (key + d * COLUMN_STRIDE) * MIX1, three integer operations: uniform
# for every column because the key is, so the rounding stays unbiased, while a full hash per
# value would cost the GPU kernel more integer work than its float arithmetic.
MIX1, MIX2, COLUMN_STRIDE = 0x7FEB352D, 0x2C1B3C6D, 0x61C88647
_COL, _M1 = np.uint64(COLUMN_STRIDE), np.uint64(MIX1)


@intrinsic
def _bits_as_f32(typingctx, bits):
    """The float32 whose bit pattern is the low 32 bits of the integer ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        elif bits.bitwidth < 32:
            value = builder.zext(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())
    return types.float32(bits), codegen


@intrinsic
def _f32_bits(typingctx, x):
    """The bit pattern of the float32 ``x`` as a uint64 (zero-extended)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.zext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))
    return types.uint64(x), codegen


@intrinsic
def mix32(typingctx, x):
    """A 32-bit integer hash (xorshift-multiply) of the low 32 bits of ``x``, zero-extended to
    uint64; in 32-bit LLVM arithmetic (numba would widen every step to 64 bits)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        value = args[0]
        if x.bitwidth > 32:
            value = builder.trunc(value, i32)
        elif x.bitwidth < 32:
            value = builder.zext(value, i32)
        for shift, multiplier in ((16, MIX1), (15, MIX2), (16, None)):
            value = builder.xor(value, builder.lshr(value, ir.Constant(i32, shift)))
            if multiplier is not None:
                value = builder.mul(value, ir.Constant(i32, multiplier))
        return builder.zext(value, ir.IntType(64))
    return types.uint64(x), codegen


@njit(cache=True, nogil=True, inline="always")
def round_key(seed, sample, slots, slot):
    """The rounding key of one stored row: sample ``sample``'s row slot ``slot`` of ``slots``."""
    return mix32(((np.uint64(sample) * np.uint64(slots) + np.uint64(slot)) & _MASK32) ^ np.uint64(seed))


def _get(row, d):
    """Element ``d`` of a stored row as float32 (bfloat16 bits widened); typed by the overload below."""
    raise TypeError("_get is compiled by numba per row dtype; call it from jitted code")


def _put(row, d, x, key):
    """Store ``x`` at element ``d`` (bfloat16 rows: stochastically rounded by ``key``); numba only."""
    raise TypeError("_put is compiled by numba per row dtype; call it from jitted code")


@overload(_get, inline="always")
def _get_impl(row, d):
    if row.dtype == types.uint16:  # bfloat16 bits
        return lambda row, d: _bits_as_f32(np.uint32(row[d]) << np.uint32(16))
    return lambda row, d: row[d]


@overload(_put, inline="always")
def _put_impl(row, d, x, key):
    if row.dtype == types.uint16:
        def put_bf16(row, d, x, key):
            noise = ((((key + np.uint64(d) * _COL) & _MASK32) * _M1) & _MASK32) >> np.uint64(16)
            row[d] = np.uint16(((_f32_bits(np.float32(x)) + noise) >> np.uint64(16)) & np.uint64(0xFFFF))
        return put_bf16

    def put(row, d, x, key):
        row[d] = x
    return put


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(x):
    x = min(max(x, np.float32(-30.0)), np.float32(30.0))
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


@njit(cache=True, nogil=True, fastmath=True)
def _train_chunk(vertex, context, heads, tails, negatives, num_negative, lr, lr_step,
                 negative_weight, weight_decay, first, last, seed):
    """Samples ``first..last-1`` in order; returns their loss estimate (every 16th sample)."""
    dim = vertex.shape[1]
    decay = np.float32(weight_decay)
    weight = np.float32(negative_weight)
    one = np.float32(1.0)
    grad = np.empty(dim, dtype=np.float32)
    g = np.empty(num_negative + 1, dtype=np.float32)
    loss = 0.0
    slots = num_negative + 2  # rounding keys: the positive, the negatives, then the head
    for i in range(first, last):
        v = vertex[heads[i]]
        if num_negative == 1:
            # the default, fused: both dot products in one pass, all three rows in another
            pos = context[tails[i]]
            neg = context[negatives[i]]
            key_pos, key_neg, key_v = (round_key(seed, i, slots, 0), round_key(seed, i, slots, 1),
                                       round_key(seed, i, slots, 2))
            dot_pos = np.float32(0.0)
            dot_neg = np.float32(0.0)
            for d in range(dim):
                vd = _get(v, d)
                dot_pos += vd * _get(pos, d)
                dot_neg += vd * _get(neg, d)
            sig_pos = _sigmoid(dot_pos)
            sig_neg = _sigmoid(dot_neg)
            g_pos = sig_pos - one
            g_neg = weight * sig_neg
            if (i & _LOSS_EVERY_MASK) == 0:
                loss -= math.log(max(sig_pos, 1e-12)) + negative_weight * math.log(max(one - sig_neg, 1e-12))
            for d in range(dim):
                vd = _get(v, d)
                pd = _get(pos, d)
                nd = _get(neg, d)
                _put(pos, d, pd - lr * (g_pos * vd + decay * pd), key_pos)
                _put(neg, d, nd - lr * (g_neg * vd + decay * nd), key_neg)
                _put(v, d, vd - lr * (g_pos * pd + g_neg * nd + decay * vd), key_v)
        else:
            for r in range(num_negative + 1):
                ctx = context[tails[i]] if r == 0 else context[negatives[i * num_negative + r - 1]]
                dot = np.float32(0.0)
                for d in range(dim):
                    dot += _get(v, d) * _get(ctx, d)
                sig = _sigmoid(dot)
                g[r] = sig - one if r == 0 else weight * sig
                if (i & _LOSS_EVERY_MASK) == 0 and r == 0:
                    loss -= math.log(max(sig, 1e-12))
                elif (i & _LOSS_EVERY_MASK) == 0:
                    loss -= negative_weight * math.log(max(one - sig, 1e-12))
            for d in range(dim):
                grad[d] = decay * _get(v, d)
            for r in range(num_negative + 1):
                ctx = context[tails[i]] if r == 0 else context[negatives[i * num_negative + r - 1]]
                gr = g[r]
                key = round_key(seed, i, slots, r)
                for d in range(dim):
                    cd = _get(ctx, d)
                    grad[d] += gr * cd
                    _put(ctx, d, cd - lr * (gr * _get(v, d) + decay * cd), key)
            key = round_key(seed, i, slots, num_negative + 1)
            for d in range(dim):
                _put(v, d, _get(v, d) - lr * grad[d], key)
        lr += lr_step
    return loss


@njit(cache=True, nogil=True, parallel=True)
def _train_block(vertex, context, heads, tails, negatives, num_negative, lr_start, lr_end,
                 negative_weight, weight_decay, num_chunks, seed):
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
                                 negative_weight, weight_decay, first, min(n, first + chunk), seed)
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
    seed: int = 0,
) -> float:
    """Train ``vertex`` / ``context`` rows in place on one block; return the summed loss.

    Cost: one parallel pass over the samples (``numba.get_num_threads()`` threads, the GIL
    released); no allocation beyond two ``dim`` vectors per thread. The returned loss is
    estimated from every 16th sample.

    Args:
        vertex: float32 ``[rows, dim]`` C-contiguous rows of the vertex partition (updated), or
            ``uint16`` holding bfloat16 bit patterns (``tensor.view(torch.int16).numpy().view(np.uint16)``,
            see :func:`embedding.trainer.row_array`).
        context: ``[rows, dim]`` rows of the context partition (updated), of ``vertex``'s dtype.
        heads, tails: int32 ``[n]`` local rows of the positive samples.
        negatives: int ``[n * K]`` local context rows, ``K`` per sample.
        lr_start, lr_end: learning rate at the first and after the last sample (linear).
        negative_weight: weight of each negative's loss (GraphVite: 5 with ``K = 1``).
        weight_decay: L2 coefficient applied to every row touched.
        seed: seeds the stochastic rounding of bfloat16 rows (unused for float32).
    """
    if vertex.dtype != context.dtype or vertex.dtype not in (np.float32, np.uint16):
        raise TypeError(f"vertex and context must both be float32 or both uint16 (bfloat16 bits), got "
                        f"{vertex.dtype} and {context.dtype}")
    n = heads.shape[0]
    if n == 0:
        return 0.0
    if negatives.shape[0] % n:
        raise ValueError(f"negatives has {negatives.shape[0]} entries, not a multiple of the {n} samples")
    num_chunks = max(1, min(n // 256, 8 * numba.get_num_threads()))
    return float(
        _train_block(vertex, context, heads, tails, negatives, negatives.shape[0] // n,
                     float(lr_start), float(lr_end), float(negative_weight), float(weight_decay), num_chunks,
                     int(seed) & 0x7FFFFFFF)
    )
