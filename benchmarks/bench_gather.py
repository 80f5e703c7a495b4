"""Feature gathering side by side: every way of getting random rows of a host table to the GPU.

One host buffer (10 GB by default) is viewed as tables of rows of 128 float32 (512 B), 100
float32 (400 B), 128 float16 (256 B) and 602 float32 (2,408 B); for each, 400 K uniformly random
row ids are gathered by every path:

* ``memcpy``: one contiguous pinned host -> GPU copy of the same bytes (the PCIe ceiling);
* ``cpu_index_select``: torch's CPU index_select (``--threads`` threads) into a pinned buffer, then a copy;
* ``zerocopy_given_order``: the Triton kernel reading the rows in the order given;
* ``zerocopy_sorted_kernel``: the kernel alone on ids sorted beforehand (``sort_only`` is the sort);
* ``graphsys``: ``UnifiedTensor.__getitem__`` with CUDA ids, everything included (bounds check,
  sort, gather, scatter back to the requested positions);
* ``gpu_resident``: ``torch.index_select`` on a copy of the table in GPU memory.

Then a [15, 10, 5] neighbour sampler's node sets on a power-law graph (degrees drawn from a
Pareto law, neighbours drawn proportionally to degree, deduplicated per hop) are gathered with a
cache of 20% of the rows ranked by degree, reporting effective bandwidth and the hit rate.
CPU busy-ness during each gather is process CPU time over wall time (1.0 = the launching thread).

    PYTHONPATH=. python benchmarks/bench_gather.py            # the H200 run (10 GB table)
    PYTHONPATH=. python benchmarks/bench_gather.py --small    # a smoke run on any machine
"""
from __future__ import annotations

import argparse
import logging
import mmap
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import format_table, write_result  # noqa: E402
from zerocopy import UnifiedTensor, kernels  # noqa: E402
from zerocopy.cache import RowCache  # noqa: E402

