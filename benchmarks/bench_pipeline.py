"""Pipelined layer-parallel full-graph training (GNNPipe) against one process and graph parallelism.

Three parts, each writing its own ``results/pipeline_<part>.json``:

* ``accuracy``: Cora and CiteSeer, an 8-layer residual GCN, one process vs S = 2 and S = 4
  stages (same seed, epochs, architecture); per-epoch accuracy curves, the test accuracy gap,
  and a convergence variant with a periodic staleness-free epoch.
* ``comm``: Cora, bytes per training epoch of the pipeline (S = P) against graph parallelism
  (G = P, both partitioners) and the hybrid, with the same P processes and the same model.
* ``synthetic``: the same comparison on a synthetic graph of about a million nodes.
* ``profile`` (not in ``all``): one pipelined epoch (S = 2) and one graph-parallel epoch (G = 2)
  of the synthetic comparison's model on a smaller graph (``--profile-nodes``) under
  ``torch.profiler``, per rank: the plan's setup time, wall time, time blocked on the peer,
  time inside each phase of the worker (``pipeline.*`` labels: layer forward/backward, history
  reads/writes, stage input and output, halo exchange; inclusive, so nested phases overlap) and the
  top operators by self CPU time (``results/pipeline_profile.json``).

Run: ``PYTHONPATH=. python benchmarks/bench_pipeline.py --part all`` (``--small`` for a
seconds-long smoke run on any machine; ``--device cuda`` with several GPUs).
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmarks.common import format_table, write_result
from graphsys.datasets import load
from graphsys.pipeline import PipelineConfig, train
from graphsys.pipeline.comm import Comm
from graphsys.pipeline.host_memory import reuse_freed_host_memory
from graphsys.pipeline.partition import make_layout, plan_partition
from graphsys.pipeline.run import _free_port
from graphsys.pipeline.worker import StageWorker

REPO = Path(__file__).resolve().parents[1]
_ROOTS = [REPO / "shared" / "data" / "planetoid", REPO.parent / "shared" / "data" / "planetoid"]


def planetoid_root() -> Path:
    """The first Planetoid folder that exists (the device copy has ``shared/`` inside the repo)."""
    for root in _ROOTS:
        if root.is_dir():
            return root
    raise FileNotFoundError(f"no Planetoid data in {', '.join(map(str, _ROOTS))}")


def run(name: str, ds, cfg: PipelineConfig) -> tuple[dict, dict]:
    """Train once; return the summary row and the per-epoch curves."""
    result = train(cfg, ds)
    metrics = result.metrics
    evaluated = [m for m in metrics if m.val_acc is not None]
    best = max(evaluated, key=lambda m: m.val_acc)
    last = metrics[-1]
    timed = metrics[1:] or metrics[:1]
    times = [m.epoch_s for m in timed]
    # per rank, mean over the timed epochs: seconds computing (training time less waits) and waiting
    busy = [sum(m.per_rank[r]["epoch_s"] - m.per_rank[r]["wait_s"] for m in timed) / len(timed)
            for r in range(cfg.world_size)]
    wait = [sum(m.per_rank[r]["wait_s"] for m in timed) / len(timed) for r in range(cfg.world_size)]
    row = {
        "run": name, "dataset": ds.name, "model": cfg.model.value, "layers": cfg.layers,
        "S": cfg.stages, "G": cfg.graph_parallel, "C": cfg.chunks, "partitioner": cfg.partitioner.value,
        "epochs": cfg.epochs, "final_test": last.test_acc, "best_val": best.val_acc,
        "test_at_best_val": best.test_acc, "epoch_s": sum(times) / len(times),
        "comm_MB": last.comm_bytes / 1e6, **{f"{k}_MB": v / 1e6 for k, v in last.comm_by_kind.items()},
        "max_staleness": max(m.max_staleness for m in metrics),
        "stale_fraction": max(m.stale_fraction for m in metrics),
        "busy_s_by_rank": [round(b, 3) for b in busy], "wait_s_by_rank": [round(w, 3) for w in wait],
    }
    curves = {
        "mode": [m.mode for m in metrics], "loss": [m.loss for m in metrics],
        "val_acc": [m.val_acc for m in metrics], "test_acc": [m.test_acc for m in metrics],
        "epoch_s": [m.epoch_s for m in metrics], "comm_bytes": [m.comm_bytes for m in metrics],
        "stale_fraction": [m.stale_fraction for m in metrics],
    }
    print(f"  {name}: final test {last.test_acc:.4f}, test@best-val {best.test_acc:.4f}, "
          f"{last.comm_bytes / 1e6:.3f} MB/epoch, {row['epoch_s']:.3f} s/epoch", flush=True)
    return row, curves


_ACCURACY_COLUMNS = ["run", "S", "C", "epochs", "final_test", "final_gap_pts", "test_at_best_val",
                     "best_val_gap_pts", "epoch_s", "comm_MB", "max_staleness", "stale_fraction"]


def part_accuracy(args) -> None:
    for dataset in args.datasets:
        rows, curves = [], {}
        ds = load(dataset, root=planetoid_root())
        base = dict(model=args.model, layers=8, hidden=args.hidden, epochs=args.epochs, warmup_epochs=args.warmup,
                    dropout=0.5, lr=0.01, weight_decay=5e-4, seed=args.seed, device=args.device,
                    eval_every=args.eval_every, timeout_s=600)
        variants = [("single", dict(stages=1, chunks=1))]
        variants += [(f"pipeline S={s}", dict(stages=s, chunks=args.chunks)) for s in (2, 4)]
        if args.sync_every:
            variants.append((f"pipeline S=4 sync_every={args.sync_every}",
                             dict(stages=4, chunks=args.chunks, sync_every=args.sync_every)))
        single = None
        for label, options in variants:
            name = f"{dataset} {label}"
            row, curve = run(name, ds, PipelineConfig(**base, **options))
            single = single or row
            row["final_gap_pts"] = 100 * (row["final_test"] - single["final_test"])
            row["best_val_gap_pts"] = 100 * (row["test_at_best_val"] - single["test_at_best_val"])
            rows.append(row)
            curves[name] = curve
            write_result(f"pipeline_accuracy_{dataset}", {"curves": curves, "target_gap_pts": 1.5}, rows)
        print(format_table(rows, _ACCURACY_COLUMNS), flush=True)


def compare_comm(ds, label: str, processes: list[int], args, hidden: int, epochs: int) -> list[dict]:
    """Pipeline vs graph parallelism (both partitioners) vs hybrid, P processes each, one model."""
    rows = []
    base = dict(model=args.model, layers=args.layers, hidden=hidden, epochs=epochs, warmup_epochs=1,
                seed=args.seed, device=args.device, eval_every=epochs, timeout_s=1800)
    for p in processes:
        variants = [(f"pipeline S={p}", dict(stages=p, chunks=args.chunks))]
        variants += [(f"graph-parallel G={p} {part}", dict(stages=1, graph_parallel=p, chunks=1, partitioner=part))
                     for part in args.partitioners]
        if p >= 4:
            variants.append((f"hybrid G=2 S={p // 2}", dict(stages=p // 2, graph_parallel=2, chunks=args.chunks)))
        group = []
        for name, options in variants:
            row, _ = run(f"{label} {name}", ds, PipelineConfig(**base, **options))
            row["processes"] = p
            group.append(row)
        pipe = group[0]
        emb = lambda r: r["activations_MB"] + r["gradients_MB"] + r["halo_MB"]  # noqa: E731
        for row in group:
            row["x_vs_pipeline"] = row["comm_MB"] / pipe["comm_MB"]
            row["x_vs_pipeline_embeddings"] = emb(row) / emb(pipe)
            row["target_L_over_S"] = args.layers / p
        rows += group
    return rows


_COMM_COLUMNS = ["run", "processes", "comm_MB", "activations_MB", "gradients_MB", "halo_MB", "param_grads_MB",
                 "x_vs_pipeline", "x_vs_pipeline_embeddings", "target_L_over_S", "epoch_s", "busy_s_by_rank",
                 "wait_s_by_rank"]


def part_comm(args) -> None:
    ds = load("cora", root=planetoid_root())
    rows = compare_comm(ds, "cora", [2, 4], args, args.hidden, epochs=2)
    print(format_table(rows, _COMM_COLUMNS))
    write_result("pipeline_comm", {"layers": args.layers, "hidden": args.hidden}, rows)


def part_synthetic(args) -> None:
    scale = args.synthetic_nodes / 169_343
    ds = load("synthetic-arxiv", scale=scale, seed=args.seed)
    print(f"synthetic-arxiv x{scale:.3f}: {ds.num_nodes} nodes, {ds.graph.num_edges} edges", flush=True)
    rows = compare_comm(ds, "synthetic", [2], args, args.synthetic_hidden, epochs=args.synthetic_epochs)
    print(format_table(rows, _COMM_COLUMNS))
    write_result("pipeline_synthetic", {"nodes": ds.num_nodes, "edges": ds.graph.num_edges,
                                        "layers": args.layers, "hidden": args.synthetic_hidden}, rows)


def _profile_rank(rank: int, port: int, cfg: PipelineConfig, ds, top: int, results) -> None:
    """One rank: the setup of ``run_rank``, a staleness-free epoch, then the profiled epoch."""
    torch.set_num_threads(1)
    reuse_freed_host_memory()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=cfg.world_size,
                            timeout=datetime.timedelta(seconds=cfg.timeout_s))
    stage_group = None
    if cfg.graph_parallel > 1:
        for s in range(cfg.stages):
            group = dist.new_group([g * cfg.stages + s for g in range(cfg.graph_parallel)])
            stage_group = group if s == rank % cfg.stages else stage_group
    start = time.perf_counter()  # the plan: renumbering, chunks, halos, per-chunk sparse matrices
    layout = make_layout(ds.graph, cfg.graph_parallel, cfg.partitioner, cfg.seed)
    comm = Comm(rank, cfg.world_size, cfg.timeout_s)
    worker = StageWorker(cfg, ds, layout, plan_partition(layout, rank // cfg.stages, cfg.chunks, cfg.model),
                         rank, comm, torch.device("cpu"), stage_group)
    setup_s = time.perf_counter() - start
    worker.train_epoch(0)
    dist.barrier()
    comm.ledger.reset()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        worker.train_epoch(1)
        epoch_s = time.perf_counter() - start
    averages = prof.key_averages()
    ops = sorted((e for e in averages if not e.key.startswith("pipeline.")),
                 key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    phases = {e.key.removeprefix("pipeline."): e.cpu_time_total / 1e6
              for e in averages if e.key.startswith("pipeline.")}
    results.put({"rank": rank, "stage": worker.stage, "group": worker.group, "epoch_s": epoch_s,
                 "wait_s": comm.ledger.wait_s, "setup_s": setup_s, "phases_s": phases,
                 "top_ops": [{"op": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6} for e in ops]})
    dist.barrier()
    dist.destroy_process_group()


def part_profile(args) -> None:
    scale = args.profile_nodes / 169_343
    ds = load("synthetic-arxiv", scale=scale, seed=args.seed)
    print(f"synthetic-arxiv x{scale:.3f}: {ds.num_nodes} nodes, {ds.graph.num_edges} edges", flush=True)
    base = dict(model=args.model, layers=args.layers, hidden=args.synthetic_hidden, epochs=2, warmup_epochs=1,
                seed=args.seed, timeout_s=1800)
    variants = [("pipeline S=2", dict(stages=2, chunks=args.chunks)),
                ("graph-parallel G=2 contiguous", dict(stages=1, graph_parallel=2, chunks=1))]
    rows, profiles = [], {}
    for name, options in variants:
        cfg = PipelineConfig(**base, **options)
        results = mp.get_context("spawn").Queue()
        context = mp.start_processes(_profile_rank, args=(_free_port(), cfg, ds, args.profile_top, results),
                                     nprocs=cfg.world_size, join=False, start_method="spawn")
        # take the results before joining: a rank exits only once its queue item is consumed
        ranks = sorted((results.get(timeout=cfg.timeout_s) for _ in range(cfg.world_size)), key=lambda r: r["rank"])
        while not context.join():
            pass
        profiles[name] = ranks
        for r in ranks:
            rows.append({"run": name, "rank": r["rank"], "stage": r["stage"], "group": r["group"],
                         "setup_s": r["setup_s"], "epoch_s": r["epoch_s"], "wait_s": r["wait_s"],
                         "busy_s": r["epoch_s"] - r["wait_s"], **r["phases_s"],
                         **{f"top{i + 1}": f"{op['op']} {op['self_s']:.3f}s" for i, op in enumerate(r["top_ops"][:3])}})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print(format_table(rows, columns))
    write_result("pipeline_profile", {"nodes": ds.num_nodes, "edges": ds.graph.num_edges, "layers": args.layers,
                                      "hidden": args.synthetic_hidden, "chunks": args.chunks, "profiles": profiles},
                 rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["accuracy", "comm", "synthetic", "profile", "all"])
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--model", default="gcn", choices=["gcn", "sage"])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=200, help="accuracy part")
    parser.add_argument("--eval-every", type=int, default=1, help="accuracy part: evaluate every N epochs")
    parser.add_argument("--warmup", type=int, default=5, help="staleness-free warm-up epochs")
    parser.add_argument("--sync-every", type=int, default=4,
                        help="the convergence variant's period (0: skip that variant)")
    parser.add_argument("--synthetic-nodes", type=int, default=1_000_000)
    parser.add_argument("--synthetic-hidden", type=int, default=16)
    parser.add_argument("--synthetic-epochs", type=int, default=2,
                        help="1 measures one staleness-free epoch (the same bytes as a pipelined one when G = 1)")
    parser.add_argument("--profile-nodes", type=int, default=300_000, help="profile part: synthetic graph size")
    parser.add_argument("--profile-top", type=int, default=15, help="profile part: operators kept per rank")
    parser.add_argument("--partitioners", default="contiguous,random",
                        help="graph-parallel baselines to measure (comma-separated)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="a smoke run: few epochs, a 20 K-node synthetic graph")
    args = parser.parse_args(argv)
    # One thread per rank: S ranks share the cores, and oversubscribed OpenMP threads spin.
    torch.set_num_threads(1)
    args.datasets = args.datasets.split(",")
    args.partitioners = args.partitioners.split(",")
    if args.small:
        args.epochs, args.synthetic_nodes, args.profile_nodes = 8, 20_000, 20_000
    parts = ["accuracy", "comm", "synthetic"] if args.part == "all" else [args.part]
    for part in parts:
        print(f"== {part}", flush=True)
        {"accuracy": part_accuracy, "comm": part_comm, "synthetic": part_synthetic, "profile": part_profile}[part](args)


if __name__ == "__main__":
    sys.exit(main())
