"""The Triton row-gather kernel behind every GPU read of a :class:`~zerocopy.UnifiedTensor`.

One kernel serves every dtype: the table is viewed as integers of its element size (the kernel
moves bits, it never computes on them), so float32, float16, bfloat16, int64, int32 and the
rest share four compiled variants per row width. Each program copies ``BLOCK_R`` rows of
``BLOCK_C`` elements per step:

* a row's reads start on the 128-byte line that holds its first element (the lanes before the
  row's start are masked), so a row that is not a multiple of 128 B wide still costs whole-line
  requests instead of requests straddling two lines (DESIGN.md: 49.8 of 55 GB/s for 2,408 B rows);
* rows listed in ``rows`` are read in the order given; :func:`gather_rows` sorts them first
  (``sort=True``) so that host memory is touched in address order, and writes each row to its
  requested position through ``positions``;
* a row outside ``[0, num_rows)`` is never read: its output row is zero-filled, and the caller
  raises IndexError (see :mod:`zerocopy.unified`);
* with a cache, a row whose slot in ``slot_map`` is not -1 is read from the GPU-resident cache
  and counted as a hit; the rest come from the table, in one launch.

The table may be a page-locked host tensor (the GPU reads it over PCIe; Triton's launcher turns
the host pointer into its device alias with ``cuPointerGetAttribute``) or any tensor Triton can
address. Under ``TRITON_INTERPRET=1`` every operand may be a CPU tensor, which is how CI tests
the indexing logic.
"""
from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - torch CUDA builds ship Triton; CPU-only installs may not
    triton = None
    tl = None

LINE_BYTES = 128
"""The GPU's cache-line size: reads are started on multiples of it (Hopper, Ampere, Volta)."""

TILE_ELEMENTS = 4096
"""Elements one program moves per step (BLOCK_R x BLOCK_C). With 4 warps that is 32 loads in
flight per thread, enough to cover PCIe latency (~1.5 us x 55 GB/s = 80 KB in flight over all
SMs); halving it cost bandwidth on the H200, doubling it only adds registers."""

_INT_VIEW = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def available() -> bool:
    """Whether the Triton kernel can run here: on a CUDA device, or on the CPU when interpreting."""
    if triton is None:
        return False
    return torch.cuda.is_available() or interpreting()


