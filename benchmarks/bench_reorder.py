"""Locality-ordered tables: zero-copy gathers of sampler-drawn batches before and after renumbering.

For each dataset (synthetic-products and synthetic-papers100m at ``--scale``), one run:

* ``estimate``: how well each draw-frequency estimate of ``graphsys.datasets.reorder`` (degree,
  expected, sampled) predicts the rows a held-out epoch's [15, 10, 5] batches draw: the share of
  drawn rows that fall in the top ``--cache-fraction`` rows by the estimate (the hit rate a cache
  ranked by it would have), and the estimate's time;
* ``gather``: the same ``--batches`` sampler-drawn batches (training seeds, drawn once on the
  original graph, then renamed into each order, so every order gathers exactly the same rows),
  gathered one batch per call through ``zerocopy.UnifiedTensor`` from a pinned table of 256 B
  float32, 512 B float32 and 256 B float16 rows, plain and behind a 20 % cache ranked by
  out-degree, in the original order and after each ``--orders`` renumbering; GB/s as a share of
  a pinned memcpy of the same bytes, the cache's hit rate, and the host pages and distance
  between rows each batch touches (the locality the renumbering buys, measurable anywhere);
* ``--epoch``: ``graphsys train`` epoch time on the original and the renumbered dataset
  (pinned features behind a 20 % cache on a GPU), and their test accuracy.

Without a GPU the gather timings are the CPU fallback (``UnifiedTensor(pin=False)``, torch's CPU
gather against a CPU copy) and labelled so: only the page counts transfer to the GPU case.

    PYTHONPATH=. python benchmarks/bench_reorder.py --small           # any machine, under a minute
    PYTHONPATH=. python benchmarks/bench_reorder.py --datasets products --epoch   # products-sized, GPU
    PYTHONPATH=. python benchmarks/bench_reorder.py --datasets papers100m         # papers100M-sized, GPU
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_cache_hits import epoch_node_sets  # noqa: E402
from benchmarks.bench_gather import cuda_ms, median_wall_ms  # noqa: E402
from benchmarks.common import format_table, write_result  # noqa: E402
from graphsys.csr_build import permute_csr  # noqa: E402
from graphsys.datasets import load  # noqa: E402
from graphsys.datasets.reorder import Estimate, ReorderConfig, draw_frequency, reorder_permutation  # noqa: E402
from graphsys.graph import Graph  # noqa: E402
from zerocopy import UnifiedTensor, degree_ranking  # noqa: E402
from zerocopy.cache import RowCache  # noqa: E402

DATASETS = {"products": "synthetic-products", "papers100m": "synthetic-papers100m"}
#: (row width, dtype): 256 B and 512 B float32 rows, and 256 B float16 rows (the papers100M preset's).
ROWS = [(64, torch.float32), (128, torch.float32), (128, torch.float16)]
PAGE = 4096


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="products,papers100m", help="comma-separated: products, papers100m")
    p.add_argument("--scale", type=float, default=1.0, help="size multiplier of both presets (1: the OGB sizes)")
    p.add_argument("--root", default=None, help="cache folder of the generated datasets (default: in memory)")
    p.add_argument("--orders", default="hot-rcm,rcm,hot", help="renumberings compared with the original order")
    p.add_argument("--fanouts", default="15,10,5")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--batches", type=int, default=24, help="sampler-drawn batches gathered per configuration")
    p.add_argument("--cache-fraction", type=float, default=0.2)
    p.add_argument("--sample-batches", type=int, default=32, help="batches of the 'sampled' estimate")
    p.add_argument("--parts", default="estimate,gather", help="comma-separated: estimate, gather")
    p.add_argument("--epoch", action="store_true", help="also time graphsys train epochs before and after")
    p.add_argument("--epochs", type=int, default=2, help="--epoch: epochs per run (the last is reported)")
    p.add_argument("--small", action="store_true", help="tiny presets, few batches: a smoke run on the CPU")
    args = p.parse_args(argv)
    args.scales = {key: args.scale for key in DATASETS}
    if args.small:  # papers100M's preset is 45x products': a smaller share keeps both in seconds
        args.scales = {"products": 0.004, "papers100m": 0.0005}
        args.batches, args.batch_size, args.sample_batches, args.epochs = 6, 256, 8, 1
    return args


def page_stats(sets: list[torch.Tensor], row_bytes: int, cached: torch.Tensor) -> dict:
    """Host pages a batch's rows span (all of them, and those the cache misses: the rows a cached
    gather reads from the host) and the mean distance between its address-sorted rows."""
    pages, miss_pages, gaps = [], [], []
    for s in sets:
        rows = torch.sort(s.cpu().long()).values
        pages.append(int(torch.unique_consecutive(rows * row_bytes // PAGE).numel()))
        misses = rows[~cached[rows]]
        miss_pages.append(int(torch.unique_consecutive(misses * row_bytes // PAGE).numel()))
        gaps.append(float((rows[1:] - rows[:-1]).double().mean()) * row_bytes / 1e3 if rows.numel() > 1 else 0.0)
    return {"pages_per_batch": statistics.mean(pages), "miss_pages_per_batch": statistics.mean(miss_pages),
            "rows_per_page": statistics.mean(s.numel() for s in sets) / statistics.mean(pages),
            "kB_between_rows": statistics.mean(gaps)}


def estimate_rows(graph: Graph, train_idx: torch.Tensor, held_out: list[torch.Tensor], args) -> list[dict]:
    """The share of ``held_out``'s drawn rows in the top ``cache_fraction`` by each estimate."""
    n = graph.num_nodes
    drawn = torch.cat([s.cpu().long() for s in held_out])
    top = max(1, int(args.cache_fraction * n))
    rows = []
    for estimate in Estimate:
        config = ReorderConfig(estimate=estimate, fanouts=tuple(args.fanouts), batch_size=args.batch_size,
                               sample_batches=args.sample_batches, seed=7)
        start = time.perf_counter()
        frequency = draw_frequency(graph, train_idx, config)
        seconds = time.perf_counter() - start
        hot = np.zeros(n, dtype=bool)
        hot[np.argsort(-frequency, kind="stable")[:top]] = True
        rows.append({"estimate": estimate.value, "share_of_draws_in_top": float(hot[drawn.numpy()].mean()),
                     "estimate_s": seconds})
    counts = np.bincount(drawn.numpy(), minlength=n)  # the held-out epoch's own counts: the ceiling
    best = np.zeros(n, dtype=bool)
    best[np.argsort(-counts, kind="stable")[:top]] = True
    rows.append({"estimate": "oracle (held-out counts)", "share_of_draws_in_top": float(best[drawn.numpy()].mean()),
                 "estimate_s": 0.0})
    return rows


