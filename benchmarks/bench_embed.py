"""GraphVite-style node embedding: producer and trainer throughput, and quality.

Speed (default): a power-law graph of Youtube's size (1.1 M nodes, 2.5 M undirected edges
stored both ways = 5 M; 10 K planted communities, 70 % of edge endpoints inside their own,
so that held-out edges are predictable at all: a graph random given its degrees is not),
DeepWalk at GraphVite's Youtube setting (4000 x |E| positive samples, dim 128, learning rate
0.025, weight decay 0.005, augmentation step 5, one negative weighted 5): the producers alone,
the trainer alone, then both together (the real run), and the link-prediction AUC of that run
on 1 % held-out edges. On a GPU the trainer's parts are timed too (pool copy, negative draws,
the SGD kernel) and the kernel under several launch shapes (``--kernel-sweep``).
Quality (``--quality``): BlogCatalog with P = 1 and P = 4 partitions on one device, Micro-
and Macro-F1 at 50 % labelled (top-k), for each of ``--seeds``, to show that partitioning
costs no quality.

Several runs side by side (``--runs``): ``defaults`` (only dim, epochs and partitions given,
as ``graphsys embed`` does; pool size and augmentation step chosen for the graph and device),
``tuned`` (the flags above), ``bf16`` (defaults with bfloat16 rows), ``tuned-bf16``, or any
base with ``:field=value`` overrides, e.g. ``defaults:augmentation_step=3:pool_size=1e7``
(the defaults before they scaled with the graph). ``seconds_over_best`` compares them.

    python benchmarks/bench_embed.py --device cuda                           # the H200 run
    python benchmarks/bench_embed.py --device cuda --runs defaults,tuned,bf16,tuned-bf16
    python benchmarks/bench_embed.py --device cpu --small --runs defaults,bf16   # CPU smoke run
    python benchmarks/bench_embed.py --quality --device cuda --seeds 0,1,2 --row-dtypes float32,bf16
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from unittest import mock

import torch

from benchmarks.common import format_table, write_result
from embedding import (
    EmbeddingConfig,
    EmbeddingTrainer,
    link_prediction_auc,
    node_classification,
    sample_non_edges,
    split_edges,
)

BLOGCATALOG = Path(__file__).resolve().parents[2] / "shared" / "data" / "blogcatalog"


#: Fields of EmbeddingConfig a ``--runs`` override may set, with the type of their value.
_OVERRIDES = {"dim": int, "num_negative": int, "walk_length": int, "augmentation_step": int, "num_partitions": int,
              "pool_size": int, "seed": int, "epochs": float, "lr": float, "weight_decay": float,
              "negative_weight": float, "min_lr_fraction": float, "row_dtype": str}
#: Short names for runs.
_ALIASES = {"bf16": "defaults:row_dtype=bfloat16", "tuned-bf16": "tuned:row_dtype=bfloat16"}


def run_configs(args) -> list[tuple[str, EmbeddingConfig]]:
    """The configs of ``--runs``: ``BASE[:field=value...]``, BASE ``defaults`` (what ``graphsys embed``
    does: only dim, epochs and partitions given, the rest chosen for the graph and device) or
    ``tuned`` (every speed flag: ``--pool-size``, ``--augmentation-step``, ``--lr``,
    ``--weight-decay``); ``bf16`` is ``defaults:row_dtype=bfloat16``, ``tuned-bf16`` likewise."""
    out = []
    for spec in (s.strip() for s in args.runs.split(",") if s.strip()):
        base, *overrides = _ALIASES.get(spec, spec).split(":")
        values: dict = {"dim": args.dim, "epochs": args.epochs, "num_partitions": args.partitions, "seed": 0}
        if base == "tuned":
            values.update(pool_size=args.pool_size, lr=args.lr, weight_decay=args.weight_decay,
                          augmentation_step=args.augmentation_step)
        elif base != "defaults":
            raise SystemExit(f"--runs {spec}: the base must be 'defaults' or 'tuned' (or one of {sorted(_ALIASES)})")
        for item in overrides:
            key, _, value = item.partition("=")
            if key not in _OVERRIDES:
                raise SystemExit(f"--runs {spec}: cannot set {key!r}; settable: {sorted(_OVERRIDES)}")
            kind = _OVERRIDES[key]
            values[key] = int(float(value)) if kind is int else kind(value)
        out.append((spec, EmbeddingConfig(**values)))
    return out


def speed(args) -> tuple[dict, list[dict]]:
    from graphsys.datasets.generator import GraphSpec, community_graph

    t0 = time.perf_counter()
    nodes, communities = int(args.nodes * args.scale), max(2, int(args.communities * args.scale))
    sizes = tuple(nodes // communities + (1 if c < nodes % communities else 0) for c in range(communities))
    spec = GraphSpec(nodes, int(args.edges * args.scale), sizes, exponent=args.exponent, homophily=args.homophily)
    graph = community_graph(spec, seed=0).graph
    split = split_edges(graph.indptr, graph.indices, 0.01, seed=0)
    build_s = time.perf_counter() - t0
    non_edges = sample_non_edges(graph.indptr, graph.indices, split.test_edges.shape[1], seed=1)
    devices = [args.device]
    figures: dict = {"nodes": graph.num_nodes, "edges_stored": graph.num_edges,
                     "train_edges": int(split.indices.numel()), "graph_build_s": build_s, "device": args.device,
                     "runs": {}}
    rows: list[dict] = []
    for r, (spec, config) in enumerate(run_configs(args)):
        name = spec if spec not in figures["runs"] else f"{spec}#{r + 1}"  # a run repeated keeps its own figures
        probe = args.probes == "all" or (args.probes == "first" and r == 0)
        prefix = f"{name}: " if len(args.runs.split(",")) > 1 else ""
        if probe:
            found, probe_rows = probes(args, split, config, devices)
            figures["runs"].setdefault(name, {}).update(found)
            rows += [{**row, "phase": prefix + row["phase"]} for row in probe_rows]
        # The real run, then link prediction on the held-out edges.
        trainer = EmbeddingTrainer(split.indptr, split.indices, config, devices=devices, master=args.master)
        result = trainer.fit(quiet=args.quiet)
        auc = link_prediction_auc(trainer.vertex_embeddings(), trainer.context_embeddings(), split.test_edges,
                                  non_edges)
        used = trainer.config
        figures["runs"].setdefault(name, {}).update({
            "config": used.to_dict(), "together_samples_per_s": result.samples_per_s, "total_samples": result.samples,
            "total_s": result.seconds, "link_prediction_auc": auc, "fit": asdict(result)})
        rows.append({"phase": prefix + "together (full run)", "samples/s": result.samples_per_s,
                     "samples": result.samples, "seconds": result.seconds, "bottleneck": result.bottleneck,
                     "AUC": auc, "pool_size": used.pool_size, "step": used.augmentation_step,
                     "rows": used.row_dtype.value})
        del trainer
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    best = min(run["total_s"] for run in figures["runs"].values())
    for run in figures["runs"].values():
        run["seconds_over_best"] = run["total_s"] / best
    for row in rows:
        if "seconds" in row:
            row["x_best"] = row["seconds"] / best
    # the first run's figures at the top level too, under the names earlier results used
    first = figures["runs"][next(iter(figures["runs"]))]
    figures.update({k: v for k, v in first.items() if k != "seconds_over_best"})
    return figures, rows


def probes(args, split, config: EmbeddingConfig, devices: list[str]) -> tuple[dict, list[dict]]:
    """Producers alone, the trainer alone and (on a GPU) the trainer's parts, for ``config``."""
    # Producers alone: fill pools back to back, nothing consumes them. The buffers are pinned
    # for a GPU, as the trainer's pipeline pins them (a pageable pool copies at 6 GB/s, not 55).
    probe = EmbeddingTrainer(split.indptr, split.indices, config, devices=devices, master=args.master)
    pool_size = probe.config.pool_size
    assert pool_size is not None  # resolved by the trainer
    capacity = probe.producer.capacity_for(pool_size)
    pin = args.device.startswith("cuda")
    heads, tails = (torch.empty(capacity, dtype=torch.int32, pin_memory=pin) for _ in range(2))
    probe.producer.fill(0, heads[: probe.producer.pairs_per_walk * 64], tails)  # compile outside the timing
    t0 = time.perf_counter()
    made = sum(probe.producer.fill(k, heads, tails).num_samples for k in range(args.probe_pools))
    producer_rate = made / (time.perf_counter() - t0)

    # Trainer alone: one pool, trained again and again (it stays on the device).
    pool = probe.producer.fill(0, heads, tails)
    probe.train_pool(pool)  # compile / warm up
    t0 = time.perf_counter()
    trained = sum(probe.train_pool(pool)[0] for _ in range(args.probe_pools))
    trainer_rate = trained / (time.perf_counter() - t0)
    parts = trainer_parts(probe, pool, args.kernel_sweep) if pin else {}
    del probe, pool, heads, tails
    figures = {"producer_alone_samples_per_s": producer_rate, "trainer_alone_samples_per_s": trainer_rate,
               "trainer_parts": parts}
    rows = [
        {"phase": "producers alone", "samples/s": producer_rate},
        {"phase": "trainer alone", "samples/s": trainer_rate},
        *({"phase": f"trainer part: {name}", "samples/s": rate} for name, rate in parts.items()),
    ]
    return figures, rows


