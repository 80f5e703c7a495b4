"""Skip-gram SGD over one block on the GPU: one fused Triton kernel, Hogwild like GraphVite.

The samples are cut into contiguous lanes, ``lanes`` per program; a program trains its lanes
in lockstep, one sample of each per iteration, each sample's ``dim``-wide rows held in
registers: gather the head row and the context rows, take the dot products, write the rows
back. No intermediate tensors, no atomics; rows shared by two lanes at the same moment are
updated Hogwild-style. The update is :mod:`embedding.sgd_cpu`'s.

Why contiguous lanes: the pool keeps the pairs of 64 walks together (slot-major, see
:mod:`embedding.augment`), so a walk's node is the head of up to ``augmentation_step`` pairs
a few thousand samples apart (closer still in a block of a partitioned pool, which holds
``1/P^2`` of the samples). With a strided split (program ``p`` taking samples ``p, p + G,
...``) the ``G`` samples in flight are consecutive ones, and such pairs are trained at the same
moment, losing all but one update of the shared row. Lanes start ``n / G`` samples apart, as
the CPU kernel's chunks do, so samples in flight come from unrelated walks.

Why rows bypass L1 (``.cg`` loads, cached in L2 only): an SM's L1 is not coherent with other
SMs' stores. A row read through L1 can stay there while other SMs update it in L2; the next
read on that SM returns the stale row and its write-back erases their updates. The hottest
rows (hubs, and every row of a small graph or block) stay in L1 the longest, so this loses far
more updates than Hogwild's concurrent collisions; L2 is the GPU's point of coherence.

Rows stored as bfloat16 (``EmbeddingConfig.row_dtype``) halve the bytes a sample moves (at
dim 128: three 256 B rows read and written, 1.5 KB instead of 3 KB). They are widened to float32
in registers, the update is the same float32 arithmetic, and each stored value is rounded
stochastically: 16 bits of noise from a hash of (seed, sample, row slot) and the column are added
below the bfloat16 mantissa before truncation, so a row moves by an update smaller than its
last bit with the probability that makes the rounding unbiased (with round-to-nearest, updates
under half an ulp, common once the learning rate has decayed, would be lost outright). The
CPU kernel uses the same hash (:mod:`embedding.sgd_cpu`).

Under ``TRITON_INTERPRET=1`` the same kernel runs on CPU tensors (for the tests); programs run
one after another there, so with one lane per program the result is exactly the sequential
update.
"""
from __future__ import annotations

import contextlib
import functools

import torch
import triton
import triton.language as tl

from embedding import sgd_cpu

# the CPU kernel's rounding hash (constexpr: Triton reads only constexpr globals)
MIX1 = tl.constexpr(sgd_cpu.MIX1)
MIX2 = tl.constexpr(sgd_cpu.MIX2)
COLUMN_STRIDE = tl.constexpr(sgd_cpu.COLUMN_STRIDE)

# Rows of the smaller partition per sample in flight: a cap on concurrency for small blocks,
# where concurrent samples share rows often. It binds only for small graphs or blocks (a few
# hundred thousand rows fill the GPU). On the H200, BlogCatalog Micro-F1 at P = 1 and P = 4 was
# the same with 16 rows per lane as with 4 (4 seeds each; bench_embed --rows-per-lane).
_ROWS_PER_LANE = 4
# Lanes per program and warps per program. One warp per 128-float row, one sample in flight
# per warp, as GraphVite's kernel.
_LANES = 1
_NUM_WARPS = 1
# Programs without a GPU to size the grid for (the interpreter).
_CPU_PROGRAMS = 64


@triton.jit
def _sigmoid(x):
    return tl.sigmoid(tl.minimum(tl.maximum(x, -30.0), 30.0))


@triton.jit
def _mix32(x):
    """embedding.sgd_cpu.mix32 on uint32 lanes."""
    x ^= x >> 16
    x *= MIX1
    x ^= x >> 15
    x *= MIX2
    x ^= x >> 16
    return x


@triton.jit
def _round_key(seed, i, SLOTS: tl.constexpr, slot: tl.constexpr):
    """embedding.sgd_cpu.round_key for the samples ``i`` ([LANES] int32)."""
    return _mix32((i.to(tl.uint32) * SLOTS + slot) ^ seed)