def gather_rows(buffer: torch.Tensor, n: int, sets_by_order: dict, rankings: dict, args, device: str) -> list[dict]:
    """Plain and cached one-batch-per-call gathers of every order's batches, for every row shape."""
    out = []
    for width, dtype in ROWS:
        row_bytes = width * torch.empty(0, dtype=dtype).element_size()
        table = buffer[: n * row_bytes].view(dtype).view(n, width)
        u = UnifiedTensor(table, pin=device == "cuda")  # the buffer is page-locked already: no second registration
        mean_rows = statistics.mean(int(s.numel()) for s in next(iter(sets_by_order.values())))
        nbytes = int(mean_rows * row_bytes)
        if device == "cuda":
            dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
            memcpy_ms = cuda_ms(lambda i: dst.copy_(buffer[:nbytes], non_blocking=True), args.batches)
            timer = cuda_ms
        else:
            dst = torch.empty(nbytes, dtype=torch.uint8)
            memcpy_ms = median_wall_ms(lambda i: dst.copy_(buffer[:nbytes]), args.batches)
            timer = median_wall_ms
        memcpy = nbytes / memcpy_ms / 1e6
        for order, sets in sets_by_order.items():
            sets = [s.to(device) for s in sets]
            delivered = sum(int(s.numel()) for s in sets) * row_bytes / len(sets)
            u.disable_cache()
            plain = delivered / timer(lambda i, sets=sets: u.gather(sets[i % len(sets)], check=False), len(sets)) / 1e6
            u.enable_cache(int(args.cache_fraction * n) * row_bytes + 4 * n, rankings[order].to(device), device)
            cached = delivered / timer(lambda i, sets=sets: u.gather(sets[i % len(sets)], check=False), len(sets)) / 1e6
            u.reset_cache_stats()
            for s in sets:
                u.gather(s, check=False)
            stats = u.cache_stats()
            cached_rows = torch.zeros(n, dtype=torch.bool)
            cached_rows[RowCache.hottest(rankings[order], n, stats.cached_rows)] = True
            out.append({"row_bytes": row_bytes, "dtype": str(dtype).replace("torch.", ""), "order": order,
                        "timing": "gpu" if device == "cuda" else "cpu-fallback", "memcpy_GBps": memcpy,
                        "zerocopy_GBps": plain, "zerocopy_vs_memcpy": plain / memcpy, "cached_GBps": cached,
                        "cached_vs_memcpy": cached / memcpy, "hit_rate": stats.hit_rate,
                        **page_stats(sets, row_bytes, cached_rows)})
            print(out[-1], flush=True)
        u.disable_cache()
        u.close()
    return out


