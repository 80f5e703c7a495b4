"""The Triton gather kernel on CPU tensors under TRITON_INTERPRET=1 (on a GPU when there is one)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zerocopy import kernels

pytestmark = pytest.mark.skipif(
    not kernels.available(), reason="needs Triton with TRITON_INTERPRET=1 or a CUDA device"
)

DEVICE = "cpu" if kernels.interpreting() else "cuda"
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32]
GUARD = 77


def _random(shape, dtype, g):
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-(2**30), 2**30, shape, generator=g).to(dtype)


def _guarded_table(num_rows, width, dtype, g, skew=0):
    """A table inside a buffer whose elements before and after it hold GUARD (never to be read)."""
    pad = 64 + skew
    buf = torch.full((pad + num_rows * width + 64,), GUARD, dtype=dtype)
    table = buf[pad : pad + num_rows * width].view(num_rows, width)
    table.copy_(_random((num_rows, width), dtype, g))
    table[table == GUARD] = 0
    return table.to(DEVICE) if DEVICE != "cpu" else table


def _gather(table, rows, **kw):
    out = torch.full((rows.numel(), table.shape[1]), 5, dtype=table.dtype, device=table.device)
    kernels.gather_rows(table, rows, out, **kw)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [1, 7, 32, 64, 100, 150])
@pytest.mark.parametrize("sort", [True, False])
def test_kernel_equals_index_select(dtype, width, sort):
    g = torch.Generator().manual_seed(width)
    table = _guarded_table(41, width, dtype, g)
    rows = torch.randint(0, 41, (53,), generator=g).to(table.device)
    rows[:4] = torch.tensor([0, 40, 40, 0])
    assert torch.equal(_gather(table, rows, sort=sort), torch.index_select(table, 0, rows))


@settings(max_examples=25 if kernels.interpreting() else 8, deadline=None)  # each width compiles once on a GPU
@given(
    width=st.integers(1, 300),
    num_rows=st.integers(1, 40),
    count=st.integers(0, 60),
    skew=st.integers(0, 31),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_kernel_random_widths_duplicates_and_misaligned_tables(width, num_rows, count, skew, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    table = _guarded_table(num_rows, width, dtype, g, skew=skew)
    rows = torch.randint(0, num_rows, (count,), generator=g).to(table.device)
    assert torch.equal(_gather(table, rows), torch.index_select(table, 0, rows))


def test_empty_index_writes_nothing():
    table = _guarded_table(5, 40, torch.float32, torch.Generator().manual_seed(0))
    out = torch.full((0, 40), 3.0, device=table.device)
    kernels.gather_rows(table, torch.empty(0, dtype=torch.int64, device=table.device), out)
    assert out.shape == (0, 40)


@pytest.mark.parametrize("width", [1, 40, 45])
def test_out_of_range_rows_are_never_read(width):
    g = torch.Generator().manual_seed(1)
    table = _guarded_table(6, width, torch.int32, g, skew=3)
    rows = torch.tensor([-1, 0, 6, 5, -(2**40), 2**40, 3], device=table.device)
    out = _gather(table, rows)
    valid = (rows >= 0) & (rows < 6)
    assert torch.equal(out[valid], table[rows[valid]])
    assert bool((out[~valid] == 0).all()), "an out-of-range row must come back zero, not read"
    assert not bool((out == GUARD).any())


def test_cache_rows_mixed_with_host_rows_and_counted():
    g = torch.Generator().manual_seed(2)
    table = _guarded_table(30, 45, torch.float16, g)
    cached = torch.tensor([2, 9, 17, 29])
    slot_map = torch.full((30,), -1, dtype=torch.int32)
    slot_map[cached] = torch.arange(4, dtype=torch.int32)
    # Cache contents differ from the table so the test sees which source each row came from.
    cache = table[cached].cpu() + 1
    to = table.device
    counts = torch.zeros(2, dtype=torch.int64, device=to)
    rows = torch.tensor([2, 3, 29, 29, 0, 17, 28, 9], device=to)
    out = _gather(
        table, rows, slot_map=slot_map.to(to), cache=cache.to(to), counts=counts
    )
    expected = table[rows].cpu()
    slots = slot_map[rows.cpu()]
    hit = slots >= 0
    expected[hit] = cache[slots[hit].long()]
    assert torch.equal(out.cpu(), expected)
    assert counts.tolist() == [5, 8]


def test_word_size_follows_row_bytes_and_alignment():
    base = torch.zeros(64, dtype=torch.int8)
    assert kernels.word_bytes(400, base) == 8
    assert kernels.word_bytes(402, base) == 2
    assert kernels.word_bytes(400, base[4:]) == 4
    assert kernels.word_bytes(7, base) == 1
    assert kernels.as_words(torch.zeros(2, 8, dtype=torch.bool), 8).shape == (2, 1)


def test_any_dtype_moves_bit_exactly():
    g = torch.Generator().manual_seed(3)
    for dtype, width in [(torch.complex128, 3), (torch.bool, 13), (torch.uint8, 300), (torch.float64, 17)]:
        table = torch.randn(9, width, generator=g)
        table = (table > 0).to(dtype) if dtype == torch.bool else table.to(dtype)
        rows = torch.tensor([8, 0, 3, 3])
        assert torch.equal(_gather(table.to(DEVICE), rows.to(DEVICE)).cpu(), table[rows])


def test_mismatched_dtypes_raise():
    with pytest.raises(TypeError, match="table's dtype torch.float32"):
        kernels.gather_rows(torch.zeros(3, 4), torch.tensor([0]), torch.zeros(1, 4, dtype=torch.float64))


def test_sorted_order_narrows_ids():
    keys, pos = kernels.sorted_order(torch.tensor([5, 1, 3]), 10)
    assert keys.dtype == torch.int32 and keys.tolist() == [1, 3, 5] and pos.tolist() == [1, 2, 0]
    keys, _ = kernels.sorted_order(torch.tensor([2**40, -(2**40), 1]), 10)
    assert keys.tolist() == [-1, 1, 10], "out-of-range ids must not wrap onto valid rows"
    keys, _ = kernels.sorted_order(torch.tensor([5, 1]), 2**40)
    assert keys.dtype == torch.int64


def test_blocks_cover_the_span():
    for span in (1, 31, 131, 159, 633):
        block_r, block_c = kernels._blocks(span, 8)
        assert block_r * block_c * 8 <= kernels.TILE_BYTES and block_c >= 16


@pytest.mark.parametrize("programs_per_sm", [0, 0.25, 1, 2])
def test_persistent_programs_cover_every_block(programs_per_sm):
    g = torch.Generator().manual_seed(4)
    table = _guarded_table(300, 64, torch.float32, g)  # 256 B rows: 32 words, 64 rows a block
    rows = torch.randint(0, 300, (2000,), generator=g).to(table.device)  # 32 blocks > 4 SMs x 2
    out = torch.zeros(2000, 64, dtype=torch.float32, device=table.device)
    keys, positions = kernels.sorted_order(rows, 300)
    kernels.launch_gather(table, keys, out, positions, programs_per_sm=programs_per_sm)
    assert torch.equal(out, table[rows])


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "2"])
def test_bad_programs_per_sm_raise(bad):
    table, out = torch.zeros(5, 2), torch.zeros(2, 2)
    with pytest.raises(ValueError, match="programs_per_sm must be a finite number >= 0"):
        kernels.launch_gather(table, torch.tensor([0, 1]), out, programs_per_sm=bad)


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "quarter"])
def test_bad_programs_per_sm_environment_variable_raises_naming_it(monkeypatch, text):
    monkeypatch.setenv("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM", text)
    with pytest.raises(ValueError, match=f"ZEROCOPY_OVERLAP_PROGRAMS_PER_SM='{text}' must be a finite number >= 0"):
        kernels._programs_per_sm_from_env("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM", 0.25)
    monkeypatch.setenv("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM", "0.5")
    assert kernels._programs_per_sm_from_env("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM", 0.25) == 0.5
    monkeypatch.delenv("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM")
    assert kernels._programs_per_sm_from_env("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM", 0.25) == 0.25


def test_too_many_ids_raise(monkeypatch):
    monkeypatch.setattr(kernels, "MAX_IDS", 3)
    with pytest.raises(ValueError, match="rows has 4 ids; one launch gathers at most 3"):
        kernels.gather_rows(torch.zeros(5, 2), torch.tensor([0, 1, 2, 3]), torch.zeros(4, 2), sort=False)
