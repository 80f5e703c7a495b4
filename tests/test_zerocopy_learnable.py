"""Learnable tables: the scatter kernel, UnifiedTensor's write path, HostEmbedding and the sparse optimizers.

The kernels run on CPU tensors under TRITON_INTERPRET=1 (on a GPU when there is one); the
optimizers are checked against dense torch references; GPU-marked tests cover pinned and cuda
placements on the device.
"""
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from zerocopy import HostEmbedding, SparseAdam, SparseRowAdagrad, UnifiedTensor, kernels

needs_kernels = pytest.mark.skipif(not kernels.available(), reason="needs Triton with TRITON_INTERPRET=1 or CUDA")
KERNEL_DEVICE = "cpu" if kernels.interpreting() else "cuda"
GUARD = 77


def _guarded(num_rows, width, dtype, g, skew=0):
    """A table inside a buffer whose elements around it hold GUARD (never to be written)."""
    pad = 64 + skew
    buf = torch.full((pad + num_rows * width + 64,), GUARD, dtype=dtype)
    table = buf[pad : pad + num_rows * width].view(num_rows, width)
    table.copy_(torch.randint(-1000, 1000, (num_rows, width), generator=g).to(dtype))
    buf = buf.to(KERNEL_DEVICE)
    return buf, buf[pad : pad + num_rows * width].view(num_rows, width)


# ---------------------------------------------------------------------------------- scatter kernel
@needs_kernels
@settings(max_examples=25 if kernels.interpreting() else 8, deadline=None)
@given(
    width=st.integers(1, 300),
    num_rows=st.integers(1, 40),
    count=st.integers(0, 40),
    skew=st.integers(0, 31),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.int64, torch.int8]),
    sort=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_scatter_kernel_equals_index_copy_and_writes_only_its_rows(width, num_rows, count, skew, dtype, sort, seed):
    g = torch.Generator().manual_seed(seed)
    buf, table = _guarded(num_rows, width, dtype, g, skew)
    rows = torch.randperm(num_rows, generator=g)[: min(count, num_rows)]
    source = torch.randint(-1000, 1000, (rows.numel(), width), generator=g).to(dtype)
    expected = table.cpu().index_copy_(0, rows, source)
    before = buf.cpu().clone()
    kernels.scatter_rows(table, rows.to(KERNEL_DEVICE), source.to(KERNEL_DEVICE), sort=sort)
    assert torch.equal(table.cpu(), expected)
    outside = torch.ones(buf.numel(), dtype=torch.bool)
    start = 64 + skew
    outside[start : start + num_rows * width] = False
    assert torch.equal(buf.cpu()[outside], before[outside]), "bytes outside the table were written"


@needs_kernels
@pytest.mark.parametrize("width", [1, 40, 45])
def test_scatter_skips_out_of_range_rows(width):
    g = torch.Generator().manual_seed(1)
    buf, table = _guarded(6, width, torch.int32, g, skew=3)
    before = table.cpu().clone()
    rows = torch.tensor([-1, 0, 6, 5, -(2**40), 2**40, 3])
    source = torch.arange(7 * width, dtype=torch.int32).view(7, width)
    kernels.scatter_rows(table, rows.to(KERNEL_DEVICE), source.to(KERNEL_DEVICE))
    expected = before.clone()
    expected[[0, 5, 3]] = source[[1, 3, 6]]
    assert torch.equal(table.cpu(), expected)
    assert bool((buf[: 64 + 3] == GUARD).all() and (buf[64 + 3 + 6 * width :] == GUARD).all())


