"""The Triton row-gather kernel behind every GPU read of a :class:`~zerocopy.UnifiedTensor`, and its
write twin, the row-scatter kernel behind every GPU write (:meth:`~zerocopy.UnifiedTensor.index_copy_`).

One kernel serves every dtype: the kernel moves bits, never computes on them, so the table is
viewed as the widest integers (8, 4, 2 or 1 bytes) that divide a row and the buffers' alignment.
float32, float16, bfloat16, int64, int32 and the rest then share one compiled variant per row
size in bytes, and a 400 B row moves as 50 eight-byte words instead of 100 four-byte ones. Each
program copies ``BLOCK_R`` rows of ``BLOCK_C`` words per step:

* a row's reads start on the 128-byte line that holds its first byte (the lanes before the row's
  start are masked), so a row that is not a multiple of 128 B wide still costs whole-line
  requests instead of requests straddling two lines (DESIGN.md: 49.8 of 55 GB/s for 2,408 B rows;
  this kernel: 52.1 of 55.3 through the public API, benchmarks/README.md);
* rows listed in ``rows`` are read in the order given; :func:`gather_rows` sorts them first
  (``sort=True``) so that host memory is touched in address order, and writes each row to its
  requested position through ``positions``;
* a row outside ``[0, num_rows)`` is never read: its output row is zero-filled, and the caller
  raises IndexError (see :mod:`zerocopy.unified`);
* with a cache, a row whose slot in ``slot_map`` is not -1 is read from the GPU-resident cache
  and counted as a hit; the rest come from the table, in one launch.

The scatter kernel is the same loop with the copy reversed (``table[rows[i]] = source[positions[i]]``):
the same words, tiles and line-aligned starts (writes are issued on the lines the reads would be),
a row outside the table is never written, and with a cache a cached row is written to the cache
as well (write-through), so gathers stay coherent with writes.

The table may be a page-locked host tensor (the GPU reads it over PCIe; Triton's launcher turns
the host pointer into its device alias with ``cuPointerGetAttribute``) or any tensor Triton can
address. Under ``TRITON_INTERPRET=1`` every operand may be a CPU tensor, which is how CI tests
the indexing logic.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - torch CUDA builds ship Triton; CPU-only installs may not
    triton = None
    tl = None

LINE_BYTES = 128
"""The GPU's cache-line size: reads are started on multiples of it (Hopper, Ampere, Volta)."""

TILE_BYTES = 16384
"""Bytes one program moves per step (BLOCK_R x BLOCK_C words): with 4 warps, 128 B of loads in
flight per thread. Measured on the H200 for 512 B rows (``bench_gather.py --sweep``): 8 KB tiles
40.2-40.7 GB/s, 16 KB 40.9-43.3, 32 KB 36.5-40.1 (4 or 8 warps); larger tiles only add registers."""


def _programs_per_sm_from_env(name: str, default: float) -> float:
    """The programs-per-SM setting in environment variable ``name`` (``default`` when unset).

    Raises:
        ValueError: a value that is not a finite number >= 0, naming the variable.
    """
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise ValueError(f"{name}={text!r} must be a finite number >= 0 (0: one program per block of rows)")
    return value


PROGRAMS_PER_SM = _programs_per_sm_from_env("ZEROCOPY_PROGRAMS_PER_SM", 0.0)
"""Persistent programs per multiprocessor (a fraction leaves SMs free: 0.25 runs on a quarter of
them); 0 launches one program per block of rows. With ``P`` persistent programs, program ``p``
takes blocks ``p, p + P, ...`` of the sorted rows, so the rows in flight span about
``P x BLOCK_R`` rows of the sorted order (a narrower window of host addresses). Alone, no setting
was clearly faster than 0 on the H200 (``bench_gather.py --tune``, results/gather.json: 1, 2, 4,
8, 16 and 0 per SM within the run-to-run spread of about +-10%). The environment variable
``ZEROCOPY_PROGRAMS_PER_SM`` sets it for a whole process; gathers that run beside a model's
kernels take ``OVERLAP_PROGRAMS_PER_SM`` instead."""

OVERLAP_PROGRAMS_PER_SM = _programs_per_sm_from_env("ZEROCOPY_OVERLAP_PROGRAMS_PER_SM", 0.25)
"""Persistent programs per multiprocessor for a gather that runs on a side stream while a model
trains (graphsys's loader passes it). A program waiting on PCIe holds its SM slot, so one program
per block fills every SM and the model's kernels queue behind it; a quarter of the SMs is enough
to keep the link busy. Measured on the H200 (``bench_train.py --gather-programs 0.25``, GraphSAGE
on synthetic-products, pinned features + 20% cache): 1.993 s an epoch against 2.281 s with one
program per block in float32, 1.564 against 1.604 s under bf16 (benchmarks/README.md). The
environment variable ``ZEROCOPY_OVERLAP_PROGRAMS_PER_SM`` overrides it (0: one program per block)."""