CONFIGS = [(128, torch.float32), (100, torch.float32), (128, torch.float16), (602, torch.float32)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gb", type=float, default=10.24, help="host table size in GB (20 M rows of 512 B)")
    p.add_argument("--num-idx", type=int, default=400_000, help="random row ids per gather")
    p.add_argument("--repeat", type=int, default=30, help="timed gathers per path")
    p.add_argument("--threads", type=int, default=16, help="CPU threads of the index_select path")
    p.add_argument("--batches", type=int, default=8, help="sampled minibatches for the cache experiment")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--fanouts", default="15,10,5")
    p.add_argument("--alpha", type=float, default=2.1, help="power-law exponent of the degree sequence")
    p.add_argument("--min-degree", type=int, default=3)
    p.add_argument("--max-degree", type=int, default=100_000)
    p.add_argument("--cache-fraction", type=float, default=0.2, help="rows cached, ranked by degree")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--small", action="store_true", help="64 MB table, 20 K ids: a smoke run")
    p.add_argument("--sweep", action="store_true", help="also time the sorted kernel over tile sizes and warps")
    p.add_argument("--tune", action="store_true",
                   help="time the sorted kernel over persistent programs per SM first and use the fastest")
    p.add_argument("--alloc-probe", action="store_true",
                   help="also time the sorted kernel on cudaHostAlloc memory and on registered huge-page memory")
    p.add_argument("--locality-probe", action="store_true",
                   help="also time the sorted kernel on ids drawn in runs of k adjacent rows (k rows per 4 KiB "
                        "page), from host and from GPU memory, and cached gathers with hits and misses ordered "
                        "three ways")
    args = p.parse_args(argv)
    if args.small:
        args.gb, args.num_idx, args.repeat, args.batches, args.batch_size = 0.064, 20_000, 3, 2, 64
        args.max_degree = 1000
    return args


def cuda_ms(fn, reps: int, warmup: int = 2) -> float:
    """Mean device time of ``fn(i)`` over ``reps`` back-to-back calls (a pipelined loop, as a
    loader runs it), event-timed after ``warmup`` untimed calls."""
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for i in range(reps):
        fn(warmup + i)
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / reps


def latency_ms(fn, reps: int, warmup: int = 2) -> float:
    """Median of ``reps`` calls each timed alone (host launch overheads included)."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(warmup + i)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def median_wall_ms(fn, reps: int, warmup: int = 2) -> float:
    """Median wall time of ``reps`` calls ``fn(i)`` (each must synchronize what it starts)."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(reps):
        t0 = time.perf_counter()
        fn(warmup + i)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def cpu_busy(fn, reps: int) -> float:
    """Process CPU time over wall time across ``reps`` calls: ~1.0 means only the launching thread."""
    time.sleep(0.5)  # let OpenMP workers of an earlier CPU path stop spinning
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(reps):
        fn(i)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def fill_random(buffer: torch.Tensor, seed: int) -> None:
    """Random bytes in ``buffer`` (generated on the GPU when there is one, in 256 MB chunks)."""
    words = buffer.view(torch.int32)
    g_dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=g_dev).manual_seed(seed)
    chunk = 64 << 20
    for s in range(0, words.numel(), chunk):
        part = words[s : s + chunk]
        part.copy_(torch.randint(-(2**31), 2**31 - 1, part.shape, dtype=torch.int32, device=g_dev, generator=g))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_config(args, buffer, gpu_buffer, width, dtype, device):
    row_bytes = width * torch.tensor([], dtype=dtype).element_size()
    n = buffer.numel() // row_bytes
    table = buffer[: n * row_bytes].view(dtype).view(n, width)
    u = UnifiedTensor(table)  # the buffer is already page-locked: no second registration
    g = torch.Generator(device=device).manual_seed(args.seed + width)
    sets = [
        torch.randint(0, n, (args.num_idx,), device=device, generator=g) for _ in range(args.repeat + 2)
    ]
    nbytes = args.num_idx * row_bytes
    rows = []

    def add(path, ms, busy=None):
        rows.append({"row_bytes": row_bytes, "dtype": str(dtype).replace("torch.", ""), "path": path,
                     "ms": ms, "GB/s": nbytes / ms / 1e6, "cpu_busy": busy})

    if device == "cuda":
        out = torch.empty((args.num_idx, width), dtype=dtype, device=device)
        dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
        span = buffer.numel() - nbytes
        offsets = [(i * 7919 * 4096) % max(span, 1) // 4096 * 4096 for i in range(args.repeat + 2)]
        add("memcpy", cuda_ms(lambda i: dst.copy_(buffer[offsets[i] : offsets[i] + nbytes], non_blocking=True),
                              args.repeat))
        add("zerocopy_given_order",
            cuda_ms(lambda i: kernels.gather_rows(table, sets[i], out, sort=False), args.repeat))
        presorted = [kernels.sorted_order(s, n) for s in sets]
        add("sort_only", cuda_ms(lambda i: kernels.sorted_order(sets[i], n), args.repeat))
        add("zerocopy_sorted_kernel",
            cuda_ms(lambda i: kernels.launch_gather(table, presorted[i][0], out, presorted[i][1]), args.repeat))
        if args.sweep:
            for tile in (8192, 16384, 32768):
                for warps in (4, 8):
                    ms = cuda_ms(lambda i: kernels.launch_gather(
                        table, presorted[i][0], out, presorted[i][1], tile_bytes=tile, num_warps=warps), args.repeat)
                    add(f"sweep_sorted_kernel_tile{tile}_warps{warps}", ms)
        ms = cuda_ms(lambda i: u[sets[i]], args.repeat)
        add("graphsys", ms, cpu_busy(lambda i: u[sets[i % len(sets)]], args.repeat))
        add("graphsys_one_call_latency", latency_ms(lambda i: u[sets[i]], args.repeat))
        gtable = gpu_buffer[: n * row_bytes].view(dtype).view(n, width)
        add("gpu_resident", cuda_ms(lambda i: torch.index_select(gtable, 0, sets[i]), args.repeat))
        # Correctness: bitwise equal to index_select, in both read orders.
        check = sets[0]
        ref = torch.index_select(gtable, 0, check)
        ok = torch.equal(u[check].view(torch.uint8), ref.view(torch.uint8))
        ok &= torch.equal(kernels.gather_rows(table, check, out, sort=False).view(torch.uint8), ref.view(torch.uint8))
        del presorted, dst, out, gtable
    else:
        ok = torch.equal(u[sets[0]].view(torch.uint8), torch.index_select(table, 0, sets[0]).view(torch.uint8))
    cpu_sets = [s.cpu() for s in sets]
    staging = torch.empty((args.num_idx, width), dtype=dtype, pin_memory=device == "cuda")
    dest = torch.empty((args.num_idx, width), dtype=dtype, device=device)

    def cpu_path(i):
        torch.index_select(table, 0, cpu_sets[i], out=staging)
        if device == "cuda":
            dest.copy_(staging, non_blocking=True)
            torch.cuda.synchronize()

    ms = median_wall_ms(cpu_path, args.repeat)
    add("cpu_index_select", ms, cpu_busy(cpu_path, args.repeat))
    memcpy = next((r["GB/s"] for r in rows if r["path"] == "memcpy"), None)
    for r in rows:
        r["vs_memcpy"] = r["GB/s"] / memcpy if memcpy else None
    u.close()
    return rows, bool(ok)


def sorted_sets(n: int, args, device: str, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``repeat + 2`` random index sets of ``num_idx`` ids below ``n``, sorted (keys, positions)."""
    g = torch.Generator(device=device).manual_seed(seed)
    return [
        kernels.sorted_order(torch.randint(0, n, (args.num_idx,), device=device, generator=g), n)
        for _ in range(args.repeat + 2)
    ]


def sorted_kernel_ms(buffer: torch.Tensor, width: int, dtype: torch.dtype, args, **knobs) -> tuple[float, float]:
    """(ms of the sorted gather kernel alone, ms of a memcpy of the same bytes) on a view of ``buffer``."""
    row_bytes = width * torch.tensor([], dtype=dtype).element_size()
    n = buffer.numel() // row_bytes
    table = buffer[: n * row_bytes].view(dtype).view(n, width)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU under TRITON_INTERPRET=1
    timer = cuda_ms if device == "cuda" else median_wall_ms
    sets = sorted_sets(n, args, device, args.seed + width)
    out = torch.empty((args.num_idx, width), dtype=dtype, device=device)
    ms = timer(lambda i: kernels.launch_gather(table, sets[i][0], out, sets[i][1], **knobs), args.repeat)
    nbytes = args.num_idx * row_bytes
    dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
    span = max(buffer.numel() - nbytes, 1)
    copy_ms = timer(lambda i: dst.copy_(buffer[i * nbytes % span :][:nbytes], non_blocking=True), args.repeat)
    return ms, copy_ms


TUNE_CONFIGS = [(128, torch.float32), (128, torch.float16), (100, torch.float32)]


def tune_programs(buffer: torch.Tensor, args) -> tuple[int, list[dict]]:
    """Time the sorted kernel for each ``programs_per_sm``; the fastest over TUNE_CONFIGS wins."""
    rows, totals = [], {}
    for per_sm in (1, 2, 4, 8, 16, 0):
        totals[per_sm] = 0.0
        for width, dtype in TUNE_CONFIGS:
            ms, copy_ms = sorted_kernel_ms(buffer, width, dtype, args, programs_per_sm=per_sm)
            row_bytes = width * torch.tensor([], dtype=dtype).element_size()
            rows.append({"row_bytes": row_bytes, "dtype": str(dtype).replace("torch.", ""),
                         "path": f"tune_sorted_kernel_programs_per_sm_{per_sm}", "ms": ms,
                         "GB/s": args.num_idx * row_bytes / ms / 1e6, "vs_memcpy": copy_ms / ms})
            totals[per_sm] += ms
    best = min(totals, key=totals.get)
    return best, rows


def huge_page_buffer(nbytes: int) -> tuple[torch.Tensor, mmap.mmap]:
    """An anonymous mapping advised to use transparent huge pages (2 MB), as a uint8 tensor."""
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    region.madvise(mmap.MADV_HUGEPAGE)
    return torch.frombuffer(region, dtype=torch.uint8), region


def alloc_probe(buffer: torch.Tensor, args) -> tuple[list[dict], dict]:
    """The sorted kernel on three kinds of page-locked memory of the same size (8 GiB)."""
    nbytes = min(8 << 30, buffer.numel())
    info = {}
    try:
        info["thp_mode"] = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        info["thp_mode"] = None
    rows = []

    def probe(kind: str, buf: torch.Tensor) -> None:
        for width, dtype in [(128, torch.float32), (128, torch.float16)]:
            ms, copy_ms = sorted_kernel_ms(buf, width, dtype, args)
            row_bytes = width * torch.tensor([], dtype=dtype).element_size()
            rows.append({"row_bytes": row_bytes, "dtype": str(dtype).replace("torch.", ""),
                         "path": f"alloc_{kind}_sorted_kernel", "ms": ms,
                         "GB/s": args.num_idx * row_bytes / ms / 1e6, "vs_memcpy": copy_ms / ms})

    probe("registered", buffer[:nbytes])
    if torch.cuda.is_available():
        pinned = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        fill_random(pinned, args.seed)
        probe("cudaHostAlloc", pinned)
        del pinned
        torch.cuda.synchronize()
        getattr(torch._C, "_host_emptyCache", lambda: None)()
    huge, region = huge_page_buffer(nbytes)
    fill_random(huge, args.seed)
    info["anon_huge_pages_kB"] = next(
        (int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
         if line.startswith("AnonHugePages")),
        None,
    )
    with UnifiedTensor(huge) as u:
        info["huge_registered_in_place"] = u.host.data_ptr() == huge.data_ptr() and u.is_pinned()
        probe("registered_huge_pages", u.host)
    del huge, u, region  # the mapping goes once no tensor refers to it
    return rows, info


PAGE_BYTES = 4096
LOCALITY_RUNS = (1, 2, 4, 8, 16, 64)
DENSITY_SHARES = (0.125, 0.25, 0.5, 1.0, 2.0)


def run_sets(n: int, run: int, args, device: str, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sorted index sets of ~``num_idx`` ids made of runs of ``run`` adjacent rows starting on a
    multiple of ``run`` (so a run of at most 4 KiB stays in one page); ``run`` 0: one contiguous
    stretch of ``num_idx`` rows at a random start."""
    g = torch.Generator(device=device).manual_seed(seed)
    sets = []
    for _ in range(args.repeat + 2):
        if run == 0:
            start = int(torch.randint(0, n - args.num_idx, (1,), device=device, generator=g))
            rows = torch.arange(start, start + args.num_idx, device=device)
        else:
            starts = torch.randint(0, n // run, (args.num_idx // run,), device=device, generator=g) * run
            rows = (starts[:, None] + torch.arange(run, device=device)).reshape(-1)
        sets.append(kernels.sorted_order(rows, n))
    return sets


def locality_probe(buffer: torch.Tensor, gpu_buffer: torch.Tensor | None, args) -> list[dict]:
    """Is the small-row floor per row, per byte or per host page touched? The sorted kernel on ids
    in runs of k adjacent rows, from the pinned table and from a GPU copy (the kernel's own ceiling)."""
    rows = []
    for width, dtype in [(128, torch.float16), (128, torch.float32)]:
        row_bytes = width * torch.tensor([], dtype=dtype).element_size()
        n = buffer.numel() // row_bytes
        sources = {"host": buffer[: n * row_bytes].view(dtype).view(n, width)}
        if gpu_buffer is not None:
            sources["gpu"] = gpu_buffer[: n * row_bytes].view(dtype).view(n, width)
        out = torch.empty((int(args.num_idx * max(DENSITY_SHARES)), width), dtype=dtype,
                          device=buffer.device if gpu_buffer is None else "cuda")
        timer = cuda_ms if gpu_buffer is not None else median_wall_ms
        for run in LOCALITY_RUNS + (0,):
            sets = run_sets(n, run, args, out.device.type, args.seed + run)
            ids = sets[0][0].numel()
            # Distinct 4 KiB pages touched (runs rarely collide: 400 K ids among millions of runs).
            pages = -(-ids * row_bytes // PAGE_BYTES) if run == 0 else ids // run * -(-run * row_bytes // PAGE_BYTES)
            for where, table in sources.items():
                ms = timer(lambda i: kernels.launch_gather(table, sets[i][0], out[:ids], sets[i][1]), args.repeat)
                rows.append({"row_bytes": row_bytes, "dtype": str(dtype).replace("torch.", ""),
                             "path": f"locality_{where}_run{run or 'dense'}", "ms": ms,
                             "GB/s": ids * row_bytes / ms / 1e6, "Mrows/s": ids / ms / 1e3,
                             "Mpages/s": pages / ms / 1e3})
        # The same uniform random rows at other densities: fewer ids over the same table lie
        # further apart in host memory.
        for share in DENSITY_SHARES:
            ids = max(1, int(args.num_idx * share))
            sets = sorted_sets(n, argparse.Namespace(num_idx=ids, repeat=args.repeat), out.device.type, args.seed + ids)
            ms = timer(lambda i: kernels.launch_gather(sources["host"], sets[i][0], out[:ids], sets[i][1]), args.repeat)
            rows.append({"row_bytes": row_bytes, "dtype": str(dtype).replace("torch.", ""),
                         "path": f"density_host_{ids}_ids", "ms": ms, "GB/s": ids * row_bytes / ms / 1e6,
                         "Mrows/s": ids / ms / 1e3, "kB_between_rows": n * row_bytes / ids / 1e3})
    return rows


def mix_probe(table: torch.Tensor, cache: RowCache, sets: list[torch.Tensor], args) -> list[dict]:
    """Cached gathers of the sampled node sets, kernel alone, with the rows read in three orders
    (address order with hits and misses interleaved; misses first; hits first); the misses alone
    (and those of two batches in one gather), the hits alone, and both as two launches on two streams."""
    n, width = table.shape
    row_bytes = width * table.element_size()
    cache_rows = cache.data.view(-1, width)
    plans = {name: [] for name in ("interleaved", "misses_first", "hits_first", "misses_only", "hits_only",
                                   "misses_of_two_batches")}
    for at, s in enumerate(sets):
        hit = cache.slot_map[s] >= 0
        after = sets[(at + 1) % len(sets)]
        both_misses = torch.cat([s[~hit], after[cache.slot_map[after] < 0]])
        keys, pos = kernels.sorted_order(both_misses, n)
        plans["misses_of_two_batches"].append((keys.to(torch.int64), pos))
        for name, key in (("interleaved", s), ("misses_first", s + hit * n), ("hits_first", s + ~hit * n)):
            order = torch.sort(key)
            plans[name].append((order.values % n, order.indices))
        for name, part in (("misses_only", s[~hit]), ("hits_only", s[hit])):
            keys, pos = kernels.sorted_order(part, n)
            plans[name].append((keys.to(torch.int64), pos))
    out = torch.empty((2 * max(s.numel() for s in sets), width), dtype=table.dtype, device=cache.device)
    side = [torch.cuda.Stream(), torch.cuda.Stream()] if torch.cuda.is_available() else None
    timer = cuda_ms if side else median_wall_ms

    def launch(name, i, use_cache=True):
        keys, pos = plans[name][i % len(sets)]
        kernels.launch_gather(table, keys, out[: keys.numel()], pos, *(
            (cache.slot_map, cache_rows, cache.counts) if use_cache else ()))

    def both(i):
        main = torch.cuda.current_stream()
        for stream in side:
            stream.wait_stream(main)
        with torch.cuda.stream(side[0]):
            launch("misses_only", i, use_cache=False)
        with torch.cuda.stream(side[1]):
            launch("hits_only", i)
        for stream in side:
            main.wait_stream(stream)

    reference = torch.index_select(table, 0, sets[0].to(table.device)).to(out.device)
    for name in ("interleaved", "misses_first", "hits_first"):
        launch(name, 0)
        if not torch.equal(out[: sets[0].numel()].view(torch.uint8), reference.view(torch.uint8)):
            raise AssertionError(f"cache_mix_{name} gathered wrong rows")
    rows = []
    uncached = ("misses_only", "misses_of_two_batches")
    timed = {name: (lambda i, name=name: launch(name, i, use_cache=name not in uncached)) for name in plans}
    if side:
        timed["two_streams"] = both
    for name, fn in timed.items():
        ms = timer(fn, len(sets) * 3)
        ids = sum(k.numel() for k, _ in plans[name if name in plans else "interleaved"]) / len(sets)
        rows.append({"row_bytes": row_bytes, "dtype": str(table.dtype).replace("torch.", ""),
                     "path": f"cache_mix_{name}", "ms": ms, "GB/s": ids * row_bytes / ms / 1e6,
                     "Mrows/s": ids / ms / 1e3})
    return rows


def powerlaw_degrees(n: int, args, device: str) -> torch.Tensor:
    """A Pareto degree sequence (exponent ``alpha``, at least ``min_degree``, capped), in random node order."""
    g = torch.Generator(device=device).manual_seed(args.seed + 1)
    u = torch.rand(n, device=device, generator=g, dtype=torch.float64)
    deg = torch.floor(args.min_degree * (1 - u) ** (-1.0 / (args.alpha - 1)))
    return deg.clamp_(max=args.max_degree).to(torch.int64)


def sample_node_sets(degree: torch.Tensor, args, device: str) -> list[torch.Tensor]:
    """Node ids ``[seeds | hop-1 new | hop-2 new | ...]`` of ``--batches`` sampled minibatches.

    Each hop draws ``fanout`` neighbours per frontier node, a neighbour being node v with
    probability degree(v) / sum(degree) (the configuration-model view of a power-law graph),
    then keeps the distinct nodes not seen in earlier hops.
    """
    n = degree.numel()
    g = torch.Generator(device=device).manual_seed(args.seed + 2)
    cum = torch.cumsum(degree, 0)
    total = int(cum[-1])
    fanouts = [int(f) for f in args.fanouts.split(",")]
    seen = torch.zeros(n, dtype=torch.bool, device=device)
    sets = []
    for _ in range(args.batches):
        seeds = torch.randperm(n, device=device, generator=g)[: args.batch_size]
        seen.zero_()
        seen[seeds] = True
        parts, frontier = [seeds], seeds
        for fanout in fanouts:
            draws = torch.randint(0, total, (frontier.numel() * fanout,), device=device, generator=g)
            nbrs = torch.unique(torch.searchsorted(cum, draws, right=True))
            new = nbrs[~seen[nbrs]]
            seen[new] = True
            parts.append(new)
            frontier = new
        sets.append(torch.cat(parts))
    return sets


def bench_cache(args, buffer, device):
    width, dtype = 128, torch.float32
    row_bytes = 512
    n = buffer.numel() // row_bytes
    table = buffer[: n * row_bytes].view(dtype).view(n, width)
    degree = powerlaw_degrees(n, args, device)
    sets = sample_node_sets(degree, args, device)
    u = UnifiedTensor(table)
    cached_rows = int(n * args.cache_fraction)
    budget = cached_rows * row_bytes + 4 * n
    plain_ms = [cuda_ms(lambda i, s=s: u[s], 3) if device == "cuda" else float("nan") for s in sets]
    t0 = time.perf_counter()
    u.enable_cache(budget, ranking=degree)
    if device == "cuda":
        torch.cuda.synchronize()  # enable_cache only queues the gather of the cached rows
    fill_s = time.perf_counter() - t0
    timer = cuda_ms if device == "cuda" else median_wall_ms
    cached_ms = [timer(lambda i, s=s: u[s], 3, warmup=1) for s in sets]
    # As the loader gathers: no bounds check (whose read-back makes each call wait for the last),
    # one batch per call and two batches per call (denser misses).
    unchecked_ms = [timer(lambda i, s=s: u.gather(s, check=False), 3, warmup=1) for s in sets]
    pairs = [torch.cat([sets[i], sets[i + 1]]) for i in range(0, len(sets) - 1, 2)]
    paired_ms = [timer(lambda i, s=s: u.gather(s, check=False), 3, warmup=1) for s in pairs]
    u.reset_cache_stats()
    for s in sets:
        ok = torch.equal(u[s].view(torch.uint8), torch.index_select(table, 0, s.cpu()).to(device).view(torch.uint8))
        if not ok:
            break
    stats = u.cache_stats()
    busy = cpu_busy(lambda i: u[sets[i % len(sets)]], len(sets))
    probe_rows = []
    if args.locality_probe:
        hot = RowCache.hottest(degree, n, stats.cached_rows).to(device)
        probe_rows = mix_probe(table, RowCache(hot.cpu(), u[hot], n, torch.device(device)), sets, args)
    sizes = [int(s.numel()) for s in sets]
    delivered = sum(sizes) * row_bytes
    result = {
        "rows": n,
        "row_bytes": row_bytes,
        "cached_rows": stats.cached_rows,
        "budget_bytes": budget,
        "cache_fill_s": fill_s,
        "alpha": args.alpha,
        "min_degree": args.min_degree,
        "max_degree": args.max_degree,
        "mean_degree": float(degree.double().mean()),
        "degree_share_of_cached_rows": float(
            torch.sort(degree, descending=True).values[:cached_rows].double().sum() / degree.double().sum()
        ),
        "fanouts": args.fanouts,
        "batch_size": args.batch_size,
        "batches": args.batches,
        "mean_nodes_per_batch": statistics.mean(sizes),
        "hit_rate": stats.hit_rate,
        "hits": stats.hits,
        "misses": stats.misses,
        "zerocopy_GBps": delivered / sum(plain_ms) / 1e6,
        "cached_GBps": delivered / sum(cached_ms) / 1e6,
        "cached_ms_per_batch": statistics.mean(cached_ms),
        "cached_unchecked_GBps": delivered / sum(unchecked_ms) / 1e6,
        "cached_two_batches_per_call_GBps": (
            sum(int(s.numel()) for s in pairs) * row_bytes / sum(paired_ms) / 1e6 if pairs else None
        ),
        "zerocopy_ms_per_batch": statistics.mean(plain_ms),
        "cpu_busy": busy,
        "correct": bool(ok),
    }
    u.close()
    return result, probe_rows


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(min(args.threads, os.cpu_count() or 1))
    nbytes = int(args.gb * 1e9) // 4096 * 4096
    buffer = torch.empty(nbytes, dtype=torch.uint8)
    fill_random(buffer, args.seed)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    unified = UnifiedTensor(buffer)
    register_s = time.perf_counter() - t0
    placement = str(unified.placement)
    rss_growth = rss_bytes() - rss0
    rows, checks, extra = [], {}, {}
    if args.tune:
        try:
            best, tune_rows = tune_programs(buffer, args)
            kernels.PROGRAMS_PER_SM = best
            rows += tune_rows
        except Exception as err:  # a failed side experiment must not cost the main table
            logging.exception("tuning failed")
            extra["tune_error"] = repr(err)
    if args.alloc_probe:
        try:
            probe_rows, extra["alloc_probe"] = alloc_probe(buffer, args)
            rows += probe_rows
        except Exception as err:
            logging.exception("allocation probe failed")
            extra["alloc_probe_error"] = repr(err)
    gpu_buffer = buffer.to(device) if device == "cuda" else None
    if args.locality_probe:
        rows += locality_probe(buffer, gpu_buffer, args)
    for width, dtype in CONFIGS:
        config_rows, ok = bench_config(args, buffer, gpu_buffer, width, dtype, device)
        rows += config_rows
        checks[f"{width}x{dtype}"] = ok
    del gpu_buffer
    if device == "cuda":
        torch.cuda.empty_cache()
    cache, probe_rows = bench_cache(args, buffer, device)
    rows += probe_rows
    unified.close()
    print(format_table(rows, ["row_bytes", "dtype", "path", "ms", "GB/s", "vs_memcpy", "Mrows/s", "Mpages/s",
                              "kB_between_rows", "cpu_busy"]))
    print()
    print(format_table([cache], ["cached_rows", "mean_nodes_per_batch", "hit_rate", "zerocopy_GBps", "cached_GBps",
                                 "cached_unchecked_GBps", "cached_two_batches_per_call_GBps", "cpu_busy", "correct"]))
    print(f"\nprograms_per_sm={kernels.PROGRAMS_PER_SM} {extra}")
    print(f"registered {nbytes / 1e9:.2f} GB in place in {register_s:.2f} s, RSS grew {rss_growth / 2**20:.1f} MB; "
          f"placement={placement}; correct={checks}")
    figures = {
        "table_bytes": nbytes,
        "num_idx": args.num_idx,
        "threads": args.threads,
        "register_s": register_s,
        "register_rss_growth_bytes": rss_growth,
        "correct": checks,
        "cache": cache,
        "programs_per_sm": kernels.PROGRAMS_PER_SM,
        **extra,
    }
    name = "gather" if device == "cuda" and not args.small else "gather_smoke"
    path = write_result(name, figures, rows)
    print(f"wrote {path}")
    return 0 if all(checks.values()) and cache["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
