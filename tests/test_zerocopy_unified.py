"""UnifiedTensor on the CPU: the public API equals index_select, errors name the bad input."""
import numpy as np
import pytest
import torch

from zerocopy import CacheStats, UnifiedTensor, degree_ranking, visit_ranking
from zerocopy.cache import SLOT_BYTES, RowCache
from zerocopy.hostmem import HostRegistration, shared_file_view

DTYPES = [
    torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.float64, torch.uint8, torch.bool,
    torch.complex64,
]
SHAPES = [(37,), (37, 5), (37, 3, 4), (37, 0)]


def _table(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=g) * 50
    if dtype == torch.bool:
        return values > 0
    return values.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_gather_equals_index_select(dtype, shape):
    table = _table(shape, dtype)
    u = UnifiedTensor(table)
    idx = torch.tensor([5, 0, 36, 5, 12], dtype=torch.int64)
    expected = torch.index_select(table, 0, idx)
    assert torch.equal(u[idx], expected)
    assert torch.equal(u.gather(idx.to(torch.int32)), expected)
    assert torch.equal(torch.index_select(u, 0, idx), expected)
    assert torch.equal(u.index_select(0, idx), expected)
    out = torch.empty_like(expected)
    assert u.gather(idx, out=out) is out and torch.equal(out, expected)
    assert u.shape == table.shape and u.dtype == dtype and len(u) == 37 and u.ndim == len(shape)


def test_index_shapes_scalars_lists_and_empty():
    table = _table((20, 6), torch.float32)
    u = UnifiedTensor(table)
    grid = torch.tensor([[1, 2, 3], [19, 0, 0]])
    assert torch.equal(u[grid], table[grid])
    assert u[grid].shape == (2, 3, 6)
    assert torch.equal(u[7], table[7])
    assert torch.equal(u[np.int64(7)], table[7])
    assert torch.equal(u[[4, 4, 1]], table[[4, 4, 1]])
    assert torch.equal(u[np.array([3, 2])], table[[3, 2]])
    assert u[torch.empty(0, dtype=torch.int64)].shape == (0, 6)
    assert torch.equal(u[2:5], table[2:5])
    assert torch.equal(u[torch.tensor([1, 2]), 1:3], table[[1, 2], 1:3])
    assert torch.equal(u[3, 1], table[3, 1])
    assert torch.equal(u[torch.tensor([[1, 2]]), 0], table[torch.tensor([[1, 2]]), 0])
    assert torch.equal(u[()], table)
    assert torch.equal(u[..., 2], table[..., 2])


def test_tensor_like_surface():
    table = _table((12, 4), torch.float32)
    u = UnifiedTensor(table, pin=False)
    assert u.size() == table.size() and u.size(1) == 4 and u.dim() == 2 and u.numel() == 48
    assert u.device == torch.device("cpu") and str(u.placement) == "cpu" and not u.is_pinned()
    assert torch.equal(u.to(torch.float64), table.double())
    assert u.to("cpu") is u.host and u.cpu() is u.host
    assert torch.equal(torch.sum(u), table.sum())
    assert torch.equal(torch.cat([u, u]), torch.cat([table, table]))
    assert torch.equal(torch.index_select(u, 1, torch.tensor([3, 0])), table[:, [3, 0]])
    assert "UnifiedTensor(shape=(12, 4)" in repr(u)
    assert torch.equal(UnifiedTensor(u)[torch.tensor([1])], table[[1]])


def test_wraps_without_copy_and_makes_non_contiguous_contiguous():
    table = _table((10, 8), torch.float32)
    if not torch.cuda.is_available():  # with CUDA a small heap tensor may be copied (shared pages)
        assert UnifiedTensor(table).host.data_ptr() == table.data_ptr()
    strided = table.t()
    u = UnifiedTensor(strided)
    assert u.host.is_contiguous() and torch.equal(u[torch.tensor([0, 7])], strided[[0, 7]])


@pytest.mark.parametrize("bad", [[-1], [37], [0, 1000], [-5, 3]])
def test_out_of_range_raises_index_error(bad):
    u = UnifiedTensor(_table((37, 3), torch.float32))
    with pytest.raises(IndexError, match=f"row id {min(bad) if min(bad) < 0 else max(bad)}, outside \\[0, 37\\)"):
        u[torch.tensor(bad)]
    with pytest.raises(IndexError):
        u.gather_async(torch.tensor(bad)).wait()
    with pytest.raises(IndexError):
        u[-1]