MAX_TILE_WORDS = 4096
"""At most this many words per program step: every word holds a register and a 64-bit address."""

MAX_IDS = 2**31 - 1 - MAX_TILE_WORDS
"""Ids one launch takes: block offsets are computed in 32-bit arithmetic."""

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
    def _row_block(rows_ptr, pos_ptr, block, n_idx, n_rows, skew,
                   WIDTH: tl.constexpr, ALIGN: tl.constexpr, BLOCK_R: tl.constexpr, HAS_POS: tl.constexpr):
        """Block ``block`` of ``rows``: (live lanes, in-range rows, row ids (0 where out of range),
        positions in the dense operand, first word to touch, words between it and the row start)."""
        r = (block * BLOCK_R + tl.arange(0, BLOCK_R)).to(tl.int64)  # < 2**31: _plan checks
        live = r < n_idx
        row = tl.load(rows_ptr + r, mask=live, other=0).to(tl.int64)
        valid = live & (row >= 0) & (row < n_rows)
        row = tl.where(valid, row, 0)
        if HAS_POS:
            pos = tl.load(pos_ptr + r, mask=live, other=0).to(tl.int64)
        else:
            pos = r
        start = row * WIDTH
        # Words between the start of the 128 B line holding the row's first word and that
        # word (``skew`` is the table's own misalignment, in words).
        lead = (start + skew) % ALIGN
        return live, valid, row, pos, start - lead, lead

    @triton.jit
    def _row_lanes(c, lead, live, WIDTH: tl.constexpr, BLOCK_C: tl.constexpr):
        """Columns ``c ..`` of a step: (word offsets from each row's first line, offsets within the
        row, lanes that fall inside a live row)."""
        col = c + tl.arange(0, BLOCK_C)
        k = col[None, :] - lead[:, None]
        return col, k, live[:, None] & (k >= 0) & (k < WIDTH)

    # The id and block counts change with every minibatch: specializing on them (divisible by 16
    # or not) would compile a new variant the first time each combination shows up, mid-epoch.
    @triton.jit(do_not_specialize=["n_idx", "n_blocks"])
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
        n_blocks,
        WIDTH: tl.constexpr,
        SPAN: tl.constexpr,
        ALIGN: tl.constexpr,
        BLOCK_R: tl.constexpr,
        BLOCK_C: tl.constexpr,
        HAS_POS: tl.constexpr,
        HAS_CACHE: tl.constexpr,
    ):
        # Persistent programs walk the blocks of (sorted) rows in step, so the rows in flight at any
        # moment cover a narrow window of host addresses (see PROGRAMS_PER_SM).
        hits = tl.zeros([BLOCK_R], dtype=tl.int64)
        lookups = tl.zeros([BLOCK_R], dtype=tl.int64)
        for block in range(tl.program_id(0), n_blocks, tl.num_programs(0)):
            live, valid, row, dst, first, lead = _row_block(
                rows_ptr, pos_ptr, block, n_idx, n_rows, skew, WIDTH, ALIGN, BLOCK_R, HAS_POS
            )
            from_host = valid
            if HAS_CACHE:
                slot = tl.load(slot_ptr + row, mask=valid, other=-1).to(tl.int64)
                hit = valid & (slot >= 0)
                from_host = valid & (slot < 0)
                slot = tl.where(hit, slot, 0)
                hits += hit.to(tl.int64)
                lookups += valid.to(tl.int64)
            for c in range(0, SPAN, BLOCK_C):
                col, k, in_row = _row_lanes(c, lead, live, WIDTH, BLOCK_C)
                value = tl.load(src_ptr + first[:, None] + col[None, :], mask=in_row & from_host[:, None], other=0)
                if HAS_CACHE:
                    cached = tl.load(cache_ptr + slot[:, None] * WIDTH + k, mask=in_row & hit[:, None], other=0)
                    value = tl.where(hit[:, None], cached, value)
                tl.store(out_ptr + dst[:, None] * WIDTH + k, value, mask=in_row)
        if HAS_CACHE:
            tl.atomic_add(counts_ptr, tl.sum(hits, axis=0))
            tl.atomic_add(counts_ptr + 1, tl.sum(lookups, axis=0))

    @triton.jit(do_not_specialize=["n_idx", "n_blocks"])
    def _scatter_kernel(
        table_ptr,
        source_ptr,
        rows_ptr,
        pos_ptr,
        slot_ptr,
        cache_ptr,
        n_idx,
        n_rows,
        skew,
        n_blocks,
        WIDTH: tl.constexpr,
        SPAN: tl.constexpr,
        ALIGN: tl.constexpr,
        BLOCK_R: tl.constexpr,
        BLOCK_C: tl.constexpr,
        HAS_POS: tl.constexpr,
        HAS_CACHE: tl.constexpr,
    ):
        for block in range(tl.program_id(0), n_blocks, tl.num_programs(0)):
            live, valid, row, src, first, lead = _row_block(
                rows_ptr, pos_ptr, block, n_idx, n_rows, skew, WIDTH, ALIGN, BLOCK_R, HAS_POS
            )
            if HAS_CACHE:
                slot = tl.load(slot_ptr + row, mask=valid, other=-1).to(tl.int64)
                hit = valid & (slot >= 0)
                slot = tl.where(hit, slot, 0)
            for c in range(0, SPAN, BLOCK_C):
                col, k, in_row = _row_lanes(c, lead, live, WIDTH, BLOCK_C)
                write = in_row & valid[:, None]
                value = tl.load(source_ptr + src[:, None] * WIDTH + k, mask=write, other=0)
                tl.store(table_ptr + first[:, None] + col[None, :], value, mask=write)
                if HAS_CACHE:
                    tl.store(cache_ptr + slot[:, None] * WIDTH + k, value, mask=write & hit[:, None])


