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

    python benchmarks/bench_embed.py --device cuda                           # the H200 run
    python benchmarks/bench_embed.py --device cpu --scale 0.01 --epochs 20   # CPU smoke run
    python benchmarks/bench_embed.py --quality --device cuda --seeds 0,1,2
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


def speed(args) -> tuple[dict, list[dict]]:
    from graphsys.datasets.generator import GraphSpec, community_graph

    t0 = time.perf_counter()
    nodes, communities = int(args.nodes * args.scale), max(2, int(args.communities * args.scale))
    sizes = tuple(nodes // communities + (1 if c < nodes % communities else 0) for c in range(communities))
    spec = GraphSpec(nodes, int(args.edges * args.scale), sizes, exponent=args.exponent, homophily=args.homophily)
    graph = community_graph(spec, seed=0).graph
    split = split_edges(graph.indptr, graph.indices, 0.01, seed=0)
    build_s = time.perf_counter() - t0
    config = EmbeddingConfig(dim=args.dim, epochs=args.epochs, num_partitions=args.partitions,
                             pool_size=args.pool_size, lr=args.lr, weight_decay=args.weight_decay,
                             augmentation_step=args.augmentation_step, seed=0)
    devices = [args.device]

    # Producers alone: fill pools back to back, nothing consumes them. The buffers are pinned
    # for a GPU, as the trainer's pipeline pins them (a pageable pool copies at 6 GB/s, not 55).
    probe = EmbeddingTrainer(split.indptr, split.indices, config, devices=devices, master=args.master)
    capacity = probe.producer.capacity_for(config.pool_size)
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

    # Both together: the real run, then link prediction on the held-out edges.
    trainer = EmbeddingTrainer(split.indptr, split.indices, config, devices=devices, master=args.master)
    result = trainer.fit(quiet=args.quiet)
    non_edges = sample_non_edges(graph.indptr, graph.indices, split.test_edges.shape[1], seed=1)
    auc = link_prediction_auc(trainer.vertex_embeddings(), trainer.context_embeddings(), split.test_edges, non_edges)
    figures = {
        "nodes": graph.num_nodes, "edges_stored": graph.num_edges, "train_edges": int(split.indices.numel()),
        "graph_build_s": build_s, "device": args.device, "config": config.to_dict(),
        "producer_alone_samples_per_s": producer_rate, "trainer_alone_samples_per_s": trainer_rate,
        "together_samples_per_s": result.samples_per_s, "total_samples": result.samples, "total_s": result.seconds,
        "link_prediction_auc": auc, "fit": asdict(result), "trainer_parts": parts,
    }
    rows = [
        {"phase": "producers alone", "samples/s": producer_rate},
        {"phase": "trainer alone", "samples/s": trainer_rate},
        *({"phase": f"trainer part: {name}", "samples/s": rate} for name, rate in parts.items()),
        {"phase": "together (full run)", "samples/s": result.samples_per_s, "samples": result.samples,
         "seconds": result.seconds, "bottleneck": result.bottleneck, "AUC": auc},
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

    The pool copy to the device, the negative draws, and the SGD kernel at its default launch;
    with ``sweep``, the kernel under other launch shapes (lanes per program, warps, programs).
    """
    from embedding.sgd_gpu import train_block_gpu

    device = trainer.devices[0].device
    rows = pool.block(0, 0)
    n = rows.stop - rows.start
    heads, tails = pool.heads[rows].to(device), pool.tails[rows].to(device)
    table, generator = trainer._neg_tables[0][0], trainer._generators[0]
    negatives = table.sample(n, generator=generator)
    size = trainer.partition.size(0)
    vertex, context = trainer.vertex[:size].to(device), trainer.context[:size].to(device)
    lr = dict(lr_start=1e-4, lr_end=1e-4, negative_weight=5.0, weight_decay=0.0)
    out = {
        "pool copy (pinned -> GPU)": _best_rate(pool.num_samples, lambda: (
            pool.heads.to(device, non_blocking=True), pool.tails.to(device, non_blocking=True))),
        "negative draws": _best_rate(n, lambda: table.sample(n, generator=generator)),
        "SGD kernel (default launch)": _best_rate(n, lambda: train_block_gpu(vertex, context, heads, tails,
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
    for cap in caps:
        setting = contextlib.nullcontext() if cap is None else mock.patch("embedding.sgd_gpu._ROWS_PER_LANE", cap)
        with setting:
            for seed in seeds:
                pair = []
                for partitions in (1, 4):
                    config = EmbeddingConfig(num_partitions=partitions, seed=seed,
                                             **({"epochs": args.epochs} if args.epochs is not None else {}))
                    trainer = EmbeddingTrainer(graph.indptr, graph.indices, config, devices=[args.device])
                    result = trainer.fit(quiet=args.quiet)
                    (scores,) = node_classification(trainer.node_embeddings(), dataset.y, (0.5,), seed=0)
                    pair.append({**({"rows_per_lane": cap} if cap is not None else {}), "seed": seed,
                                 "partitions": partitions, "samples": result.samples, "seconds": result.seconds,
                                 "samples/s": result.samples_per_s, "micro_f1": scores.micro_f1,
                                 "macro_f1": scores.macro_f1})
                rows += pair
                print(json.dumps(pair), flush=True)  # progress: a long ablation may be cut short
                gaps.setdefault(str(cap), []).append(pair[1]["micro_f1"] - pair[0]["micro_f1"])
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
    parser.add_argument("--pool-size", type=int, default=100_000_000)
    parser.add_argument("--probe-pools", type=int, default=3, help="pools timed in the alone phases")
    parser.add_argument("--kernel-sweep", action="store_true",
                        help="GPU: time the SGD kernel under several launch shapes too")
    parser.add_argument("--seeds", default="0", help="quality: comma-separated seeds, each run at P = 1 and 4")
    parser.add_argument("--rows-per-lane", default=None,
                        help="quality on a GPU: comma-separated values of the kernel's rows per sample in flight")
    parser.add_argument("--quality", action="store_true", help="BlogCatalog P = 1 vs P = 4 instead of speed")
    parser.add_argument("--root", default=None, help="folder holding blogcatalog.mat")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.quality:
        figures, rows = quality(args)
        name = "embed_quality"
    else:
        if args.epochs is None:
            args.epochs = 4000.0
        figures, rows = speed(args)
        name = "embed_speed"
    print(format_table(rows, list(dict.fromkeys(k for row in rows for k in row))))
    write_result(name, figures, rows)


if __name__ == "__main__":
    main()
