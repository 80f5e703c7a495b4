"""The block SGD kernels: numba (CPU) and Triton (GPU; run here under TRITON_INTERPRET=1)."""
import os

import numpy as np
import pytest
import torch

from embedding.sgd_cpu import train_block_cpu

needs_triton = pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1",
    reason="Triton needs a GPU or TRITON_INTERPRET=1",
)
ARGS = dict(lr_start=0.2, lr_end=0.02, negative_weight=5.0, weight_decay=0.005)


def _problem(n=300, rows=40, dim=24, k=2, seed=0):
    rng = np.random.default_rng(seed)
    vertex = (rng.standard_normal((rows, dim)) * 0.3).astype(np.float32)
    context = (rng.standard_normal((rows, dim)) * 0.3).astype(np.float32)
    heads = rng.integers(0, rows, n).astype(np.int32)
    tails = rng.integers(0, rows, n).astype(np.int32)
    # a sample's context rows are distinct (the kernels differ only in how they order
    # updates of a row that is both the positive and a negative of one sample)
    offsets = np.stack([rng.choice(np.arange(1, rows), k, replace=False) for _ in range(n)])
    negatives = ((tails[:, None] + offsets) % rows).reshape(-1).astype(np.int64)
    return vertex, context, heads, tails, negatives


def _reference(vertex, context, heads, tails, negatives, lr_start, lr_end, negative_weight, weight_decay):
    """The update written plainly, sample by sample: every dot product first, then the rows."""
    n, k = heads.shape[0], negatives.shape[0] // heads.shape[0]
    v, c = vertex.astype(np.float64), context.astype(np.float64)
    for i in range(n):
        lr = lr_start + (lr_end - lr_start) * i / n
        h = heads[i]
        rows = [tails[i], *negatives[i * k : (i + 1) * k]]
        sig = [1 / (1 + np.exp(-np.clip(v[h] @ c[row], -30, 30))) for row in rows]
        g = [sig[0] - 1] + [negative_weight * s for s in sig[1:]]
        grad = weight_decay * v[h] + sum(g_r * c[row] for g_r, row in zip(g, rows, strict=True))
        for g_r, row in zip(g, rows, strict=True):
            c[row] -= lr * (g_r * v[h] + weight_decay * c[row])
        v[h] -= lr * grad
    return v, c