@needs_kernels
def test_scatter_writes_cached_rows_through_and_gather_sees_them():
    g = torch.Generator().manual_seed(2)
    _, table = _guarded(30, 45, torch.float16, g)
    cached = torch.tensor([2, 9, 17, 29])
    slot_map = torch.full((30,), -1, dtype=torch.int32)
    slot_map[cached] = torch.arange(4, dtype=torch.int32)
    cache = table.cpu()[cached].to(KERNEL_DEVICE)
    rows = torch.tensor([29, 3, 9, 0])
    source = torch.randn(4, 45, generator=g).to(torch.float16)
    kernels.scatter_rows(table, rows.to(KERNEL_DEVICE), source.to(KERNEL_DEVICE),
                         slot_map=slot_map.to(KERNEL_DEVICE), cache=cache)
    assert torch.equal(cache.cpu(), table.cpu()[cached]), "cache and table disagree after a write"
    out = torch.empty(4, 45, dtype=torch.float16, device=KERNEL_DEVICE)
    kernels.gather_rows(table, rows.to(KERNEL_DEVICE), out, slot_map=slot_map.to(KERNEL_DEVICE), cache=cache,
                        counts=torch.zeros(2, dtype=torch.int64, device=KERNEL_DEVICE))
    assert torch.equal(out.cpu(), source)


@needs_kernels
@pytest.mark.parametrize("programs_per_sm", [0, 0.25, 2])
def test_persistent_scatter_programs_cover_every_block(programs_per_sm):
    table = torch.zeros(3000, 64, device=KERNEL_DEVICE)
    rows = torch.randperm(3000, generator=torch.Generator().manual_seed(4))[:2000].to(KERNEL_DEVICE)
    source = torch.randn(2000, 64).to(KERNEL_DEVICE)
    keys, positions = kernels.sorted_order(rows, 3000)
    kernels.launch_scatter(table, keys, source, positions, programs_per_sm=programs_per_sm)
    assert torch.equal(table[rows], source)


def test_scatter_dtype_and_size_errors(monkeypatch):
    with pytest.raises(TypeError, match="source and cache must have the table's dtype torch.float32"):
        kernels.scatter_rows(torch.zeros(3, 4), torch.tensor([0]), torch.zeros(1, 4, dtype=torch.float64))
    monkeypatch.setattr(kernels, "MAX_IDS", 3)
    with pytest.raises(ValueError, match="rows has 4 ids; one launch writes at most 3"):
        kernels.scatter_rows(torch.zeros(5, 2), torch.arange(4), torch.zeros(4, 2), sort=False)


# ------------------------------------------------------------------------ UnifiedTensor write path
def test_index_copy_writes_rows_and_keeps_a_cpu_cache_coherent():
    table = torch.randn(50, 6)
    u = UnifiedTensor(table, pin=False)
    u.enable_cache(4 * 50 + 10 * 24, torch.arange(50), "cpu")  # caches rows 40..49
    ids = torch.tensor([[45, 3], [0, 49]])
    rows = torch.randn(2, 2, 6)
    assert u.index_copy_(ids, rows) is u
    assert torch.equal(table[ids], rows), "written in place, no copy of the table"
    assert torch.equal(u[ids], rows), "cached rows 45 and 49 are written through"
    u.copy_(torch.zeros(50, 6))
    assert torch.equal(u[torch.tensor([45, 1])], torch.zeros(2, 6)), "copy_ refreshes the cache"
    u.index_copy_(torch.empty(0, dtype=torch.int64), torch.empty(0, 6))


def test_index_copy_errors_name_the_problem_and_write_nothing(tmp_path):
    table = torch.zeros(8, 3)
    u = UnifiedTensor(table, pin=False)
    with pytest.raises(IndexError, match="row id 8, outside \\[0, 8\\)"):
        u.index_copy_(torch.tensor([1, 8]), torch.ones(2, 3))
    with pytest.raises(IndexError, match="row id -1"):
        u.index_copy_(torch.tensor([-1, 2]), torch.ones(2, 3))
    assert not table.any(), "a write with a bad id writes nothing"
    with pytest.raises(TypeError, match="source has dtype torch.float64, expected the table's torch.float32"):
        u.index_copy_(torch.tensor([1]), torch.ones(1, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="dtype int32 or int64, got torch.float32"):
        u.index_copy_(torch.tensor([1.0]), torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"source must have shape \(2, 3\)"):
        u.index_copy_(torch.tensor([1, 2]), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"source has shape \(8, 4\)"):
        u.copy_(torch.ones(8, 4))
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((4, 2), dtype=np.float32))
    ro = UnifiedTensor.from_numpy(str(path), pin=False)
    assert not ro.writable and u.writable
    with pytest.raises(RuntimeError, match="read-only memory"):
        ro.index_copy_(torch.tensor([0]), torch.ones(1, 2))