def interpreting() -> bool:
    """True when ``TRITON_INTERPRET=1`` (kernels run in Python on CPU tensors)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


if triton is not None:

    @triton.jit
    def _gather_kernel(
        src_ptr,
        out_ptr,
        rows_ptr,
        pos_ptr,
        slot_ptr,
        cache_ptr,
        counts_ptr,
        n_idx,
        n_rows,
        skew,
        WIDTH: tl.constexpr,
        SPAN: tl.constexpr,
        ALIGN: tl.constexpr,
        BLOCK_R: tl.constexpr,
        BLOCK_C: tl.constexpr,
        HAS_POS: tl.constexpr,
        HAS_CACHE: tl.constexpr,
    ):
        r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
        live = r < n_idx
        row = tl.load(rows_ptr + r, mask=live, other=0).to(tl.int64)
        valid = live & (row >= 0) & (row < n_rows)
        row = tl.where(valid, row, 0)
        if HAS_POS:
            dst = tl.load(pos_ptr + r, mask=live, other=0).to(tl.int64)
        else:
            dst = r
        start = row * WIDTH
        # Elements between the start of the 128 B line holding the row's first element and that
        # element (``skew`` is the table's own misalignment, in elements).
        lead = (start + skew) % ALIGN
        first = start - lead
        from_host = valid
        if HAS_CACHE:
            slot = tl.load(slot_ptr + row, mask=valid, other=-1).to(tl.int64)
            hit = valid & (slot >= 0)
            from_host = valid & (slot < 0)
            slot = tl.where(hit, slot, 0)
            tl.atomic_add(counts_ptr, tl.sum(hit.to(tl.int64), axis=0))
            tl.atomic_add(counts_ptr + 1, tl.sum(valid.to(tl.int64), axis=0))
        for c in range(0, SPAN, BLOCK_C):
            col = c + tl.arange(0, BLOCK_C)
            k = col[None, :] - lead[:, None]
            in_row = live[:, None] & (k >= 0) & (k < WIDTH)
            value = tl.load(src_ptr + first[:, None] + col[None, :], mask=in_row & from_host[:, None], other=0)
            if HAS_CACHE:
                cached = tl.load(cache_ptr + slot[:, None] * WIDTH + k, mask=in_row & hit[:, None], other=0)
                value = tl.where(hit[:, None], cached, value)
            tl.store(out_ptr + dst[:, None] * WIDTH + k, value, mask=in_row)


def int_view(t: torch.Tensor) -> torch.Tensor:
    """``t`` reinterpreted as integers of its element size (no copy), as the kernel moves bits.

    Raises:
        TypeError: for an element size other than 1, 2, 4 or 8 bytes.
    """
    size = t.element_size()
    if size not in _INT_VIEW:
        raise TypeError(
            f"table dtype {t.dtype} has {size}-byte elements; the gather kernel moves 1, 2, 4 or 8-byte elements"
        )
    if t.dtype == torch.bool:
        return t.view(torch.uint8).view(torch.int8)
    return t.view(_INT_VIEW[size])


def _blocks(span: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_C): the column block wasting the fewest lanes over ``span`` (ties: larger)."""
    best_c, best_cost = 16, None
    for block_c in (16, 32, 64, 128, 256):
        cost = -(-span // block_c) * block_c
        if best_cost is None or cost <= best_cost:
            best_c, best_cost = block_c, cost
        if block_c >= span:
            break
    block_r = max(1, TILE_ELEMENTS // best_c)
    return block_r, best_c


def launch_gather(
    table: torch.Tensor,
    rows: torch.Tensor,
    out: torch.Tensor,
    positions: torch.Tensor | None = None,
    slot_map: torch.Tensor | None = None,
    cache: torch.Tensor | None = None,
    counts: torch.Tensor | None = None,
) -> None:
    """Copy ``table[rows[i]]`` into ``out[positions[i]]`` (``out[i]`` without positions), one launch.

    Cost: one kernel launch on the current stream, no host sync, no allocation.

    Args:
        table: ``[num_rows, width]`` contiguous, integer-viewed (:func:`int_view`); page-locked
            host memory or device memory (CPU memory under ``TRITON_INTERPRET=1``).
        rows: 1-D int32/int64 row ids; ids outside ``[0, num_rows)`` are not read and give zero rows.
        out: ``[len(rows), width]`` contiguous, same dtype as ``table``, on the launching device.
        positions: 1-D int64, a permutation of ``range(len(rows))``, or None.
        slot_map: int32 ``[num_rows]``: the cache slot of each row or -1; None for no cache.
        cache: ``[cached_rows, width]`` rows held on the device (with ``slot_map``).
        counts: int64 ``[2]`` on the device: hits and lookups, incremented in place (with ``slot_map``).
    """
    if triton is None:
        raise RuntimeError("the zero-copy gather kernel needs Triton, which is not installed")
    n_idx = rows.numel()
    width = table.shape[1]
    if n_idx == 0 or width == 0:
        return
    esize = table.element_size()
    line = LINE_BYTES // esize
    skew = (table.data_ptr() % LINE_BYTES) // esize
    row_bytes = width * esize
    # Rows narrower than a line gain nothing from an earlier start; aligned rows need no shift.
    shift = row_bytes >= LINE_BYTES and (row_bytes % LINE_BYTES != 0 or skew != 0)
    align = line if shift else 1
    span = width + align - 1
    block_r, block_c = _blocks(span)
    has_cache = slot_map is not None
    dummy = rows
    grid = (triton.cdiv(n_idx, block_r),)
    _gather_kernel[grid](
        table,
        out,
        rows,
        positions if positions is not None else dummy,
        slot_map if has_cache else dummy,
        cache if has_cache else table,
        counts if has_cache else dummy,
        n_idx,
        table.shape[0],
        skew if shift else 0,
        WIDTH=width,
        SPAN=span,
        ALIGN=align,
        BLOCK_R=block_r,
        BLOCK_C=block_c,
        HAS_POS=positions is not None,
        HAS_CACHE=has_cache,
        num_warps=4,
    )


def sorted_order(rows: torch.Tensor, num_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows sorted ascending, their original positions)`` for a gather in host-address order.

    Ids are narrowed to int32 before sorting when ``num_rows`` allows (half the radix passes),
    after clamping to ``[-1, num_rows]`` so that an out-of-range id stays out of range instead of
    wrapping onto a valid row. Cost: a clamp and one radix sort, allocates 12-16 B per id.
    """
    if num_rows < torch.iinfo(torch.int32).max and rows.dtype != torch.int32:
        rows = rows.clamp(-1, num_rows).to(torch.int32)
    return torch.sort(rows)


def gather_rows(
    table: torch.Tensor,
    rows: torch.Tensor,
    out: torch.Tensor,
    *,
    sort: bool = True,
    slot_map: torch.Tensor | None = None,
    cache: torch.Tensor | None = None,
    counts: torch.Tensor | None = None,
) -> torch.Tensor:
    """``out[i] = table[rows[i]]`` for integer-viewed 2-D ``table`` and ``out``; returns ``out``.

    With ``sort`` the rows are read in ascending address order and scattered back to their
    requested positions (DESIGN.md: 51.3 vs 16.1 GB/s for 512 B rows of a 10 GB table); without
    it they are read in the order given. Cost: a sort (with ``sort``) and one kernel launch on the
    current stream; no host sync.
    """
    if sort and rows.numel() > 1:
        keys, positions = sorted_order(rows, table.shape[0])
        launch_gather(table, keys, out, positions, slot_map, cache, counts)
    else:
        launch_gather(table, rows, out, None, slot_map, cache, counts)
    return out
