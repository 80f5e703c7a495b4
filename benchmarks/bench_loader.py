"""Loader benchmark: batches per second of the whole loader (sample + features + labels), by placement.

On the synthetic ogbn-products preset (2.45 M nodes, 124 M directed edges, 100 float32 features,
47 classes at ``--scale 1``), fanouts [15, 10, 5], batch 1024, seeds from the training split,
each configuration runs ``--batches`` batches of :class:`graphsys.loader.NodeLoader` (after
``--warmup`` untimed ones) and reports batches/s and the per-stage times it measured:

* ``gpu_resident``: CSR, features and labels in GPU memory (the reference);
* ``pinned_features``: CSR in GPU memory, features and labels as UnifiedTensors in pinned host
  memory, gathered zero-copy (the issue's claim: within 10% of ``gpu_resident``);
* ``all_pinned``: the CSR too in pinned memory (UVA sampling), nothing on the GPU but the batch;
* ``pinned_features_cache``: ``pinned_features`` with ``--cache-fraction`` of the feature rows
  cached on the GPU, ranked by degree;
* ``pyg_loader_cpu``: PyG's own ``NeighborLoader`` over :class:`graphsys.pyg.CSRGraphStore` and
  :class:`graphsys.pyg.UnifiedFeatureStore` with the CPU sampler, each batch then moved to the
  GPU (what a PyG script does; at most ``--pyg-batches`` batches).

With ``--train`` each batch also takes one training step as ``graphsys train`` runs it in float32
(``bench_step.Step``: GraphSAGE, 3 layers, hidden 256, ``DestinationTrim``, fused Adam on a GPU), so the
figure shows how much of the loader hides behind compute (``train_only`` repeats one batch).
Loader alone, pinned features cannot match GPU memory (a batch's ~150 MB of rows cross PCIe at
<= 55 GB/s); the 10% claim is about training throughput, where the zero-copy gather of batch
``i + 1`` runs on a side stream under the compute of batch ``i``: ``within_10_percent`` compares
``train_batches_per_s`` when ``--train`` is given (the loader-only ratio otherwise).
Without a GPU the same script times the CPU loader (``cpu``, ``cpu_unified``, ``pyg_loader_cpu``).
``vs_reference`` divides by the first row (``gpu_resident``, or ``cpu`` without a GPU).

    PYTHONPATH=. python benchmarks/bench_loader.py                      # the H200 run
    PYTHONPATH=. python benchmarks/bench_loader.py --scale 0.01 --batches 20   # any machine

``--part pyg`` is the drop-in comparison instead (issue 19), batches/s with every batch moved to
the GPU as a PyG script does (``batch.to(device)``), side by side: ``graphsys.pyg.NeighborLoader``
over the host ``Data`` with the default placement (GPU: CSR in GPU memory, features zero-copy
from the ``Data``'s own tensors pinned in place), with ``placement="pinned"`` (the CSR too in
pinned memory) and with ``placement="cpu"`` (PyG's host path),
the same loader over graphsys's stores, over ``data.to("cuda")``, and graphsys's own
``NodeLoader`` (CSR in GPU memory, pinned features); for the PyG-loader rows also the host time
per batch in the sampler and in PyG's collate + ``filter_fn`` (the gap to ``NodeLoader``). On the
CPU: ``placement="cpu"`` with ``num_workers`` 0 and ``--workers`` (forked), and ``NodeLoader``.

    PYTHONPATH=. python benchmarks/bench_loader.py --part pyg --quiet          # the device run
    PYTHONPATH=. python benchmarks/bench_loader.py --part pyg --small          # smoke run, any machine
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_step import Step  # noqa: E402
from benchmarks.common import add_products_batch_args, format_table, write_result  # noqa: E402
from graphsys.datasets import load  # noqa: E402
from graphsys.loader import NodeLoader  # noqa: E402
from graphsys.pyg import CSRGraphStore, GraphsysSampler, UnifiedFeatureStore  # noqa: E402
from sampling import NeighborSampler  # noqa: E402
from zerocopy import UnifiedTensor, kernels  # noqa: E402

log = logging.getLogger("bench_loader")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_products_batch_args(p)
    p.add_argument("--batches", type=int, default=150, help="timed batches per configuration")
    p.add_argument("--warmup", type=int, default=10, help="untimed batches first (kernel compiles, caches)")
    p.add_argument("--settle", type=int, default=300,
                   help="untimed batches (with the step under --train) before the first configuration is timed")
    p.add_argument("--pyg-batches", type=int, default=30, help="timed batches of the PyG-loader path")
    p.add_argument("--prefetch", type=int, default=1)
    p.add_argument("--gather-group", type=int, default=None,
                   help="batches whose rows one gather reads (default: NodeLoader's, 4 for pinned features, else 1)")
    p.add_argument("--cache-fraction", type=float, default=0.2, help="feature rows cached, ranked by degree")
    p.add_argument("--train", action="store_true", help="also time loader + one GraphSAGE step per batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars while generating the dataset")
    p.add_argument("--overlap", default="",
                   help="comma-separated group sizes: for each, the share of a group's feature rows that repeat "
                        "across its batches (all rows, and the rows the --cache-fraction cache misses); any machine")
    p.add_argument("--probe", action="store_true",
                   help="GPU only: time the feature gather of sampled node sets alone, from the dataset's table "
                        "(memory-mapped) and from an anonymous copy, with and without a sampler running beside it")
    p.add_argument("--profile", action="store_true",
                   help="per-kernel GPU times of --profile-batches batches of each configuration (torch.profiler; "
                        "with --train, with the step, and each CUDA stream's busy time), printed and appended to "
                        "$OUT/profile_loader.txt")
    p.add_argument("--profile-batches", type=int, default=20, help="batches under torch.profiler (--profile)")
    p.add_argument("--part", choices=["loader", "pyg"], default="loader",
                   help="pyg: graphsys.pyg's drop-in loaders against PyG's host path and NodeLoader (issue 19)")
    p.add_argument("--workers", type=int, default=2, help="--part pyg on the CPU: forked DataLoader workers")
    p.add_argument("--small", action="store_true",
                   help="--part pyg: scale 0.002 and a few batches: a smoke run in seconds on any machine")
    p.add_argument("--configs", default=None,
                   help="comma-separated configurations to run, in this order (a name may repeat; default: all): "
                        "NAME[@W][+gG][+bf16]: @W the zero-copy gather on W programs per SM, +gG G batches per "
                        "gather, +bf16 the feature table stored in bfloat16 (the float32 step casts each batch's rows)")
    return p.parse_args(argv)


@dataclass(frozen=True)
class Config:
    """One configuration of ``--configs``: NAME[@W][+gG][+bf16] (``gather_group`` None: NodeLoader's default)."""

    label: str
    base: str
    programs_per_sm: float | None
    gather_group: int | None
    bf16: bool


def parse_config(label: str, args: argparse.Namespace) -> Config:
    """``label`` as a :class:`Config`; a group size it leaves out comes from ``--gather-group``.

    Raises:
        ValueError: an option or width that is not one of the forms above, naming it.
    """
    head, *options = label.split("+")
    base, at, width = head.partition("@")
    per_sm = None
    if at:
        try:
            per_sm = float(width)
        except ValueError:
            per_sm = -1.0
        if not 0 <= per_sm < float("inf"):
            raise ValueError(f"config {label!r}: @{width} must be a number of programs per SM >= 0")
    group, bf16 = args.gather_group, False
    for option in options:
        if option == "bf16":
            bf16 = True
        elif option[:1] == "g" and option[1:].isdigit() and int(option[1:]) >= 1:
            group = int(option[1:])
        else:
            raise ValueError(f"config {label!r}: unknown option +{option}; expected +gG (G >= 1 batches per "
                             f"gather) or +bf16")
    return Config(label, base, per_sm, group, bf16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cycle(loader):
    """Batches of ``loader`` over as many epochs as needed."""
    while True:
        yield from loader


def time_batches(iterator, count: int, warmup: int, step: Callable, device: torch.device) -> tuple[float, float]:
    """(seconds, seconds the host waited for batches) for ``count`` batches of ``iterator``, each
    given to ``step`` (after ``warmup`` untimed ones). The wait is the time the training thread
    spent inside ``next``: time it could not launch model kernels."""
    for _ in range(warmup):
        step(next(iterator))
    sync(device)
    waited = 0.0
    start = time.perf_counter()
    for _ in range(count):
        before = time.perf_counter()
        batch = next(iterator)
        waited += time.perf_counter() - before
        step(batch)
    sync(device)
    return time.perf_counter() - start, waited


def touch(batch) -> None:
    """Consume a batch without compute (the loader-only figure)."""


GPU_CONFIGS = ("gpu_resident", "pinned_features", "all_pinned", "pinned_features_cache")
CPU_CONFIGS = ("cpu", "cpu_unified")


def loader_configs(ds, args, device: torch.device, fanouts: list[int],
                   configs: list[Config]) -> Iterator[tuple[Config, NodeLoader]]:
    """(config, loader) of each of ``configs`` this machine can run (GPU ones need a GPU), in that
    order, built one at a time (GPU copies are freed in between)."""
    graph, y = ds.graph, ds.y
    bf16_x = None

    def node_loader(config: Config, placement: str, features, labels) -> NodeLoader:
        g = graph.to(placement)
        sampler = NeighborSampler(g.indptr, g.indices, fanouts, seed=args.seed, validate=False)
        return NodeLoader(sampler, features, labels, ds.train_idx, args.batch_size, prefetch=args.prefetch,
                          gather_group=config.gather_group, seed=args.seed)

    def cached(config: Config, x: torch.Tensor) -> NodeLoader:
        features = UnifiedTensor(x)
        budget = int(args.cache_fraction * x.shape[0]) * x[0].numel() * x.element_size() + 4 * x.shape[0]
        features.enable_cache(budget, ranking=graph.out_degrees(device))
        return node_loader(config, "cuda", features, UnifiedTensor(y))

    builders = {
        "gpu_resident": lambda c, x: node_loader(c, "cuda", x.to(device), y.to(device)),
        "pinned_features": lambda c, x: node_loader(c, "cuda", UnifiedTensor(x), UnifiedTensor(y)),
        "all_pinned": lambda c, x: node_loader(c, "pinned", UnifiedTensor(x), UnifiedTensor(y)),
        "pinned_features_cache": cached,
        "cpu": lambda c, x: node_loader(c, "cpu", x, y),
        "cpu_unified": lambda c, x: node_loader(c, "cpu", UnifiedTensor(x, pin=False), UnifiedTensor(y, pin=False)),
    }
    runnable = GPU_CONFIGS if device.type == "cuda" else CPU_CONFIGS
    for config in configs:
        if config.base not in runnable:
            log.info("%s: skipped (runs on %s)", config.label, "a GPU" if config.base in GPU_CONFIGS else "the CPU")
            continue
        if config.bf16 and bf16_x is None:
            bf16_x = ds.x.to(torch.bfloat16)
        yield config, builders[config.base](config, bf16_x if config.bf16 else ds.x)


def pyg_batches(ds, args, device: torch.device, fanouts: list[int]):
    """PyG's own NeighborLoader over our stores with the CPU sampler, each batch moved to ``device``."""
    from torch_geometric.loader import NeighborLoader as PygNeighborLoader

    feature_store = UnifiedFeatureStore()
    feature_store.put_tensor(ds.x, group_name=None, attr_name="x", index=None)
    feature_store.put_tensor(ds.y, group_name=None, attr_name="y", index=None)
    stores = (feature_store, CSRGraphStore(ds.graph))
    sampler = GraphsysSampler.from_data(stores, fanouts, placement="cpu", seed=args.seed)
    loader = PygNeighborLoader(stores, fanouts, input_nodes=ds.train_idx, batch_size=args.batch_size,
                               shuffle=True, neighbor_sampler=sampler)
    return (batch.to(device, non_blocking=True) for batch in cycle(loader))


def busy_us(spans: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals."""
    total, reach = 0.0, -float("inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def stream_rows(trace: dict, batches: int) -> list[dict]:
    """Each CUDA stream's kernels in a chrome trace of ``batches`` batches: count, busy ms per batch
    (the union of its kernels' spans) and its longest-running kernel; then the GPU as a whole
    (``stream`` "any": the union over streams, and ``wall_ms`` from the first kernel to the last)."""
    spans = defaultdict(list)
    for event in trace.get("traceEvents", []):
        if event.get("cat") == "kernel" and "dur" in event:
            spans[event.get("args", {}).get("stream")].append((event["ts"], event["ts"] + event["dur"], event["name"]))
    rows = []
    for stream, found in sorted(spans.items(), key=lambda item: -len(item[1])):
        by_name = defaultdict(float)
        for start, end, name in found:
            by_name[name] += end - start
        top = max(by_name, key=by_name.get)
        rows.append({"stream": stream, "kernels": len(found),
                     "busy_ms_per_batch": busy_us([(a, b) for a, b, _ in found]) / 1e3 / batches,
                     "top_kernel": top[:48], "top_kernel_share": by_name[top] / sum(by_name.values())})
    every = [(a, b) for found in spans.values() for a, b, _ in found]
    if every:
        rows.append({"stream": "any", "kernels": len(every), "busy_ms_per_batch": busy_us(every) / 1e3 / batches,
                     "wall_ms_per_batch": (max(b for _, b in every) - min(a for a, _ in every)) / 1e3 / batches})
    return rows


def profile_batches(name: str, iterator, step: Callable, batches: int) -> list[dict]:
    """Per-kernel GPU times of ``batches`` batches given to ``step`` (torch.profiler), and each CUDA
    stream's busy time (:func:`stream_rows`): whether the model's stream waits for data or its kernels
    run longer beside the loader's."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(batches):
            step(next(iterator))
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as fh:
            streams = stream_rows(json.load(fh), batches)
    table = (f"{name}\n{prof.key_averages().table(sort_by='cuda_time_total', row_limit=20)}\n"
             f"{format_table(streams)}\n")
    print(table)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "profile_loader.txt"), "a") as fh:
            fh.write(table)
    return [{"config": name, **row} for row in streams]


def huge_pages_mib() -> float:
    """AnonHugePages of this machine, in MiB (0 where /proc/meminfo has no such line)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) / 1024
    return 0.0


def probe_gather(ds, args, device: torch.device, fanouts: list[int]) -> list[dict]:
    """The loader's feature gather in isolation: GB/s of ``UnifiedTensor.gather`` over sampled node sets.

    Tables: the dataset's own (a copy-on-write memory map of x.npy when loaded from ``--root``) and
    an anonymous copy of it; each timed alone and with the sampler running on another stream.
    """
    sampler = NeighborSampler(ds.graph.indptr.to(device), ds.graph.indices.to(device), fanouts, seed=args.seed,
                              validate=False)
    seeds = ds.train_idx.to(device)
    g = torch.Generator(device=device).manual_seed(args.seed)
    sets = [sampler.sample(seeds[torch.randint(0, seeds.numel(), (args.batch_size,), device=device, generator=g)]).node
            for _ in range(20)]
    row_bytes = ds.x[0].numel() * ds.x.element_size()
    rows = []
    before = huge_pages_mib()
    copy = ds.x.clone()
    tables = [("dataset table", ds.x), ("anonymous copy", copy)]
    side = torch.cuda.Stream(device)
    for name, host in tables:
        table = UnifiedTensor(host)
        for beside in (False, True):
            times = []
            for nodes in sets * 2:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                table.gather(nodes, check=False)
                if beside:  # launched after the gather, so that both run at once
                    side.wait_stream(torch.cuda.current_stream(device))
                    with torch.cuda.stream(side):
                        sampler.sample(seeds[: args.batch_size])
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            ms = statistics.mean(times[len(sets):])
            mean_rows = statistics.mean(n.numel() for n in sets)
            rows.append({"table": name, "sampler_beside": beside, "rows": mean_rows, "ms": ms,
                         "GBps": mean_rows * row_bytes / ms / 1e6})
        table.close()
    log.info("AnonHugePages: %.0f MiB before the copy, %.0f MiB after", before, huge_pages_mib())
    log.info("table: %s, dtype %s, row %d B; node ids %s", type(ds.x).__name__, ds.x.dtype, row_bytes, sets[0].dtype)
    return rows


def group_overlap(ds, args, fanouts: list[int], sizes: list[int], groups: int = 5) -> list[dict]:
    """How many of a gather group's feature rows repeat across its batches: rows the grouped gather reads
    back to back (its ids are sorted), the repeats mostly from the GPU's L2 rather than over PCIe. Batches
    as the loader makes them (shuffled training seeds, consecutive batches grouped), sampled on the CPU;
    up to ``groups`` groups per size, averaged."""
    sampler = NeighborSampler(ds.graph.indptr, ds.graph.indices, fanouts, seed=args.seed, validate=False)
    order = ds.train_idx[torch.randperm(ds.train_idx.numel(), generator=torch.Generator().manual_seed(args.seed))]
    degrees = ds.graph.out_degrees("cpu")
    cached = torch.zeros(ds.graph.num_nodes, dtype=torch.bool)
    cached[torch.topk(degrees, int(args.cache_fraction * ds.graph.num_nodes)).indices] = True
    rows = []
    for size in sizes:
        shares, miss_shares = [], []
        fit = min(groups, order.numel() // (size * args.batch_size))
        if fit < 1:
            raise ValueError(f"--overlap {size}: a group of {size} batches of {args.batch_size} needs "
                             f"{size * args.batch_size} training seeds, the dataset has {order.numel()}")
        for g in range(fit):
            starts = [(g * size + i) * args.batch_size for i in range(size)]
            nodes = torch.cat([sampler.sample(order[s : s + args.batch_size]).node for s in starts])
            misses = nodes[~cached[nodes]]
            shares.append(1 - torch.unique(nodes).numel() / nodes.numel())
            miss_shares.append(1 - torch.unique(misses).numel() / max(misses.numel(), 1))
        rows.append({"gather_group": size, "rows_per_group": nodes.numel(), "repeated_share": statistics.mean(shares),
                     "repeated_share_of_cache_misses": statistics.mean(miss_shares)})
    return rows


def versus_gpu_resident(rows: list[dict], trained: bool) -> dict:
    """Each configuration's mean rate over its rounds against ``gpu_resident``'s (``gpu_resident+bf16``'s
    for a bf16 table): with the step under ``--train``, else the loader alone; and whether
    ``pinned_features`` is within 10% (the issue's claim). Empty without ``gpu_resident`` rows."""
    key = "train_batches_per_s" if trained else "batches_per_s"
    rates = defaultdict(list)
    for row in rows:
        if key in row:
            rates[row["config"]].append(row[key])
    mean = {label: statistics.mean(found) for label, found in rates.items()}
    ratios = {}
    for label, rate in mean.items():
        reference = "gpu_resident+bf16" if "+bf16" in label else "gpu_resident"
        if reference in mean and not label.startswith("gpu_resident"):
            ratios[label] = rate / mean[reference]
    if not ratios:
        return {}
    found = {"vs_gpu_resident_by": "training step" if trained else "loader alone", "vs_gpu_resident": ratios}
    if "pinned_features" in ratios:
        found["within_10_percent"] = ratios["pinned_features"] >= 0.9
    return found


class _HostClock:
    """Host seconds a loader spends in its sampler and in collate + ``filter_fn`` (main process only):
    the two calls wrapped on the instance. ``collate`` includes the sampler; ``filter`` is PyG's
    join of features with the sampled ids (graphsys's gathers included)."""

    def __init__(self, loader) -> None:
        self.sample_s = self.collate_s = self.filter_s = 0.0
        sampler, collate, filter_fn = loader.node_sampler.sample_from_nodes, loader.collate_fn, loader.filter_fn

        def timed(fn, field):
            def call(*a, **k):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    setattr(self, field, getattr(self, field) + time.perf_counter() - t0)
            return call

        loader.node_sampler.sample_from_nodes = timed(sampler, "sample_s")
        loader.filter_fn = timed(filter_fn, "filter_s")
        loader.collate_fn = timed(collate, "collate_s")  # DataLoader reads it when iterating

    def reset(self) -> None:
        self.sample_s = self.collate_s = self.filter_s = 0.0


def pyg_loaders(ds, args, device: torch.device, fanouts: list[int]):
    """(label, build, timed batches) of every ``--part pyg`` configuration this machine runs."""
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader as PygNeighborLoader

    from graphsys.pyg import NeighborLoader as DropIn

    data = Data(x=ds.x, y=ds.y, edge_index=ds.graph.to_edge_index(), num_nodes=ds.graph.num_nodes)
    seeds, batch = ds.train_idx, args.batch_size

    def drop_in(source=data, **options):
        return DropIn(source, fanouts, input_nodes=seeds, batch_size=batch, shuffle=True, **options)

    def over_graphsys_sampler(workers: int):
        sampler = GraphsysSampler.from_data(data, fanouts, placement="cpu", seed=args.seed)
        extra = {"num_workers": workers, "persistent_workers": True} if workers else {}
        return PygNeighborLoader(data, fanouts, input_nodes=seeds, batch_size=batch, shuffle=True,
                                 neighbor_sampler=sampler, **extra)

    def stores():
        graph = ds.graph.to("cuda")
        pair = (UnifiedFeatureStore.from_data(data), CSRGraphStore(graph))
        return DropIn(pair, fanouts, input_nodes=seeds, batch_size=batch, shuffle=True)

    def node_loader(placement: str, features, labels):
        g = ds.graph.to(placement)
        sampler = NeighborSampler(g.indptr, g.indices, fanouts, seed=args.seed, validate=False)
        return NodeLoader(sampler, features, labels, seeds, batch, prefetch=args.prefetch, seed=args.seed)

    slow, fast = min(args.batches, args.pyg_batches), args.batches
    if device.type == "cuda":
        return [
            ("pyg_default (host Data)", drop_in, fast),
            ("pyg_placement_pinned (CSR pinned, UVA)", lambda: drop_in(placement="pinned"), fast),
            ("pyg_placement_cpu", lambda: drop_in(placement="cpu"), slow),
            ("pyg_over_graphsys_stores", stores, fast),
            ("pyg_data_to_cuda", lambda: drop_in(data.to(device)), fast),
            ("graphsys_NodeLoader", lambda: node_loader("cuda", UnifiedTensor(ds.x), UnifiedTensor(ds.y)), fast),
        ]
    return [
        ("pyg NeighborLoader over GraphsysSampler, num_workers=0", lambda: over_graphsys_sampler(0), slow),
        (f"pyg NeighborLoader over GraphsysSampler, num_workers={args.workers}",
         lambda: over_graphsys_sampler(args.workers), slow),
        ("pyg_default (host Data; no CUDA: placement cpu)", drop_in, slow),
        ("graphsys_NodeLoader cpu", lambda: node_loader("cpu", ds.x, ds.y), slow),
    ]


def bench_pyg(ds, args, device: torch.device, fanouts: list[int]) -> list[dict]:
    """Rows of ``--part pyg``: batches/s of each loader of :func:`pyg_loaders`, each batch moved to
    ``device`` as a PyG script does, and the PyG loaders' host time per batch."""
    rows = []
    for label, build, count in pyg_loaders(ds, args, device, fanouts):
        t0 = time.perf_counter()
        loader = build()
        built = time.perf_counter() - t0
        workers = getattr(loader, "num_workers", 0)
        clock = _HostClock(loader) if hasattr(loader, "node_sampler") and not workers else None
        iterator = (b.to(device, non_blocking=True) for b in cycle(loader))
        for _ in range(args.warmup):
            next(iterator)
        if clock is not None:
            clock.reset()
        load = os.getloadavg()[0]
        seconds, _ = time_batches(iterator, count, 0, touch, device)
        row = {"config": label, "batches": count, "batches_per_s": count / seconds,
               "ms_per_batch": 1e3 * seconds / count, "build_s": built, "load_avg_1m": load,
               "placement": getattr(loader, "placement", None)}
        if clock is not None:
            row.update(sampler_host_ms=1e3 * clock.sample_s / count, filter_host_ms=1e3 * clock.filter_s / count,
                       collate_host_ms=1e3 * clock.collate_s / count)
        rows.append(row)
        log.info("%s: %.1f batches/s", label, row["batches_per_s"])
        del iterator, loader
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def main_pyg(ds, args, device: torch.device, fanouts: list[int]) -> int:
    """``--part pyg``: the table, and ``bench_loader_pyg.json`` (``_cpu`` without a GPU, ``_small`` for --small)."""
    rows = bench_pyg(ds, args, device, fanouts)
    reference = rows[0]["batches_per_s"]
    for r in rows:
        r["vs_first"] = r["batches_per_s"] / reference
    figures = {"dataset": "synthetic-products", "scale": args.scale, "num_nodes": ds.graph.num_nodes,
               "num_edges": ds.graph.num_edges, "train_seeds": ds.train_idx.numel(), "fanouts": fanouts,
               "batch_size": args.batch_size, "device": str(device), "torch_threads": torch.get_num_threads(),
               "workers": args.workers, "cpu_count": os.cpu_count(), "load_avg_after": os.getloadavg()}
    figures.update({r["config"]: r["batches_per_s"] for r in rows})
    print(format_table(rows, ["config", "placement", "batches", "batches_per_s", "vs_first", "ms_per_batch",
                              "sampler_host_ms", "collate_host_ms", "filter_host_ms", "build_s", "load_avg_1m"]))
    name = "bench_loader_pyg" + ("" if device.type == "cuda" else "_cpu") + ("_small" if args.small else "")
    print(f"result: {write_result(name, figures, rows)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fanouts = [int(f) for f in args.fanouts.split(",")]
    if args.small:
        args.scale, args.batches, args.pyg_batches, args.warmup = min(args.scale, 0.002), 10, 10, 2
    t0 = time.perf_counter()
    ds = load("synthetic-products", root=args.root, scale=args.scale, seed=args.seed, quiet=args.quiet)
    log.info("synthetic-products scale %g: %d nodes, %d edges, %d train seeds (%.1f s)", args.scale,
             ds.graph.num_nodes, ds.graph.num_edges, ds.train_idx.numel(), time.perf_counter() - t0)
    if args.part == "pyg":
        return main_pyg(ds, args, device, fanouts)
    if args.overlap:
        overlap = group_overlap(ds, args, fanouts, [int(k) for k in args.overlap.split(",")])
        print(format_table(overlap))
        write_result("bench_loader_overlap", {"dataset": "synthetic-products", "scale": args.scale,
                                              "cache_fraction": args.cache_fraction}, overlap)
        return 0
    if args.probe and device.type == "cuda":
        probe = probe_gather(ds, args, device, fanouts)
        print(format_table(probe, ["table", "sampler_beside", "rows", "ms", "GBps"]))
        write_result("bench_loader_probe", {"dataset": "synthetic-products", "scale": args.scale}, probe)
    default_configs = GPU_CONFIGS if device.type == "cuda" else CPU_CONFIGS
    labels = args.configs.split(",") if args.configs else list(default_configs) + ["pyg_loader_cpu"]
    try:
        configs = [parse_config(label, args) for label in labels if label != "pyg_loader_cpu"]
    except ValueError as err:
        raise SystemExit(f"bench_loader: {err}") from None
    step = Step("fp32", ds.x.shape[1], ds.num_classes, fanouts, device) if args.train else None
    rows, profiles, sample_batch = [], [], None
    settled = False
    default_width = kernels.OVERLAP_PROGRAMS_PER_SM
    for config, loader in loader_configs(ds, args, device, fanouts, configs):
        # "@W": the loader's zero-copy gather kernel on W programs per SM for this configuration
        # (what ZEROCOPY_OVERLAP_PROGRAMS_PER_SM sets for a whole process; the loader reads it per gather).
        per_sm = config.programs_per_sm
        kernels.OVERLAP_PROGRAMS_PER_SM = default_width if per_sm is None else per_sm
        iterator = cycle(loader)
        if not settled:
            # The process's first few hundred batches run slower whatever the configuration (on the H200
            # the first one measured 40 trained batches/s, and 75 when it ran again after three others).
            time_batches(iterator, args.settle, 0, step or touch, device)
            settled = True
        for _ in range(args.warmup):
            sample_batch = next(iterator)
        loader.reset_timings()
        seconds, _ = time_batches(iterator, args.batches, 0, touch, device)
        stages = loader.timings()
        row = {"config": config.label, "batches": args.batches, "batches_per_s": args.batches / seconds,
               "ms_per_batch": 1e3 * seconds / args.batches, "sample_ms": stages.sample_ms_per_batch,
               "gather_ms": stages.gather_ms_per_batch}
        if step is not None:
            seconds, waited = time_batches(iterator, args.batches, args.warmup, step, device)
            row["train_batches_per_s"] = args.batches / seconds
            row["train_wait_ms"] = 1e3 * waited / args.batches
        if args.profile and device.type == "cuda":
            profiles += profile_batches(config.label, iterator, step or touch, args.profile_batches)
        rows.append(row)
        log.info("%s: %.1f batches/s", config.label, row["batches_per_s"])
        del loader, iterator
    if "pyg_loader_cpu" in labels:
        count = min(args.batches, args.pyg_batches)
        seconds, _ = time_batches(pyg_batches(ds, args, device, fanouts), count, 2, touch, device)
        rows.append({"config": "pyg_loader_cpu", "batches": count, "batches_per_s": count / seconds,
                     "ms_per_batch": 1e3 * seconds / count})
    if step is not None:
        same = iter(lambda: sample_batch, None)
        seconds, _ = time_batches(same, args.batches, 2, step, device)
        rows.append({"config": "train_only", "batches": args.batches, "train_batches_per_s": args.batches / seconds})
    reference = rows[0]["batches_per_s"]
    for r in rows:
        if "batches_per_s" in r:
            r["vs_reference"] = r["batches_per_s"] / reference
    figures = {
        "dataset": "synthetic-products", "scale": args.scale, "num_nodes": ds.graph.num_nodes,
        "num_edges": ds.graph.num_edges, "train_seeds": ds.train_idx.numel(), "fanouts": fanouts,
        "batch_size": args.batch_size, "prefetch": args.prefetch, "device": str(device),
        "reference": rows[0]["config"],
    }
    figures.update(versus_gpu_resident(rows, step is not None))
    if profiles:
        figures["profile_streams"] = profiles
    columns = ["config", "batches", "batches_per_s", "vs_reference", "ms_per_batch", "sample_ms", "gather_ms"]
    columns += ["train_batches_per_s", "train_wait_ms"] if args.train else []
    print(format_table(rows, columns))
    for label, ratio in figures.get("vs_gpu_resident", {}).items():
        print(f"{label}: {ratio:.3f}x gpu_resident ({figures['vs_gpu_resident_by']}, mean of its rounds)")
    # A run without a GPU (a smoke run) must not replace the GPU machine's results.
    name = "bench_loader" if device.type == "cuda" else "bench_loader_cpu"
    print(f"result: {write_result(name, figures, rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
