"""UnifiedTensor on a real GPU: pinned memory read by the kernel, cache, streams, memory maps."""
import numpy as np
import pytest
import torch

from zerocopy import UnifiedTensor
from zerocopy.hostmem import HostRegistration

pytestmark = pytest.mark.gpu

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32]


def _table(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-(2**30), 2**30, shape, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row_shape", [(), (1,), (100,), (128,), (602,), (3, 50)])
def test_cuda_gather_equals_index_select(dtype, row_shape):
    table = _table((5000,) + row_shape, dtype)
    u = UnifiedTensor(table)
    assert u.is_pinned() and u.host.data_ptr() == table.data_ptr(), "pinned in place, no copy"
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 5000, (3001,), generator=g)
    idx[:3] = torch.tensor([4999, 0, 4999])
    out = u[idx.cuda()]
    assert out.is_cuda and out.dtype == dtype
    assert torch.equal(out.cpu(), table[idx])
    assert torch.equal(torch.index_select(u, 0, idx.cuda().int()).cpu(), table[idx])
    grid = idx[:60].view(6, 10).cuda()
    assert torch.equal(u[grid].cpu(), table[idx[:60].view(6, 10)])
    u.close()
    assert not table.is_pinned(), "close() unregisters the memory"


def test_misaligned_view_out_param_and_stream():
    base = _table((40003,), torch.float32)
    table = base[3:].view(4000, 10)
    u = UnifiedTensor(table)
    idx = torch.randint(0, 4000, (777,)).cuda()
    out = torch.full((777, 10), float("nan"), device="cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        result = u.gather(idx, out=out, stream=stream)
    torch.cuda.current_stream().wait_stream(stream)
    assert result is out and torch.equal(out.cpu(), table[idx.cpu()])
    assert u[torch.empty(0, dtype=torch.long, device="cuda")].shape == (0, 10)


@pytest.mark.parametrize("bad", [[-1], [4000], [5, 2**40], [-(2**40)]])
def test_cuda_out_of_range_raises_and_table_is_intact(bad):
    table = _table((4000, 33), torch.float32)
    u = UnifiedTensor(table)
    snapshot = table.clone()
    with pytest.raises(IndexError, match="outside \\[0, 4000\\)"):
        u[torch.tensor(bad, device="cuda")]
    with pytest.raises(IndexError):
        u.gather_async(torch.tensor(bad, device="cuda")).wait()
    torch.cuda.synchronize()
    assert torch.equal(table, snapshot)
    assert torch.equal(u[torch.tensor([3], device="cuda")].cpu(), table[[3]])


def test_zero_width_rows_still_check_ids():
    u = UnifiedTensor(torch.zeros(10, 0))
    assert u[torch.tensor([9, 0], device="cuda")].shape == (2, 0)
    with pytest.raises(IndexError, match="row id 10, outside \\[0, 10\\)"):
        u[torch.tensor([10], device="cuda")]
    with pytest.raises(IndexError, match="row id 10, outside \\[0, 10\\)"):
        u[torch.tensor([10])]  # the CPU path raised already


def test_unchecked_gather_has_no_sync_and_zero_fills_bad_ids():
    table = _table((3000, 40), torch.float32)
    u = UnifiedTensor(table)
    ids = torch.tensor([5, -1, 2999, 3000, 7], device="cuda")
    out = u.gather(ids, check=False).cpu()
    assert torch.equal(out[[0, 2, 4]], table[[5, 2999, 7]])
    assert bool((out[[1, 3]] == 0).all())
    pending = u.gather_async(ids, check=False)
    assert torch.equal(pending.wait().cpu(), out)


def test_pageable_table_with_cuda_ids():
    table = _table((3000, 40), torch.float16)
    u = UnifiedTensor(table, pin=False)
    assert not u.is_pinned()
    ids = torch.randint(0, 3000, (500,), device="cuda")
    assert torch.equal(u[ids].cpu(), table[ids.cpu()])
    with pytest.raises(IndexError):
        u[torch.tensor([3000], device="cuda")]
    assert bool((u.gather(torch.tensor([-4], device="cuda"), check=False) == 0).all())


def test_cache_hits_and_misses_mixed():
    table = _table((10000, 100), torch.int32)  # integers: the +1 / -1 below is exact
    u = UnifiedTensor(table)
    degree = torch.randint(0, 1000, (10000,))
    budget = 4 * 10000 + 2000 * 400
    u.enable_cache(budget, ranking=degree)
    stats = u.cache_stats()
    assert stats.cached_rows == 2000 and stats.hits == 0
    idx = torch.randint(0, 10000, (5000,))
    out = u[idx.cuda()]
    assert torch.equal(out.cpu(), table[idx])
    hot = set(torch.sort(degree, descending=True, stable=True).indices[:2000].tolist())
    expected_hits = sum(int(i) in hot for i in idx.tolist())
    stats = u.cache_stats()
    assert (stats.hits, stats.misses) == (expected_hits, 5000 - expected_hits)
    assert 0 < stats.hit_rate < 1
    # Rows changed on the host after caching: cached rows keep their cached copy, misses see the change.
    table.add_(1)
    out = u[idx.cuda()].cpu()
    hit = torch.tensor([int(i) in hot for i in idx.tolist()])
    assert torch.equal(out[~hit], table[idx][~hit]) and torch.equal(out[hit], table[idx][hit] - 1)


def test_async_gather_read_after_event_while_current_stream_is_busy():
    table = _table((20000, 128), torch.float32)
    u = UnifiedTensor(table)
    u.enable_cache(4 * 20000 + 1000 * 512, ranking=torch.arange(20000, 0, -1))
    results = []
    for seed in range(4):
        idx = torch.randint(0, 20000, (8192,), generator=torch.Generator().manual_seed(seed))
        busy = torch.randn(2048, 2048, device="cuda")
        # a quarter program per SM, as the loader gathers beside training: every block still read
        pending = u.gather_async(idx.cuda(), programs_per_sm=0.25 if seed % 2 else None)
        for _ in range(5):
            busy = busy @ busy / 2048  # the "model" keeps the current stream busy meanwhile
        results.append((idx, pending.wait().clone()))
    for idx, out in results:
        assert torch.equal(out.cpu(), table[idx])
    assert u.cache_stats().hits > 0


def test_memory_mapped_table_is_pinned_in_place(tmp_path):
    array = np.random.default_rng(0).standard_normal((20000, 100), dtype=np.float32)
    path = tmp_path / "feat.npy"
    np.save(path, array)
    del array
    u = UnifiedTensor.from_numpy(path)
    assert u.is_pinned()
    mapped = np.load(path, mmap_mode="r")
    idx = torch.randint(0, 20000, (4096,))
    assert torch.equal(u[idx.cuda()].cpu(), torch.from_numpy(np.asarray(mapped[idx.numpy()])))
    registered = u._registration is not None
    u.close()
    assert registered, "the memory map should be registered in place, not copied"


def test_copy_on_write_map_is_pinned_through_the_file(tmp_path):
    """What training does with a cached dataset's features (np.load(mmap_mode="c"), made read-only):
    the file's bytes are registered through a shared read-only map, which returns at once."""
    array = np.random.default_rng(1).standard_normal((20000, 64), dtype=np.float32).astype(np.float16)
    np.save(tmp_path / "feat.npy", array)
    view = np.load(tmp_path / "feat.npy", mmap_mode="c")
    view.flags.writeable = False
    u = UnifiedTensor.from_numpy(view)
    idx = torch.randint(0, 20000, (4096,))
    assert u._registration is not None
    assert torch.equal(u[idx.cuda()].cpu(), torch.from_numpy(array[idx.numpy()]))
    u.close()


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_wrapping_adds_no_host_copy():
    table = torch.empty((64 * 1024, 1024), dtype=torch.float32)  # 256 MB
    table.fill_(1.5)
    before = _rss_bytes()
    u = UnifiedTensor(table)
    grown = _rss_bytes() - before
    assert u.host.data_ptr() == table.data_ptr()
    assert grown < 16 * 2**20, f"wrapping grew the process by {grown / 2**20:.1f} MB"
    assert float(u[torch.tensor([65535], device="cuda")].sum()) == 1.5 * 1024
    u.close()


def test_closing_one_wrapper_keeps_the_table_pinned_for_another():
    table = torch.arange(4096 * 32, dtype=torch.float32).view(4096, 32)
    first, second = UnifiedTensor(table), UnifiedTensor(table)
    nested = UnifiedTensor(first)
    ids = torch.randint(0, 4096, (1000,), device="cuda")
    first.close()
    assert second.is_pinned() and nested.is_pinned()
    assert torch.equal(second[ids].cpu(), table[ids.cpu()]) and torch.equal(nested[ids].cpu(), table[ids.cpu()])
    second.close()
    assert torch.equal(nested[ids].cpu(), table[ids.cpu()])
    nested.close()


def test_registration_of_an_already_registered_range_falls_back():
    table = torch.zeros(1 << 20)
    reg = HostRegistration.register(table)
    assert reg is not None
    assert HostRegistration.register(table) is None
    # The refused registration must not leak into torch's next kernel launch as a CUDA error.
    assert float((torch.ones(4, device="cuda") + 1).sum()) == 8.0
    torch.cuda.synchronize()
    reg.release()
    reg.release()
    assert reg.released