def as_words(t: torch.Tensor, word_bytes: int) -> torch.Tensor:
    """Contiguous ``t`` (last dim in bytes a multiple of ``word_bytes``) viewed as integer words; no copy."""
    if t.dtype == torch.bool:
        t = t.view(torch.uint8)
    return t.view(_INT_VIEW[word_bytes])


def word_bytes(row_bytes: int, *tensors: torch.Tensor) -> int:
    """The widest word (8, 4, 2 or 1 bytes) dividing ``row_bytes`` and every tensor's address."""
    for size in (8, 4, 2):
        if row_bytes % size == 0 and all(t.data_ptr() % size == 0 for t in tensors):
            return size
    return 1


def _blocks(span: int, word: int, tile_bytes: int = TILE_BYTES) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_C) for rows spanning ``span`` words: the column block wasting the fewest
    lanes (ties: the larger), and as many rows as fill ``tile_bytes``."""
    best_c, best_cost = 16, None
    for block_c in (16, 32, 64, 128, 256):
        cost = -(-span // block_c) * block_c
        if best_cost is None or cost <= best_cost:
            best_c, best_cost = block_c, cost
        if block_c >= span:
            break
    block_r = max(1, min(tile_bytes // word, MAX_TILE_WORDS) // best_c)
    return block_r, best_c


@dataclass(frozen=True)
class _Plan:
    """How one gather or scatter launch tiles its rows: word size, the line shift, blocks and grid."""

    word: int
    width: int
    skew: int
    align: int
    span: int
    block_r: int
    block_c: int
    n_blocks: int
    grid: tuple[int]

    def constants(self, *, has_pos: bool, has_cache: bool) -> dict:
        """The kernels' shared arguments after the pointers and the id count."""
        return dict(WIDTH=self.width, SPAN=self.span, ALIGN=self.align, BLOCK_R=self.block_r,
                    BLOCK_C=self.block_c, HAS_POS=has_pos, HAS_CACHE=has_cache)