def _best_rate(samples: int, run, repeats: int = 3) -> float:
    """Samples per second of ``run()`` (a GPU operation), best of ``repeats`` after a warm-up."""
    run()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return samples / best


def trainer_parts(trainer: EmbeddingTrainer, pool, sweep: bool) -> dict[str, float]:
    """Samples/s of each part of training block (0, 0) of ``pool`` on the GPU, alone.

    The pool copy to the device, the negative draws, and the SGD kernel at its default launch
    with the rows stored in float32 and in bfloat16 (whatever the run's rows are); with ``sweep``,
    the kernel under other launch shapes (lanes per program, warps, programs).
    """
    from embedding.sgd_gpu import train_block_gpu

    device = trainer.devices[0].device
    rows = pool.block(0, 0)
    n = rows.stop - rows.start
    heads, tails = pool.heads[rows].to(device), pool.tails[rows].to(device)
    table, generator = trainer._neg_tables[0][0], trainer._generators[0]
    negatives = table.sample(n, generator=generator)
    size = trainer.partition.size(0)
    vertex, context = trainer.vertex[:size].to(device, torch.float32), trainer.context[:size].to(device, torch.float32)
    vertex16, context16 = vertex.to(torch.bfloat16), context.to(torch.bfloat16)
    lr = dict(lr_start=1e-4, lr_end=1e-4, negative_weight=5.0, weight_decay=0.0)
    out = {
        "pool copy (pinned -> GPU)": _best_rate(pool.num_samples, lambda: (
            pool.heads.to(device, non_blocking=True), pool.tails.to(device, non_blocking=True))),
        "negative draws": _best_rate(n, lambda: table.sample(n, generator=generator)),
        "SGD kernel (default launch)": _best_rate(n, lambda: train_block_gpu(vertex, context, heads, tails,
                                                                             negatives, **lr)),
        "SGD kernel bfloat16 rows": _best_rate(n, lambda: train_block_gpu(vertex16, context16, heads, tails,
                                                                          negatives, **lr)),
    }
    if sweep:
        resident = torch.cuda.get_device_properties(device).multi_processor_count * 32
        for lanes, warps, programs, coherent in ((1, 1, None, False), (1, 1, 16384, True), (1, 1, resident // 2, True),
                                                 (2, 1, None, True), (2, 2, None, True), (4, 1, None, True),
                                                 (4, 2, None, True), (4, 4, None, True), (8, 2, None, True)):
            launch = dict(lanes=lanes, num_warps=warps, max_programs=programs, coherent=coherent)
            name = (f"SGD kernel lanes={lanes} warps={warps} programs={programs or 'resident'}"
                    + ("" if coherent else " rows through L1"))
            out[name] = _best_rate(n, lambda: train_block_gpu(vertex, context, heads, tails, negatives,
                                                              **launch, **lr))
    return out


def quality(args) -> tuple[dict, list[dict]]:
    from graphsys.datasets import load

    root = Path(args.root) if args.root else BLOGCATALOG
    dataset = load("blogcatalog", root=root)
    graph = dataset.graph
    rows, gaps = [], {}
    seeds = [int(s) for s in args.seeds.split(",")]
    # GPU ablation: rows per sample in flight (embedding.sgd_gpu._ROWS_PER_LANE), the kernel's
    # concurrency cap on small blocks, set to each value in turn.
    caps = [int(c) for c in args.rows_per_lane.split(",")] if args.rows_per_lane else [None]
    dtypes = [d.strip() for d in args.row_dtypes.split(",") if d.strip()]
    for cap, dtype in ((c, d) for c in caps for d in dtypes):
        setting = contextlib.nullcontext() if cap is None else mock.patch("embedding.sgd_gpu._ROWS_PER_LANE", cap)
        with setting:
            for seed in seeds:
                pair = []
                for partitions in (1, 4):
                    config = EmbeddingConfig(num_partitions=partitions, seed=seed, row_dtype=dtype,
                                             **({"epochs": args.epochs} if args.epochs is not None else {}))
                    trainer = EmbeddingTrainer(graph.indptr, graph.indices, config, devices=[args.device])
                    result = trainer.fit(quiet=args.quiet)
                    (scores,) = node_classification(trainer.node_embeddings(), dataset.y, (0.5,), seed=0)
                    pair.append({**({"rows_per_lane": cap} if cap is not None else {}),
                                 "rows": trainer.config.row_dtype.value, "seed": seed,
                                 "partitions": partitions, "samples": result.samples, "seconds": result.seconds,
                                 "samples/s": result.samples_per_s, "micro_f1": scores.micro_f1,
                                 "macro_f1": scores.macro_f1})
                rows += pair
                print(json.dumps(pair), flush=True)  # progress: a long ablation may be cut short
                key = str(cap) if len(dtypes) == 1 else f"{cap} {dtype}"
                gaps.setdefault(key, []).append(pair[1]["micro_f1"] - pair[0]["micro_f1"])
    figures = {"device": args.device, "seeds": seeds, "rows": rows, "micro_f1_gap_p4_vs_p1": gaps,
               "mean_micro_f1_gap_p4_vs_p1": {cap: sum(g) / len(g) for cap, g in gaps.items()}}
    return figures, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--master", default=None, help="placement of the master copy (default: the device)")
    parser.add_argument("--nodes", type=int, default=1_100_000)
    parser.add_argument("--edges", type=int, default=2_500_000, help="undirected edges (stored both ways)")
    parser.add_argument("--exponent", type=float, default=2.2, help="power-law exponent of the degrees")
    parser.add_argument("--communities", type=int, default=10_000,
                        help="planted communities (what held-out edges can be predicted from)")
    parser.add_argument("--homophily", type=float, default=0.7, help="share of edge endpoints inside the community")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies nodes and edges")
    parser.add_argument("--epochs", type=float, default=None,
                        help="positive samples / |E| (speed default 4000; quality default: the config's)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.025, help="speed run: GraphVite's Youtube setting")
    parser.add_argument("--weight-decay", type=float, default=0.005, help="speed run: GraphVite's Youtube setting")
    parser.add_argument("--augmentation-step", type=int, default=5, help="speed run: GraphVite's Youtube setting")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=None,
                        help="tuned runs: samples per pool (default 1e8, GraphVite's; 1e6 with --small)")
    parser.add_argument("--probe-pools", type=int, default=3, help="pools timed in the alone phases")
    parser.add_argument("--runs", default="tuned",
                        help="speed: comma-separated runs, each defaults|tuned|bf16|tuned-bf16 with optional "
                             ":field=value overrides (e.g. defaults:augmentation_step=3:pool_size=1e7)")
    parser.add_argument("--probes", default="first", choices=["first", "all", "none"],
                        help="speed: time producers / trainer / kernel alone before the first run, every run or none")
    parser.add_argument("--small", action="store_true",
                        help="speed smoke run: --scale 0.01 --epochs 20 --probe-pools 1 unless given")
    parser.add_argument("--kernel-sweep", action="store_true",
                        help="GPU: time the SGD kernel under several launch shapes too")
    parser.add_argument("--seeds", default="0", help="quality: comma-separated seeds, each run at P = 1 and 4")
    parser.add_argument("--rows-per-lane", default=None,
                        help="quality on a GPU: comma-separated values of the kernel's rows per sample in flight")
    parser.add_argument("--row-dtypes", default="float32",
                        help="quality: comma-separated row storage to compare (float32, bf16)")
    parser.add_argument("--quality", action="store_true", help="BlogCatalog P = 1 vs P = 4 instead of speed")
    parser.add_argument("--root", default=None, help="folder holding blogcatalog.mat")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.quality:
        figures, rows = quality(args)
        name = "embed_quality" if args.device.startswith("cuda") else "embed_quality_cpu"
    else:
        if args.small:
            args.scale = 0.01 if args.scale == 1.0 else args.scale
            args.epochs = 20.0 if args.epochs is None else args.epochs
            args.probe_pools = 1 if args.probe_pools == 3 else args.probe_pools
        if args.epochs is None:
            args.epochs = 4000.0
        if args.pool_size is None:
            args.pool_size = 1_000_000 if args.small else 100_000_000
        figures, rows = speed(args)
        name = "embed_speed_small" if args.small else "embed_speed"  # a smoke run keeps the device's figures
    print(format_table(rows, list(dict.fromkeys(k for row in rows for k in row))))
    write_result(name, figures, rows)


if __name__ == "__main__":
    main()