def epoch_rows(ds, reordered: dict, scale: float, args, device: str) -> list[dict]:
    """``graphsys train`` on the original dataset and each renumbering: last epoch's time and accuracy."""
    from graphsys.train import TrainConfig, train

    rows = []
    for order, data in {"original": ds, **reordered}.items():
        gpu = device == "cuda"
        config = TrainConfig(dataset=ds.name, scale=scale, fanouts=tuple(args.fanouts),
                             batch_size=args.batch_size, epochs=args.epochs, eval_every=args.epochs,
                             features="pinned" if gpu else "cpu", graph="cuda" if gpu else "cpu",
                             cache=args.cache_fraction if gpu else 0.0, device="auto", quiet=True,
                             layers=len(args.fanouts), hidden=64 if args.small else 256)
        result = train(config, dataset=data)
        last = result.history[-1]
        rows.append({"order": order, "epoch_s": last.epoch_s, "sample_s": last.sample_s, "gather_s": last.gather_s,
                     "compute_s": last.compute_s, "test_acc": last.test_score, "device": device})
        print(rows[-1], flush=True)
    return rows


def run_dataset(key: str, args, device: str) -> tuple[dict, list[dict]]:
    from graphsys.datasets.reorder import reorder_dataset

    name = DATASETS[key]
    start = time.perf_counter()
    scale = args.scales[key]
    ds = load(name, root=args.root, scale=scale, seed=0, quiet=True)
    figures = {"dataset": name, "scale": scale, "num_nodes": ds.num_nodes, "num_edges": ds.graph.num_edges,
               "load_s": time.perf_counter() - start}
    graph, n = ds.graph, ds.num_nodes
    # drawn by the CPU sampler (the same draws the GPU sampler makes in distribution), once, on the original graph
    view = SimpleNamespace(graph=graph, train_idx=ds.train_idx)
    sets = epoch_node_sets(view, list(args.fanouts), args.batch_size, seed=1, limit=args.batches)
    figures["mean_rows_per_batch"] = statistics.mean(int(s.numel()) for s in sets)
    rows: list[dict] = []
    if "estimate" in args.parts:
        for r in estimate_rows(graph, ds.train_idx, sets, args):
            rows.append({"dataset": name, "part": "estimate", **r})
            print(rows[-1], flush=True)
    orders = [o for o in args.orders.split(",") if o]
    if "gather" in args.parts or args.epoch:
        sets_by_order = {"original": sets}
        rankings = {"original": degree_ranking(graph.indices, n)}
        permuted = {}
        for order in orders:
            start = time.perf_counter()
            perm = reorder_permutation(graph, ds.train_idx, ReorderConfig(order, fanouts=tuple(args.fanouts),
                                                                          batch_size=args.batch_size))
            figures[f"permutation_s_{order}"] = time.perf_counter() - start
            rank_of = torch.empty(n, dtype=torch.int64)
            rank_of[torch.from_numpy(perm)] = torch.arange(n)
            sets_by_order[order] = [rank_of[s.long()] for s in sets]
            start = time.perf_counter()
            _, new_indices, _ = permute_csr(graph.indptr.numpy(), graph.indices.numpy(), perm)
            figures[f"permute_csr_s_{order}"] = time.perf_counter() - start
            rankings[order] = degree_ranking(torch.from_numpy(new_indices), n)
            permuted[order] = perm
            del new_indices
    if "gather" in args.parts:
        buffer = torch.zeros(n * 512, dtype=torch.uint8)  # the bytes do not matter, only where they lie
        pinned = UnifiedTensor(buffer) if device == "cuda" else None
        for r in gather_rows(buffer, n, sets_by_order, rankings, args, device):
            rows.append({"dataset": name, "part": "gather", **r})
        if pinned is not None:
            pinned.close()
        del buffer
    if args.epoch:
        start = time.perf_counter()
        reordered = {order: reorder_dataset(ds, ReorderConfig(order, fanouts=tuple(args.fanouts),
                                                              batch_size=args.batch_size)) for order in orders[:1]}
        figures["reorder_dataset_s"] = time.perf_counter() - start
        for r in epoch_rows(ds, reordered, scale, args, device):
            rows.append({"dataset": name, "part": "epoch", **r})
    return figures, rows