@pytest.mark.parametrize("k", [1, 2])  # 1: the fused path, 2: the general one
def test_cpu_kernel_matches_the_plain_update(k):
    vertex, context, heads, tails, negatives = _problem(k=k)
    want_v, want_c = _reference(vertex, context, heads, tails, negatives, **ARGS)
    loss = train_block_cpu(vertex, context, heads, tails, negatives, **ARGS)  # 300 samples: one chunk
    np.testing.assert_allclose(vertex, want_v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(context, want_c, rtol=1e-4, atol=1e-5)
    assert np.isfinite(loss) and loss > 0


def _run_triton(problem, **launch):
    from embedding.sgd_gpu import train_block_gpu

    vertex, context, heads, tails, negatives = problem
    device = "cuda" if torch.cuda.is_available() else "cpu"
    v, c = torch.from_numpy(vertex.copy()).to(device), torch.from_numpy(context.copy()).to(device)
    loss = train_block_gpu(v, c, *(torch.from_numpy(a).to(device) for a in (heads, tails, negatives)),
                           **launch, **ARGS)
    return v.cpu().numpy(), c.cpu().numpy(), float(loss)


@needs_triton
@pytest.mark.parametrize("k", [1, 2])
def test_triton_kernel_matches_the_plain_update(k):
    problem = _problem(n=40, dim=20, k=k)  # dim not a power of two
    want_v, want_c = _reference(*problem, **ARGS)
    v, c, loss = _run_triton(problem, max_programs=1)
    np.testing.assert_allclose(v, want_v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, want_c, rtol=1e-4, atol=1e-5)
    assert loss > 0


@needs_triton
@pytest.mark.skipif(torch.cuda.is_available(), reason="programs run one after another only in the interpreter")
def test_triton_programs_take_contiguous_lanes():
    # 41 samples over 3 programs: lanes of 14, 14 and 13 samples, in order. Programs run one
    # after another in the interpreter, so contiguous lanes give the sequential result exactly
    # (a strided split would train sample 1 before sample 0's program reached sample 3).
    problem = _problem(n=41, rows=12, dim=20, k=1)  # rows shared all the time
    want_v, want_c = _reference(*problem, **ARGS)
    v, c, _ = _run_triton(problem, max_programs=3)
    np.testing.assert_allclose(v, want_v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, want_c, rtol=1e-4, atol=1e-5)


@needs_triton
@pytest.mark.parametrize("k", [1, 2])
def test_triton_lanes_train_every_sample_once(k):
    # no two samples share a row, so any interleaving of the lanes gives the plain update;
    # 29 samples in 2 programs x 4 lanes: lanes of 4 samples, the last lane empty and one short
    rows = 29 * (k + 2)
    rng = np.random.default_rng(5)
    vertex = (rng.standard_normal((rows, 20)) * 0.3).astype(np.float32)
    context = (rng.standard_normal((rows, 20)) * 0.3).astype(np.float32)
    order = rng.permutation(rows)
    heads = order[:29].astype(np.int32)
    tails = order[29:58].astype(np.int32)
    negatives = order[58 : 58 + 29 * k].astype(np.int64)
    problem = (vertex, context, heads, tails, negatives)
    want_v, want_c = _reference(*problem, **ARGS)
    v, c, loss = _run_triton(problem, max_programs=2, lanes=4)
    np.testing.assert_allclose(v, want_v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, want_c, rtol=1e-4, atol=1e-5)
    _, _, loss_one_lane = _run_triton(problem, max_programs=1)
    assert loss == pytest.approx(loss_one_lane, rel=1e-5)  # dead lanes add no loss


@needs_triton
def test_triton_kernel_checks_its_input():
    from embedding.sgd_gpu import train_block_gpu

    vertex, context, heads, tails, negatives = (torch.from_numpy(a) for a in _problem(n=10))
    with pytest.raises(ValueError, match="not a multiple"):
        train_block_gpu(vertex, context, heads, tails, negatives[:7], **ARGS)
    with pytest.raises(ValueError, match="contiguous"):
        train_block_gpu(vertex.t(), context, heads, tails, negatives, **ARGS)
    with pytest.raises(ValueError, match="lanes must be a power of two >= 1, got 3"):
        train_block_gpu(vertex, context, heads, tails, negatives, lanes=3, **ARGS)
    empty = torch.zeros(0, dtype=torch.int32)
    assert float(train_block_gpu(vertex, context, empty, empty, empty, **ARGS)) == 0.0


def test_cpu_kernel_learns_and_checks_input():
    vertex, context, heads, tails, negatives = _problem(n=4000, rows=20, k=1, seed=3)
    heads, tails = heads % 10, heads % 10 + 10  # node h always pairs with h + 10
    negatives = (heads + 1).astype(np.int64) % 10

    def positive_score():
        return float((vertex[np.arange(10)] * context[np.arange(10) + 10]).sum(1).mean())

    before = positive_score()
    train_block_cpu(vertex, context, heads, tails, negatives, **ARGS)
    assert positive_score() > before + 1.0
    with pytest.raises(ValueError, match="not a multiple"):
        train_block_cpu(vertex, context, heads, tails, negatives[:-1], **ARGS)
    empty = np.zeros(0, np.int32)
    assert train_block_cpu(vertex, context, empty, empty, empty.astype(np.int64), **ARGS) == 0.0


def _bf16(array):
    """A float32 array as bfloat16 rows (rounded to nearest) and the uint16 view the CPU kernel takes."""
    from embedding.trainer import row_array

    rows = torch.from_numpy(array).to(torch.bfloat16)
    return rows, row_array(rows)


@pytest.mark.parametrize("k", [1, 2])
def test_cpu_kernel_bf16_rows_follow_the_float32_update(k):
    vertex, context, heads, tails, negatives = _problem(n=200, rows=40, k=k)
    vb, v16 = _bf16(vertex)
    cb, c16 = _bf16(context)
    want_v, want_c = _reference(vb.float().numpy(), cb.float().numpy(), heads, tails, negatives, **ARGS)
    loss = train_block_cpu(v16, c16, heads, tails, negatives, seed=1, **ARGS)
    assert np.isfinite(loss) and loss > 0
    # 200 samples of 40 rows: each row stored ~15 times, each rounding off by < 1 bf16 ulp (2^-8 relative)
    for got, want in ((vb, want_v), (cb, want_c)):
        err = np.abs(got.float().numpy() - want)
        assert err.max() < 0.05 and err.mean() < 0.005, (err.max(), err.mean())


def test_cpu_kernel_bf16_rounds_stochastically():
    # node h always pairs with h + 10 (as in the learning test below), at a learning rate whose
    # updates (~3e-5) lie far below half a bfloat16 ulp of the rows (~1e-3 at 0.3): rounded to
    # nearest, no row would ever move. Stochastic rounding moves them as float32 does, on average.
    vertex, context, heads, tails, negatives = _problem(n=20000, rows=20, dim=16, k=1, seed=3)
    heads, tails = heads % 10, heads % 10 + 10
    negatives = (heads + 1).astype(np.int64) % 10
    tiny = dict(ARGS, lr_start=2e-4, lr_end=2e-4, weight_decay=0.0)

    def positive_score(v, c):
        return float((v[np.arange(10)] * c[np.arange(10) + 10]).sum(1).mean())

    vb, v16 = _bf16(vertex)
    cb, c16 = _bf16(context)
    want_v, want_c = vb.float().numpy(), cb.float().numpy()
    before = positive_score(want_v, want_c)
    train_block_cpu(want_v, want_c, heads, tails, negatives, **tiny)
    train_block_cpu(v16, c16, heads, tails, negatives, seed=7, **tiny)
    rise_f32 = positive_score(want_v, want_c) - before
    rise_bf16 = positive_score(vb.float().numpy(), cb.float().numpy()) - before
    assert rise_f32 > 0.3
    assert rise_bf16 == pytest.approx(rise_f32, rel=0.2)
    # another seed rounds differently
    again_v, again16 = _bf16(vertex)
    _, c_again = _bf16(context)
    train_block_cpu(again16, c_again, heads, tails, negatives, seed=8, **tiny)
    assert not torch.equal(again_v, vb)


def test_kernels_refuse_mixed_row_dtypes():
    vertex, context, heads, tails, negatives = _problem(n=10)
    _, c16 = _bf16(context)
    with pytest.raises(TypeError, match="float32 or both uint16"):
        train_block_cpu(vertex, c16, heads, tails, negatives, **ARGS)
    with pytest.raises(TypeError, match="float32 or both uint16"):
        train_block_cpu(vertex.astype(np.float64), context.astype(np.float64), heads, tails, negatives, **ARGS)


@needs_triton
@pytest.mark.parametrize("k", [1, 2])
def test_triton_bf16_rows_round_as_the_cpu_kernel(k):
    # one program runs the samples in order, as the CPU kernel's one chunk does, with the same
    # rounding hash: the rows agree but where float32 sums in another order cross a rounding step
    from embedding.sgd_gpu import train_block_gpu

    vertex, context, heads, tails, negatives = _problem(n=60, rows=40, dim=20, k=k)
    vb, v16 = _bf16(vertex)
    cb, c16 = _bf16(context)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    vg, cg = vb.clone().to(device), cb.clone().to(device)
    train_block_cpu(v16, c16, heads, tails, negatives, seed=3, **ARGS)
    loss = train_block_gpu(vg, cg, *(torch.from_numpy(a).to(device) for a in (heads, tails, negatives)),
                           seed=3, max_programs=1, **ARGS)
    assert float(loss) > 0
    for got, want in ((vg.cpu(), vb), (cg.cpu(), cb)):
        assert got.dtype == torch.bfloat16
        assert (got != want).float().mean() < 0.05
        torch.testing.assert_close(got.float(), want.float(), rtol=0.02, atol=0.004)
    with pytest.raises(TypeError, match="float32 or both bfloat16"):
        train_block_gpu(vg.float(), cg, *(torch.from_numpy(a).to(device) for a in (heads, tails, negatives)),
                        **ARGS)