# ---------------------------------------------------------------------------------- HostEmbedding
def test_forward_gathers_rows_in_the_ids_shape_and_one_seed_gives_one_table():
    a = HostEmbedding(100, 8, placement="cpu", seed=3)
    b = HostEmbedding(100, 8, placement="cpu", seed=3)
    assert torch.equal(a.weight.host, b.weight.host)
    assert not torch.equal(a.weight.host, HostEmbedding(100, 8, placement="cpu", seed=4).weight.host)
    ids = torch.tensor([[5, 99, 5], [0, 1, 2]], dtype=torch.int32)
    out = a(ids)
    assert out.shape == (2, 3, 8) and torch.equal(out, a.weight.host[ids.long()])
    assert list(a.parameters()) == [], "dense optimizers never see the table"
    zero = HostEmbedding(10, 4, placement="cpu", init_std=0)
    assert not zero.weight.host.any()


def test_backward_sums_duplicates_like_dense_autograd():
    emb = HostEmbedding(20, 5, placement="cpu", seed=0)
    ids = torch.tensor([4, 7, 4, 4, 19, 0, 7])
    weights = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    (emb(ids) * weights).sum().backward()
    dense = emb.weight.host.clone().requires_grad_(True)
    (F.embedding(ids, dense) * weights).sum().backward()
    rows, grad = emb.sparse_grad()
    assert rows.tolist() == [0, 4, 7, 19]
    torch.testing.assert_close(grad, dense.grad[rows.long()])
    (emb(torch.tensor([4, 2])) * 2).sum().backward()  # a second backward before the step merges
    rows, grad = emb.sparse_grad()
    assert rows.tolist() == [0, 2, 4, 7, 19]
    torch.testing.assert_close(grad[1:3], torch.stack([torch.full((5,), 2.0), dense.grad[4] + 2]))
    emb.zero_grad()
    assert emb.sparse_grad() is None


def test_empty_batch_gives_empty_rows_and_a_step_that_changes_nothing():
    emb = HostEmbedding(10, 3, placement="cpu", seed=0)
    before = emb.weight.host.clone()
    optimizer = SparseAdam([emb])
    out = emb(torch.empty(0, 4, dtype=torch.int64))
    assert out.shape == (0, 4, 3)
    out.sum().backward()
    optimizer.step()
    assert emb.sparse_grad() is None and optimizer.steps == [0]
    assert torch.equal(emb.weight.host, before)