def summary(rows: list[dict]) -> dict:
    """The headline figures: per dataset, row shape and order, zero-copy and cached shares of memcpy."""
    out: dict = {}
    for r in rows:
        if r["part"] == "gather":
            key = f"{r['dataset']}/{r['row_bytes']}B_{r['dtype']}/{r['order']}"
            out[key] = {"zerocopy_vs_memcpy": r["zerocopy_vs_memcpy"], "cached_vs_memcpy": r["cached_vs_memcpy"],
                        "hit_rate": r["hit_rate"], "pages_per_batch": r["pages_per_batch"],
                        "miss_pages_per_batch": r["miss_pages_per_batch"], "timing": r["timing"]}
        elif r["part"] == "epoch":
            out[f"{r['dataset']}/epoch_s/{r['order']}"] = r["epoch_s"]
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    args.fanouts = [int(f) for f in args.fanouts.split(",")]
    args.parts = [p for p in args.parts.split(",") if p]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    figures: dict = {"device": device, "fanouts": args.fanouts, "batch_size": args.batch_size,
                     "batches": args.batches, "cache_fraction": args.cache_fraction, "datasets": {}}
    rows: list[dict] = []
    for key in (k for k in args.datasets.split(",") if k):
        if key not in DATASETS:
            raise SystemExit(f"--datasets: unknown {key!r}; known: {', '.join(DATASETS)}")
        figures["datasets"][key], part_rows = run_dataset(key, args, device)
        rows += part_rows
    figures["summary"] = summary(rows)
    for part, columns in (("estimate", ["dataset", "estimate", "share_of_draws_in_top", "estimate_s"]),
                          ("gather", ["dataset", "row_bytes", "dtype", "order", "timing", "memcpy_GBps",
                                      "zerocopy_GBps", "zerocopy_vs_memcpy", "cached_GBps", "cached_vs_memcpy",
                                      "hit_rate", "pages_per_batch", "miss_pages_per_batch", "rows_per_page",
                                      "kB_between_rows"]),
                          ("epoch", ["dataset", "order", "epoch_s", "sample_s", "gather_s", "compute_s", "test_acc"])):
        part_rows = [r for r in rows if r["part"] == part]
        if part_rows:
            print(f"\n{part}\n" + format_table(part_rows, columns))
    name = "reorder" if device == "cuda" and not args.small else "reorder_smoke"
    print(f"wrote {write_result(name, figures, rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