def _plan(
    table: torch.Tensor,
    others: tuple[torch.Tensor | None, ...],
    n_idx: int,
    name: str,
    tile_bytes: int,
    programs_per_sm: float | None,
    device: torch.device,
) -> _Plan | None:
    """The tiling of a launch over ``n_idx`` rows of 2-D ``table`` (``others``: the dense operand
    and the cache, whose addresses bound the word size); None when there is nothing to move.

    Raises:
        TypeError: an operand of another dtype than the table.
        ValueError: ``programs_per_sm`` not a finite number >= 0, or more than ``MAX_IDS`` ids.
    """
    if triton is None:
        raise RuntimeError("a zero-copy row kernel needs Triton, which is not installed")
    if any(t is not None and t.dtype != table.dtype for t in others):
        raise TypeError(f"{name} and cache must have the table's dtype {table.dtype}")
    per_sm = PROGRAMS_PER_SM if programs_per_sm is None else programs_per_sm
    if not (isinstance(per_sm, (int, float)) and 0 <= per_sm < math.inf):
        raise ValueError(f"programs_per_sm must be a finite number >= 0 (0: one program per block of rows), "
                         f"got {per_sm!r} (a default comes from ZEROCOPY_PROGRAMS_PER_SM or "
                         f"ZEROCOPY_OVERLAP_PROGRAMS_PER_SM when set)")
    if n_idx > MAX_IDS:
        verb = "gathers" if name == "out" else "writes"
        raise ValueError(f"rows has {n_idx} ids; one launch {verb} at most {MAX_IDS}: split the index")
    row_bytes = table.shape[1] * table.element_size()
    if n_idx == 0 or row_bytes == 0:
        return None
    word = word_bytes(row_bytes, table, *(t for t in others if t is not None))
    width = row_bytes // word
    line = LINE_BYTES // word
    skew = (table.data_ptr() % LINE_BYTES) // word
    # Rows narrower than a line gain nothing from an earlier start; aligned rows need no shift.
    shift = row_bytes >= LINE_BYTES and (row_bytes % LINE_BYTES != 0 or skew != 0)
    align = line if shift else 1
    span = width + align - 1
    block_r, block_c = _blocks(span, word, tile_bytes)
    n_blocks = triton.cdiv(n_idx, block_r)
    grid = (min(n_blocks, max(1, int(per_sm * _sm_count(device)))) if per_sm > 0 else n_blocks,)
    return _Plan(word, width, skew if shift else 0, align, span, block_r, block_c, n_blocks, grid)


def _has_cache(slot_map: torch.Tensor | None, cache: torch.Tensor | None) -> bool:
    """Whether a launch goes through a cache: ``slot_map`` and ``cache`` come together or not at all.

    Raises:
        ValueError: one of the two was given without the other.
    """
    if (slot_map is None) != (cache is None):
        given, missing = ("slot_map", "cache") if cache is None else ("cache", "slot_map")
        raise ValueError(f"{given} was given without {missing}; pass both (a cached table) or neither")
    return slot_map is not None


def launch_gather(
    table: torch.Tensor,
    rows: torch.Tensor,
    out: torch.Tensor,
    positions: torch.Tensor | None = None,
    slot_map: torch.Tensor | None = None,
    cache: torch.Tensor | None = None,
    counts: torch.Tensor | None = None,
    *,
    tile_bytes: int = TILE_BYTES,
    num_warps: int = 4,
    programs_per_sm: float | None = None,
) -> None:
    """Copy ``table[rows[i]]`` into ``out[positions[i]]`` (``out[i]`` without positions), one launch.

    Cost: one kernel launch on the current stream, no host sync, no allocation.

    Args:
        table: ``[num_rows, width]`` contiguous, any dtype; page-locked host memory or device
            memory (CPU memory under ``TRITON_INTERPRET=1``).
        rows: 1-D int32/int64 row ids; ids outside ``[0, num_rows)`` are not read and give zero rows.
        out: ``[len(rows), width]`` contiguous, same dtype as ``table``, on the launching device.
        positions: 1-D int64, a permutation of ``range(len(rows))``, or None.
        slot_map: int32 ``[num_rows]``: the cache slot of each row or -1; None for no cache.
        cache: ``[cached_rows, width]`` rows held on the device (with ``slot_map``), ``table``'s dtype.
        counts: int64 ``[2]`` on the device: hits and lookups, incremented in place (with ``slot_map``).
        tile_bytes: bytes a program moves per step (see ``TILE_BYTES``); a tuning knob.
        num_warps: warps per program; a tuning knob.
        programs_per_sm: persistent programs per multiprocessor (default ``PROGRAMS_PER_SM``;
            0: one program per block); a tuning knob.
    """
    plan = _plan(table, (out, cache), rows.numel(), "out", tile_bytes, programs_per_sm, out.device)
    if plan is None:
        return
    has_cache = _has_cache(slot_map, cache)
    dummy = rows
    table, out = as_words(table, plan.word), as_words(out, plan.word)
    _gather_kernel[plan.grid](
        table,
        out,
        rows,
        positions if positions is not None else dummy,
        slot_map if has_cache else dummy,
        as_words(cache, plan.word) if cache is not None else table,
        counts if has_cache else dummy,
        rows.numel(),
        table.shape[0],
        plan.skew,
        plan.n_blocks,
        **plan.constants(has_pos=positions is not None, has_cache=has_cache),
        num_warps=num_warps,
    )