def test_index_errors_name_the_argument():
    u = UnifiedTensor(_table((8, 2), torch.float32))
    with pytest.raises(TypeError, match="dtype int32 or int64, got torch.float32"):
        u[torch.tensor([1.0])]
    with pytest.raises(TypeError, match="bool mask"):
        u[torch.tensor([True, False])]
    with pytest.raises(TypeError, match="a bool is not a row id"):
        u[True]
    with pytest.raises(TypeError, match="idx must be a torch.Tensor"):
        u.gather([1, 2])
    idx = torch.tensor([1, 2])
    with pytest.raises(TypeError, match="out has dtype torch.float64"):
        u.gather(idx, out=torch.empty(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"out must be contiguous with shape \(2, 2\)"):
        u.gather(idx, out=torch.empty(3, 2))


def test_constructor_errors():
    with pytest.raises(TypeError, match="must be a torch.Tensor, got list"):
        UnifiedTensor([1, 2, 3])
    with pytest.raises(ValueError, match="0-d tensor"):
        UnifiedTensor(torch.tensor(3.0))


def test_close_and_context_manager():
    with UnifiedTensor(_table((5, 2), torch.float32)) as u:
        assert u[torch.tensor([1])].shape == (1, 2)
    assert u.closed
    u.close()
    with pytest.raises(RuntimeError, match="closed"):
        u[torch.tensor([1])]
    with pytest.raises(RuntimeError, match="closed"):
        u.to("cpu")


def test_gather_async_on_cpu():
    table = _table((30, 7), torch.int64)
    u = UnifiedTensor(table)
    idx = torch.tensor([29, 3, 3])
    pending = u.gather_async(idx)
    assert pending.ready()
    assert torch.equal(pending.wait(), table[idx])


def test_from_numpy_memmap_and_array(tmp_path):
    array = np.arange(60, dtype=np.float32).reshape(20, 3)
    path = tmp_path / "feat.npy"
    np.save(path, array)
    u = UnifiedTensor.from_numpy(path)
    assert u.shape == (20, 3) and u.dtype == torch.float32
    assert torch.equal(u[torch.tensor([19, 2])], torch.from_numpy(array[[19, 2]]))
    assert torch.equal(UnifiedTensor.from_numpy(str(path))[torch.tensor([0])], torch.from_numpy(array[[0]]))
    v = UnifiedTensor.from_numpy(array)
    assert torch.equal(v.host, torch.from_numpy(array))
    if not torch.cuda.is_available():
        assert v.host.data_ptr() == array.ctypes.data
    w = UnifiedTensor.from_numpy(np.asfortranarray(array))
    assert torch.equal(w[torch.tensor([4])], torch.from_numpy(array[[4]]))


def test_from_numpy_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        UnifiedTensor.from_numpy(tmp_path / "missing.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an npy file at all")
    with pytest.raises(ValueError, match="bad.npy: not a readable .npy array"):
        UnifiedTensor.from_numpy(bad)
    npz = tmp_path / "two.npz"
    np.savez(npz, a=np.zeros(3), b=np.ones(3))
    with pytest.raises(ValueError, match="two.npz: holds several arrays"):
        UnifiedTensor.from_numpy(npz)
    with pytest.raises(TypeError, match="path or numpy.ndarray, got int"):
        UnifiedTensor.from_numpy(3)
    with pytest.raises(TypeError, match="cannot be wrapped"):
        UnifiedTensor.from_numpy(np.array(["a", "b"]))


def test_cpu_cache_mixes_hits_and_misses():
    table = _table((50, 4), torch.float32)
    u = UnifiedTensor(table)
    ranking = torch.zeros(50)
    ranking[[7, 3, 40]] = torch.tensor([5.0, 9.0, 1.0])
    u.enable_cache(SLOT_BYTES * 50 + 3 * 16, ranking=ranking, device="cpu")
    idx = torch.tensor([3, 4, 40, 7, 7, 49])
    assert torch.equal(u[idx], table[idx])
    assert u.cache_stats() == CacheStats(hits=4, misses=2, hit_rate=4 / 6, cached_rows=3)
    u.reset_cache_stats()
    assert u.cache_stats() == CacheStats(hits=0, misses=0, hit_rate=0.0, cached_rows=3)
    assert "cached_rows=3" in repr(u)
    u.disable_cache()
    with pytest.raises(RuntimeError, match="no cache is enabled"):
        u.cache_stats()


def test_cache_without_ranking_takes_the_first_rows_and_breaks_ties_by_id():
    assert torch.equal(RowCache.hottest(None, 10, 3), torch.tensor([0, 1, 2]))
    ranking = torch.tensor([1, 5, 5, 0, 5])
    assert torch.equal(RowCache.hottest(ranking, 5, 2), torch.tensor([1, 2]))
    assert RowCache.rows_for_budget(SLOT_BYTES * 10 + 100, 10, 16) == 6
    assert RowCache.rows_for_budget(10**9, 10, 16) == 10


def test_cache_errors():
    u = UnifiedTensor(_table((10, 4), torch.float32))
    with pytest.raises(ValueError, match="budget_bytes=40 holds no row.*at least 56"):
        u.enable_cache(40, device="cpu")
    with pytest.raises(TypeError, match="budget_bytes must be an int, got float"):
        u.enable_cache(1e6, device="cpu")
    with pytest.raises(ValueError, match=r"one score per row \(10\), got shape \(9,\)"):
        u.enable_cache(10**6, ranking=torch.zeros(9), device="cpu")
    with pytest.raises(TypeError, match="real scores, got dtype torch.bool"):
        u.enable_cache(10**6, ranking=torch.zeros(10, dtype=torch.bool), device="cpu")
    with pytest.raises(TypeError, match="torch.Tensor or None, got list"):
        u.enable_cache(10**6, ranking=[1] * 10, device="cpu")
    with pytest.raises(ValueError, match="'pinned' is host memory"):
        u.enable_cache(10**6, device="pinned")
    with pytest.raises(ValueError, match="not one of"):
        u.enable_cache(10**6, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs CUDA"):
            u.enable_cache(10**6, device="cuda")


def test_rankings():
    indices = torch.tensor([1, 2, 2, 0, 2], dtype=torch.int32)  # in-neighbour lists of some CSR
    assert torch.equal(degree_ranking(indices, 4), torch.tensor([1, 1, 3, 0]))
    with pytest.raises(ValueError, match="indices must be 1-D"):
        degree_ranking(torch.zeros(2, 2, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="id 2, outside \\[0, 2\\)"):
        degree_ranking(indices, 2)
    with pytest.raises(ValueError, match="id -1, outside"):
        degree_ranking(torch.tensor([0, -1]), 2)
    visits = visit_ranking([torch.tensor([0, 2, 2]), torch.tensor([[2, 1]]), torch.empty(0, dtype=torch.long)], 4)
    assert torch.equal(visits, torch.tensor([1, 1, 3, 0]))
    with pytest.raises(IndexError, match="row id 4, outside \\[0, 4\\)"):
        visit_ranking([torch.tensor([4])], 4)
    with pytest.raises(IndexError, match="row id -1"):
        visit_ranking([torch.tensor([-1, 2])], 4)
    # a mask or float ids were counted as the ids 0/1 or truncated ones
    with pytest.raises(TypeError, match=r"batches\[1\] must hold integer row ids, got dtype torch.bool"):
        visit_ranking([torch.tensor([3]), torch.tensor([True, False, True, False])], 4)
    with pytest.raises(TypeError, match="got dtype torch.float32"):
        visit_ranking([torch.tensor([1.7])], 4)


def test_registration_needs_a_contiguous_cpu_tensor():
    with pytest.raises(ValueError, match="contiguous CPU tensor.*contiguous=False"):
        HostRegistration.register(torch.zeros(4, 3).t())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")
def test_registration_without_cuda_is_none():
    assert HostRegistration.register(torch.zeros(4)) is None
    u = UnifiedTensor(torch.zeros(4, 2))
    assert not u.is_pinned() and u[torch.tensor([1])].shape == (1, 2)


def test_pageable_fallback_zero_fills_out_of_range_ids():
    table = _table((10, 3), torch.float32)
    rows = UnifiedTensor(table, pin=False)._gather_pageable(torch.tensor([1, -1, 9, 10]))
    assert torch.equal(rows[[0, 2]], table[[1, 9]]) and bool((rows[[1, 3]] == 0).all())
    empty = UnifiedTensor(torch.zeros(0, 3), pin=False)._gather_pageable(torch.tensor([0, 1]))
    assert empty.shape == (2, 3) and bool((empty == 0).all())


def test_check_flag_is_accepted_for_cpu_ids():
    table = _table((6, 2), torch.int32)
    u = UnifiedTensor(table)
    assert torch.equal(u.gather(torch.tensor([5, 0]), check=False), table[[5, 0]])
    with pytest.raises(IndexError):
        u.gather(torch.tensor([6]), check=False)


def test_torch_index_select_gathers_after_torch_geometric_patches_it(monkeypatch):
    import torch_geometric  # noqa: F401  (replaces torch.index_select with its own wrapper)

    u = UnifiedTensor(torch.arange(20.0).view(10, 2), pin=False)
    calls = []
    real_gather = UnifiedTensor.gather
    monkeypatch.setattr(UnifiedTensor, "gather", lambda self, *a, **k: calls.append(1) or real_gather(self, *a, **k))
    idx = torch.tensor([3, 1])
    assert torch.equal(torch.index_select(u, 0, idx), torch.arange(20.0).view(10, 2)[idx])
    assert calls, "torch.index_select(u, 0, idx) must go through UnifiedTensor.gather"


def test_placement_and_kernel_refusals(monkeypatch):
    from zerocopy import Placement, kernels

    with pytest.raises(TypeError, match="placement must be a str or torch.device, got int"):
        Placement.parse(3)
    monkeypatch.setattr(kernels, "triton", None)
    assert not kernels.available()
    with pytest.raises(RuntimeError, match="needs Triton, which is not installed"):
        kernels.launch_gather(torch.zeros(3, 4), torch.tensor([0]), torch.zeros(1, 4))


def test_acquire_shares_one_registration_until_every_holder_releases(monkeypatch):
    # The driver calls are faked: what is tested is who registers and who unregisters.
    registered, unregistered = [], []

    def fake_register(cls, tensor, *, read_only=False):
        registered.append(tensor.data_ptr())
        return cls(tensor.data_ptr(), tensor.numel() * tensor.element_size(), 0)

    monkeypatch.setattr(HostRegistration, "register", classmethod(fake_register))
    monkeypatch.setattr(HostRegistration, "_unregister", lambda self: unregistered.append(self.ptr))
    table = torch.zeros(100, 8)
    first = HostRegistration.acquire(table)
    again = HostRegistration.acquire(table)  # the same table wrapped a second time
    view = HostRegistration.acquire(table[10:20])  # rows inside the registered range
    assert first is again is view and registered == [table.data_ptr()]
    first.release()
    view.release()
    assert unregistered == [] and not first.released, "a holder is left: the range must stay pinned"
    again.release()
    again.release()  # after the last holder, further calls do nothing
    assert unregistered == [table.data_ptr()] and first.released
    fresh = HostRegistration.acquire(table)  # released ranges are registered afresh
    assert fresh is not first and registered == [table.data_ptr()] * 2
    fresh.release()


def _mapping_perms(address: int) -> str:
    with open("/proc/self/maps") as maps:
        for line in maps:
            start, end = (int(a, 16) for a in line.split()[0].split("-"))
            if start <= address < end:
                return line.split()[1]
    return ""


def test_shared_file_view_of_a_copy_on_write_map(tmp_path):
    table = np.arange(4000 * 7, dtype=np.float32).reshape(4000, 7)
    np.save(tmp_path / "x.npy", table)
    private = torch.from_numpy(np.load(tmp_path / "x.npy", mmap_mode="c"))
    for part in (private, private[1234:3999], private[5]):
        shared = shared_file_view(part)
        assert shared is not None and shared.data_ptr() != part.data_ptr()
        assert shared.dtype == part.dtype and torch.equal(shared, part)
        assert _mapping_perms(shared.data_ptr()) == "r--s"  # read-only and shared
    private[10, 3] = -1.0  # a written page lives only in the private map: the file no longer holds it
    assert shared_file_view(private) is None
    assert shared_file_view(torch.from_numpy(table)) is None  # anonymous memory
    assert shared_file_view(torch.from_numpy(np.load(tmp_path / "x.npy", mmap_mode="r"))) is None  # already shared