@triton.jit
def _stored(x, key, col, ROW_BF16: tl.constexpr):
    """``x`` (float32) as the rows store it: unchanged, or rounded stochastically to bfloat16
    with the noise of ``key`` ([LANES] uint32) at column ``col``."""
    if ROW_BF16:
        noise = ((key[:, None] + col.to(tl.uint32) * COLUMN_STRIDE) * MIX1) >> 16
        bits = (x.to(tl.uint32, bitcast=True) + noise) >> 16
        return bits.to(tl.uint16).to(tl.bfloat16, bitcast=True)
    return x


@triton.jit
def _sgd_kernel(vertex_ptr, context_ptr, heads_ptr, tails_ptr, neg_ptr, loss_ptr, n, lane_len,
                lr_start, lr_step, negative_weight, weight_decay, stride_v, stride_c, seed,
                NUM_NEG: tl.constexpr, DIM: tl.constexpr, BLOCK_D: tl.constexpr, LANES: tl.constexpr,
                ROW_LOAD: tl.constexpr, ROW_BF16: tl.constexpr):
    pid = tl.program_id(0)
    first = (pid * LANES + tl.arange(0, LANES)) * lane_len  # [LANES] first sample of each lane
    last = tl.minimum(first + lane_len, n)
    col = tl.arange(0, BLOCK_D)[None, :]
    loss = tl.zeros((LANES,), dtype=tl.float32)
    seed = seed.to(tl.uint32)
    for r in range(0, lane_len):
        i = first + r
        live = i < last
        mask = live[:, None] & (col < DIM)
        lr = (lr_start + lr_step * i.to(tl.float32))[:, None]
        v_ptrs = vertex_ptr + tl.load(heads_ptr + i, mask=live, other=0).to(tl.int64)[:, None] * stride_v + col
        v = tl.load(v_ptrs, mask=mask, other=0.0, cache_modifier=ROW_LOAD).to(tl.float32)
        p_ptrs = context_ptr + tl.load(tails_ptr + i, mask=live, other=0).to(tl.int64)[:, None] * stride_c + col
        if NUM_NEG == 1:
            # the default, fused: both rows gathered once, both dots, then all three rows written
            n_ptrs = context_ptr + tl.load(neg_ptr + i, mask=live, other=0).to(tl.int64)[:, None] * stride_c + col
            pos = tl.load(p_ptrs, mask=mask, other=0.0, cache_modifier=ROW_LOAD).to(tl.float32)
            neg = tl.load(n_ptrs, mask=mask, other=0.0, cache_modifier=ROW_LOAD).to(tl.float32)
            sig_pos = _sigmoid(tl.sum(v * pos, axis=1))
            sig_neg = _sigmoid(tl.sum(v * neg, axis=1))
            g_pos = (sig_pos - 1.0)[:, None]
            g_neg = (negative_weight * sig_neg)[:, None]
            sample_loss = -tl.log(tl.maximum(sig_pos, 1e-12)) - negative_weight * tl.log(
                tl.maximum(1.0 - sig_neg, 1e-12))
            tl.store(p_ptrs, _stored(pos - lr * (g_pos * v + weight_decay * pos), _round_key(seed, i, 3, 0), col,
                                     ROW_BF16), mask=mask)
            tl.store(n_ptrs, _stored(neg - lr * (g_neg * v + weight_decay * neg), _round_key(seed, i, 3, 1), col,
                                     ROW_BF16), mask=mask)
            tl.store(v_ptrs, _stored(v - lr * (g_pos * pos + g_neg * neg + weight_decay * v),
                                     _round_key(seed, i, 3, 2), col, ROW_BF16), mask=mask)
        else:
            grad = weight_decay * v
            sample_loss = tl.zeros((LANES,), dtype=tl.float32)
            for k in tl.static_range(NUM_NEG + 1):
                if k == 0:
                    c_ptrs = p_ptrs
                else:
                    row = tl.load(neg_ptr + i * NUM_NEG + (k - 1), mask=live, other=0).to(tl.int64)
                    c_ptrs = context_ptr + row[:, None] * stride_c + col
                c = tl.load(c_ptrs, mask=mask, other=0.0, cache_modifier=ROW_LOAD).to(tl.float32)
                sig = _sigmoid(tl.sum(v * c, axis=1))
                if k == 0:
                    g = sig - 1.0
                    sample_loss += -tl.log(tl.maximum(sig, 1e-12))
                else:
                    g = negative_weight * sig
                    sample_loss += -negative_weight * tl.log(tl.maximum(1.0 - sig, 1e-12))
                grad += g[:, None] * c
                tl.store(c_ptrs, _stored(c - lr * (g[:, None] * v + weight_decay * c),
                                         _round_key(seed, i, NUM_NEG + 2, k), col, ROW_BF16), mask=mask)
            tl.store(v_ptrs, _stored(v - lr * grad, _round_key(seed, i, NUM_NEG + 2, NUM_NEG + 1), col, ROW_BF16),
                     mask=mask)
        loss += tl.where(live, sample_loss, 0.0)
    tl.store(loss_ptr + pid, tl.sum(loss, axis=0))