def launch_scatter(
    table: torch.Tensor,
    rows: torch.Tensor,
    source: torch.Tensor,
    positions: torch.Tensor | None = None,
    slot_map: torch.Tensor | None = None,
    cache: torch.Tensor | None = None,
    *,
    tile_bytes: int = TILE_BYTES,
    num_warps: int = 4,
    programs_per_sm: float | None = None,
) -> None:
    """Write ``source[positions[i]]`` (``source[i]`` without positions) into ``table[rows[i]]``, one launch.

    The write twin of :func:`launch_gather`: the same tiling, and a row whose id is outside
    ``[0, num_rows)`` is never written. With ``slot_map``/``cache`` a cached row is written to the
    cache too (write-through). Rows named twice: one of the writes wins, which one is unspecified
    (as for ``torch.Tensor.index_copy_``). Cost: one kernel launch on the current stream, no host
    sync, no allocation.

    Args:
        table: ``[num_rows, width]`` contiguous and writable: page-locked host memory (registered
            without the read-only flag) or device memory (CPU memory under ``TRITON_INTERPRET=1``).
        rows: 1-D int32/int64 row ids.
        source: ``[len(rows), width]`` contiguous, the table's dtype, on the launching device.
        positions: 1-D int64, a permutation of ``range(len(rows))``, or None.
        slot_map: int32 ``[num_rows]``: the cache slot of each row or -1; None for no cache.
        cache: ``[cached_rows, width]`` cached rows on the device (with ``slot_map``).
        tile_bytes, num_warps, programs_per_sm: tuning knobs, as for :func:`launch_gather`.
    """
    plan = _plan(table, (source, cache), rows.numel(), "source", tile_bytes, programs_per_sm, source.device)
    if plan is None:
        return
    has_cache = _has_cache(slot_map, cache)
    table, source = as_words(table, plan.word), as_words(source, plan.word)
    _scatter_kernel[plan.grid](
        table,
        source,
        rows,
        positions if positions is not None else rows,
        slot_map if has_cache else rows,
        as_words(cache, plan.word) if cache is not None else table,
        rows.numel(),
        table.shape[0],
        plan.skew,
        plan.n_blocks,
        **plan.constants(has_pos=positions is not None, has_cache=has_cache),
        num_warps=num_warps,
    )


@functools.cache
def _sm_count(device: torch.device) -> int:
    """Multiprocessors of ``device`` (4 for the CPU, where the interpreter runs programs in turn)."""
    if device.type != "cuda":
        return 4
    return torch.cuda.get_device_properties(device).multi_processor_count


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
    programs_per_sm: float | None = None,
) -> torch.Tensor:
    """``out[i] = table[rows[i]]`` for 2-D contiguous ``table`` and ``out``; returns ``out``.

    With ``sort`` the rows are read in ascending address order and scattered back to their
    requested positions (DESIGN.md: 51.3 vs 16.1 GB/s for 512 B rows of a 10 GB table); without
    it they are read in the order given. Each row costs more the further it lies from the previous
    one in host memory (address translation; benchmarks/README.md: 37.5 M rows/s 205 kB apart, 98 M
    13 kB apart), so one call over several batches' ids beats one call per batch.
    ``programs_per_sm`` as for :func:`launch_gather`. Cost: a sort (with ``sort``) and one kernel
    launch on the current stream; no host sync.
    """
    if sort and rows.numel() > 1:
        keys, positions = sorted_order(rows, table.shape[0])
        launch_gather(table, keys, out, positions, slot_map, cache, counts, programs_per_sm=programs_per_sm)
    else:
        launch_gather(table, rows, out, None, slot_map, cache, counts, programs_per_sm=programs_per_sm)
    return out


def scatter_rows(
    table: torch.Tensor,
    rows: torch.Tensor,
    source: torch.Tensor,
    *,
    sort: bool = True,
    slot_map: torch.Tensor | None = None,
    cache: torch.Tensor | None = None,
    programs_per_sm: float | None = None,
) -> torch.Tensor:
    """``table[rows[i]] = source[i]`` for 2-D contiguous ``table`` and ``source``; returns ``table``.

    With ``sort`` the rows are written in ascending address order (as :func:`gather_rows` reads);
    pass ``sort=False`` for ``rows`` already ascending. Ids outside the table are skipped; with a
    cache, cached rows are written through. Cost: a sort (with ``sort``) and one kernel launch on
    the current stream; no host sync.
    """
    if sort and rows.numel() > 1:
        keys, positions = sorted_order(rows, table.shape[0])
        launch_scatter(table, keys, source, positions, slot_map, cache, programs_per_sm=programs_per_sm)
    else:
        launch_scatter(table, rows, source, None, slot_map, cache, programs_per_sm=programs_per_sm)
    return table