def test_bad_ids_and_arguments_raise_naming_them():
    emb = HostEmbedding(10, 3, placement="cpu")
    with pytest.raises(IndexError, match="ids holds row id 10, outside \\[0, 10\\)"):
        emb(torch.tensor([3, 10]))
    with pytest.raises(IndexError, match="ids holds row id -2"):
        emb(torch.tensor([-2]))
    with pytest.raises(TypeError, match="ids must have dtype int32 or int64, got torch.float32"):
        emb(torch.tensor([1.0]))
    with pytest.raises(TypeError, match="ids must have dtype int32 or int64, got torch.bool"):
        emb(torch.tensor([True]))
    with pytest.raises(TypeError, match="ids must be a torch.Tensor"):
        emb([1, 2])
    with pytest.raises(TypeError,
                       match="dtype must be torch.float32, torch.float16 or torch.bfloat16, got torch.int64"):
        HostEmbedding(10, 3, placement="cpu", dtype=torch.int64)
    with pytest.raises(ValueError, match="num_rows must be an int >= 1, got 0"):
        HostEmbedding(0, 3, placement="cpu")
    with pytest.raises(ValueError, match="init_std must be a finite number >= 0"):
        HostEmbedding(3, 3, placement="cpu", init_std=float("nan"))
    with pytest.raises(ValueError, match="placement 'gpu0' is not one of"):
        HostEmbedding(3, 3, placement="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="placement 'pinned' needs CUDA"):
            HostEmbedding(3, 3)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        SparseRowAdagrad([emb], lr=0)
    with pytest.raises(ValueError, match="betas must be two numbers in \\[0, 1\\)"):
        SparseAdam([emb], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="tables\\[1\\] is a Linear, expected a zerocopy.HostEmbedding"):
        SparseAdam([emb, torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="lists one HostEmbedding twice"):
        SparseAdam([emb, emb])


# ------------------------------------------------------------------------------------- optimizers
def _batches(num_rows, steps, size, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, num_rows, (size,), generator=g) for _ in range(steps)]


def _loss(rows, step):
    """A loss whose gradient differs per row and per step."""
    weights = torch.linspace(-1, 1, rows.numel(), dtype=torch.float32, device=rows.device).view(rows.shape) * (step + 1)
    return (rows.float() * weights).sum() + (rows.float() ** 2).sum() * 0.1


def _train(emb, optimizer, batches, device="cpu", first_step=0):
    for step, ids in enumerate(batches, start=first_step):
        optimizer.zero_grad()
        _loss(emb(ids.to(device)), step).backward()
        optimizer.step()


def test_row_adagrad_equals_the_row_wise_dense_reference():
    emb = HostEmbedding(40, 6, placement="cpu", seed=5)
    dense = emb.weight.host.clone().requires_grad_(True)
    accumulator = torch.zeros(40)
    lr, eps = 0.3, 1e-10
    batches = _batches(40, 6, 25, seed=6)  # 25 ids of 40 rows: duplicates in every batch
    _train(emb, SparseRowAdagrad([emb], lr=lr, eps=eps), batches)
    for step, ids in enumerate(batches):
        dense.grad = None
        _loss(F.embedding(ids, dense), step).backward()
        with torch.no_grad():
            touched = torch.unique(ids)
            grad = dense.grad[touched]
            accumulator[touched] += grad.pow(2).mean(1)
            dense[touched] -= lr * grad / (accumulator[touched].sqrt() + eps)[:, None]
    torch.testing.assert_close(emb.weight.host, dense.detach(), rtol=1e-6, atol=1e-6)


def test_sparse_adam_equals_torch_sparse_adam():
    emb = HostEmbedding(40, 6, placement="cpu", seed=7)
    reference = torch.nn.Embedding(40, 6, sparse=True)
    with torch.no_grad():
        reference.weight.copy_(emb.weight.host)
    batches = _batches(40, 8, 25, seed=8)
    _train(emb, SparseAdam([emb], lr=0.05, betas=(0.8, 0.99), eps=1e-7), batches)
    torch_optimizer = torch.optim.SparseAdam(reference.parameters(), lr=0.05, betas=(0.8, 0.99), eps=1e-7)
    for step, ids in enumerate(batches):
        torch_optimizer.zero_grad()
        _loss(reference(ids), step).backward()
        torch_optimizer.step()
    torch.testing.assert_close(emb.weight.host, reference.weight.detach(), rtol=1e-6, atol=1e-7)


def test_bfloat16_table_is_updated_in_float32_and_rounded():
    emb = HostEmbedding(10, 4, placement="cpu", dtype=torch.bfloat16, seed=0)
    ref = emb.weight.host.float().clone()
    optimizer = SparseRowAdagrad([emb], lr=0.5)
    emb(torch.tensor([2, 2])).float().sum().backward()
    optimizer.step()
    ref[2] -= 0.5 * 2.0 / (4.0**0.5 + 1e-10)
    assert emb.weight.host.dtype == torch.bfloat16
    assert torch.equal(emb.weight.host, ref.to(torch.bfloat16))


@needs_kernels
@pytest.mark.parametrize("optimizer_class", [SparseRowAdagrad, SparseAdam])
def test_cpu_and_kernel_paths_give_the_same_table_bit_for_bit(optimizer_class):
    """Same seed, same batches: the CPU path (torch indexing, unique rows cut to size) and the
    Triton path (kernels over CPU tensors under TRITON_INTERPRET=1, padded unique rows as on a
    GPU) must end with identical tables and states."""
    if not kernels.interpreting():
        pytest.skip("the kernel path over CPU tensors runs under TRITON_INTERPRET=1")
    cpu = HostEmbedding(60, 20, placement="cpu", seed=9)
    on_kernels = HostEmbedding(60, 20, placement="cpu", seed=9)
    on_kernels._store = on_kernels._store.on_kernels()
    assert not on_kernels._store.trims
    optimizers = [optimizer_class([cpu], lr=0.1), optimizer_class([on_kernels], lr=0.1)]
    batches = _batches(60, 4, 45, seed=10)
    for emb, optimizer in zip((cpu, on_kernels), optimizers, strict=True):
        for step, ids in enumerate(batches):
            optimizer.zero_grad()
            _loss(emb(ids), step).backward()
            _loss(emb(ids[:7].flip(0)), step + 5).backward()  # two lookups of one table in one step
            optimizer.step()
    assert torch.equal(cpu.weight.host, on_kernels._store.data)
    for a, b in zip(optimizers[0].state_dict()["tables"], optimizers[1].state_dict()["tables"], strict=True):
        assert all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


@pytest.mark.parametrize("optimizer_class", [SparseRowAdagrad, SparseAdam])
def test_state_dict_round_trip_resumes_exactly(optimizer_class):
    batches = _batches(30, 7, 20, seed=11)
    whole = HostEmbedding(30, 4, placement="cpu", seed=1)
    _train(whole, optimizer_class([whole], lr=0.1), batches)

    first = HostEmbedding(30, 4, placement="cpu", seed=1)
    optimizer = optimizer_class([first], lr=0.1)
    _train(first, optimizer, batches[:4])
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed = HostEmbedding(30, 4, placement="cpu", seed=2)
    resumed_optimizer = optimizer_class([resumed], lr=0.9)
    resumed.load_state_dict(saved["model"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    assert resumed_optimizer.lr == 0.1 and resumed_optimizer.steps == [4]
    _train(resumed, resumed_optimizer, batches[4:], first_step=4)
    assert torch.equal(resumed.weight.host, whole.weight.host)


def test_load_state_dict_refuses_other_shapes():
    emb = HostEmbedding(30, 4, placement="cpu")
    with pytest.raises(RuntimeError,
                       match=r"weight: expected shape \(30, 4\) dtype torch.float32, got shape \(30, 5\)"):
        emb.load_state_dict({"weight": torch.zeros(30, 5)})
    with pytest.raises(RuntimeError, match="Missing key"):
        emb.load_state_dict({})
    optimizer = SparseRowAdagrad([emb])
    state = optimizer.state_dict()
    state["tables"][0]["sum"] = torch.zeros(29)
    with pytest.raises(ValueError, match=r"tables\[0\]\['sum'\] has shape \(29,\), expected \(30,\)"):
        optimizer.load_state_dict(state)


def test_a_model_state_dict_holds_the_table_under_its_name():
    model = torch.nn.ModuleDict({"author": HostEmbedding(12, 3, placement="cpu"), "lin": torch.nn.Linear(3, 2)})
    state = model.state_dict()
    assert set(state) == {"author.weight", "lin.weight", "lin.bias"}
    assert state["author.weight"].data_ptr() == model["author"].weight.host.data_ptr(), "no copy"


# -------------------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["pinned", "cuda"])
@pytest.mark.parametrize("optimizer_class", [SparseRowAdagrad, SparseAdam])
def test_gpu_placements_train_as_the_cpu_does(placement, optimizer_class):
    cpu = HostEmbedding(500, 48, placement="cpu", seed=12)
    gpu = HostEmbedding(500, 48, placement=placement, seed=12)
    assert torch.equal(cpu.weight.host, gpu.weight.host if placement == "pinned" else gpu.weight.cpu())
    if placement == "pinned":
        assert gpu.weight.is_pinned()
    batches = _batches(500, 5, 400, seed=13)
    _train(cpu, optimizer_class([cpu], lr=0.05), batches)
    optimizer = optimizer_class([gpu], lr=0.05)
    _train(gpu, optimizer, batches, device="cuda")
    # state_dict() waits for the GPU's writes into pinned memory itself.
    torch.testing.assert_close(gpu.state_dict()["weight"].cpu(), cpu.weight.host, rtol=1e-5, atol=1e-6)
    assert optimizer.state_dict()["tables"][0]["step"] == 5


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["pinned", "cuda"])
def test_gpu_step_has_no_host_sync(placement):
    emb = HostEmbedding(10_000, 64, placement=placement, seed=0, check_ids=False)
    optimizer = SparseAdam([emb])
    ids = torch.randint(0, 10_000, (3000,), device="cuda")
    emb(ids).sum().backward()  # compile the kernels first
    optimizer.step()
    optimizer.zero_grad()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        emb(ids).pow(2).sum().backward()
        emb(ids[:100]).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
def test_gpu_out_of_range_ids_raise_or_are_skipped():
    emb = HostEmbedding(100, 8, placement="pinned", seed=0)
    before = emb.weight.host.clone()
    with pytest.raises(IndexError, match="ids holds row id 100, outside \\[0, 100\\)"):
        emb(torch.tensor([1, 100], device="cuda"))
    unchecked = HostEmbedding(100, 8, placement="pinned", seed=0, check_ids=False)
    optimizer = SparseRowAdagrad([unchecked])
    out = unchecked(torch.tensor([1, 100, -5], device="cuda"))
    assert torch.equal(out[1:].cpu(), torch.zeros(2, 8))
    out.sum().backward()
    optimizer.step()
    torch.cuda.synchronize()
    changed = (unchecked.weight.host != before).any(1)
    assert changed.nonzero().flatten().tolist() == [1]


@pytest.mark.gpu
def test_pinned_table_with_a_gpu_cache_stays_coherent():
    emb = HostEmbedding(1000, 32, placement="pinned", seed=0)
    emb.weight.enable_cache(4 * 1000 + 100 * 128, torch.arange(1000))  # rows 900.. cached on the GPU
    cpu = HostEmbedding(1000, 32, placement="cpu", seed=0)
    batches = [torch.randint(850, 1000, (300,)) for _ in range(4)]
    _train(cpu, SparseRowAdagrad([cpu], lr=0.1), batches)
    _train(emb, SparseRowAdagrad([emb], lr=0.1), batches, device="cuda")
    every = torch.arange(1000, device="cuda")
    torch.testing.assert_close(emb(every).detach().cpu(), cpu.weight.host, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(emb.weight.host, cpu.weight.host, rtol=1e-5, atol=1e-6)
    assert emb.weight.cache_stats().hits > 0


@pytest.mark.gpu
def test_unified_index_copy_on_the_gpu():
    table = torch.zeros(5000, 33)
    u = UnifiedTensor(table)
    ids = torch.randperm(5000)[:1200].cuda()
    rows = torch.randn(1200, 33, device="cuda")
    u.index_copy_(ids, rows)
    torch.cuda.synchronize()
    assert torch.equal(table[ids.cpu()], rows.cpu())
    snapshot = table.clone()
    with pytest.raises(IndexError, match="row id 5000"):
        u.index_copy_(torch.tensor([0, 5000], device="cuda"), torch.ones(2, 33, device="cuda"))
    torch.cuda.synchronize()
    assert torch.equal(table, snapshot), "nothing written when an id is out of range"
    u.index_copy_(torch.tensor([7, 5000], device="cuda"), torch.ones(2, 33, device="cuda"), check=False)
    torch.cuda.synchronize()
    assert torch.equal(table[7], torch.ones(33)) and torch.equal(table[8:], snapshot[8:])


def test_add_sparse_grad_sums_repeats_as_a_backward_would():
    from zerocopy import HostEmbedding

    ids = torch.tensor([3, 1, 3, 0])
    grad = torch.arange(16, dtype=torch.float32).view(4, 4)
    by_backward = HostEmbedding(5, 4, placement="cpu", seed=1)
    by_backward(ids).backward(grad)
    added = HostEmbedding(5, 4, placement="cpu", seed=1)
    added.add_sparse_grad(ids, grad)
    (rows_a, grad_a), (rows_b, grad_b) = by_backward.sparse_grad(), added.sparse_grad()
    assert torch.equal(rows_a, rows_b) and torch.equal(grad_a, grad_b)
    with pytest.raises(ValueError, match=r"grad must be \[4, 4\]"):
        added.add_sparse_grad(ids, grad[:2])