@functools.cache
def _resident_programs(device_index: int, num_warps: int) -> int:
    """Programs of ``num_warps`` warps resident at once on a GPU (32 blocks and 64 warps per SM)."""
    sms = torch.cuda.get_device_properties(device_index).multi_processor_count
    return sms * min(32, 64 // num_warps)


def train_block_gpu(
    vertex: torch.Tensor,
    context: torch.Tensor,
    heads: torch.Tensor,
    tails: torch.Tensor,
    negatives: torch.Tensor,
    *,
    lr_start: float,
    lr_end: float,
    negative_weight: float,
    weight_decay: float,
    max_programs: int | None = None,
    lanes: int = _LANES,
    num_warps: int = _NUM_WARPS,
    coherent: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Train ``vertex`` / ``context`` rows in place on one block; same contract as ``train_block_cpu``.

    Cost: one kernel launch, no host sync; returns the summed loss as a 0-d tensor on the
    rows' device (reading it syncs). Rows must have unit stride along ``dim``.

    Args:
        max_programs: programs launched; default: as many as the GPU holds resident at once
            (more would only queue behind them), 64 without a GPU (the interpreter).
        lanes: samples in flight per program (a power of two).
        num_warps: warps per program.
        coherent: read rows from L2 (``.cg``). False reads them through L1, which misses other
            SMs' updates (see the module notes); only for measuring what coherence costs.
        seed: seeds the stochastic rounding of bfloat16 rows (unused for float32).

    Rows are float32 or bfloat16 (both matrices alike; see the module notes).
    """
    n = heads.numel()
    if n == 0:
        return torch.zeros((), device=vertex.device)
    if negatives.numel() % n:
        raise ValueError(f"negatives has {negatives.numel()} entries, not a multiple of the {n} samples")
    if negatives.numel() >= 2**31:
        raise ValueError(f"a block of {n} samples with {negatives.numel()} negatives exceeds int32 offsets; "
                         "use smaller pools")
    if vertex.dtype != context.dtype or vertex.dtype not in (torch.float32, torch.bfloat16):
        raise TypeError(f"vertex and context must both be float32 or both bfloat16, got {vertex.dtype} "
                        f"and {context.dtype}")
    if vertex.stride(1) != 1 or context.stride(1) != 1:
        raise ValueError("vertex and context rows must be contiguous along dim (stride(1) == 1)")
    if lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"lanes must be a power of two >= 1, got {lanes}")
    if max_programs is None:
        max_programs = _resident_programs(vertex.device.index or 0, num_warps) if vertex.is_cuda else _CPU_PROGRAMS
    dim = vertex.shape[1]
    rows = min(vertex.shape[0], context.shape[0])
    in_flight = max(1, min(n, max_programs * lanes, rows // _ROWS_PER_LANE))
    grid = triton.cdiv(in_flight, lanes)
    lane_len = triton.cdiv(n, grid * lanes)
    losses = torch.empty(grid, dtype=torch.float32, device=vertex.device)
    # Triton launches on the current GPU: make it the rows' GPU (workers span several)
    launch_on = torch.cuda.device(vertex.device) if vertex.is_cuda else contextlib.nullcontext()
    with launch_on:
        _sgd_kernel[(grid,)](
            vertex, context, heads, tails, negatives, losses, n, lane_len,
            float(lr_start), (float(lr_end) - float(lr_start)) / n, float(negative_weight), float(weight_decay),
            vertex.stride(0), context.stride(0), int(seed) & 0x7FFFFFFF,
            NUM_NEG=negatives.numel() // n, DIM=dim, BLOCK_D=triton.next_power_of_2(dim), LANES=lanes,
            ROW_LOAD=".cg" if coherent else "", ROW_BF16=vertex.dtype == torch.bfloat16, num_warps=num_warps,
        )
    return losses.sum()
