"""Multi-GPU scaling of the three ``graphsys`` commands, each run as its own process tree.

* ``train``: data-parallel ``graphsys train`` (GraphSAGE 3 x 256, fanouts 15,10,5, batch 1024
  per GPU: the command's defaults) on synthetic-products at scale 1, features in pinned host
  memory with 20 % of the rows cached in GPU memory, CSR in GPU memory, on k = 1, 2, ..., N GPUs
  through ``torchrun``. Epoch time is the median training time (``train_s``, no evaluation) of
  the epochs after the first; scaling efficiency is ``T1 / (k * Tk)`` (goal: >= 0.85 at N = 4).
* ``pipeline``: ``graphsys pipeline`` on the same preset, a deep residual GCN (16 layers by
  default), as S = N pipeline stages against G = N graph partitions on N GPUs: median epoch
  time after the warm-up, bytes sent per training epoch, test accuracy after a fixed number
  of epochs.
* ``embed``: ``graphsys embed`` (DeepWalk at GraphVite's Youtube setting, as
  ``bench_embed.py`` runs it) on a Youtube-sized community graph, on 1 GPU and on N GPUs
  (one process, ``--device cuda:0,...``, P = N partitions): time, samples/s and the
  link-prediction AUC on 1 % held-out edges (the generated graph has no labels to score).

Every figure comes from the commands' own ``--metrics-out`` JSON lines (train, pipeline) or the
``meta.json`` that ``graphsys embed`` writes, never from their logs. Results go to
``benchmarks/results/multi_gpu.json``; the tables printed at the end are for
``benchmarks/README.md``. ``run_multi_gpu.sh`` runs this with N from ``nvidia-smi``.

    PYTHONPATH=. python benchmarks/bench_multi_gpu.py --gpus 4                      # a 4-GPU host
    PYTHONPATH=. python benchmarks/bench_multi_gpu.py --gpus 2 --device cpu --small  # CPU check, gloo
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import format_table, write_result

REPO = Path(__file__).resolve().parents[1]
PARTS = ("train", "pipeline", "embed")


class StepFailed(RuntimeError):
    """A command of the run exited with an error (its log is kept)."""


def _env(processes: int) -> dict[str, str]:
    """The environment of one step: the repo importable, the host's cores split among processes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_step(name: str, command: list[str], work: Path, processes: int, timeout_s: float) -> float:
    """Run ``command`` (its output in ``work/<name>.log``) and return its wall time in seconds.

    Raises:
        StepFailed: it exited non-zero or ran past ``timeout_s``.
    """
    log = work / f"{name}.log"
    print(f"+ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        try:
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=_env(processes),
                                  cwd=REPO, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            raise StepFailed(f"{name}: no result within {timeout_s:g} s (log: {log})") from None
    wall = time.perf_counter() - start
    if code != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise StepFailed(f"{name}: exit code {code}: {tail[0]} (log: {log})")
    return wall


def torchrun(processes: int) -> list[str]:
    """``python -m torch.distributed.run`` on this host with ``processes`` ranks."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]


def read_jsonl(path: Path) -> list[dict]:
    """The JSON lines a command wrote with ``--metrics-out``."""
    if not path.is_file():
        raise StepFailed(f"{path} was not written")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def median_after(values: list[float], skip: int) -> float:
    """Median of ``values[skip:]`` (of all of them when nothing is left)."""
    kept = values[skip:] or values
    return statistics.median(kept)


def measured(row: dict, measure) -> dict:
    """``row`` completed with ``measure()``'s figures, or with the error of a step that failed
    (printed; the run goes on with the next step)."""
    try:
        row.update(measure())
    except StepFailed as err:
        print(f"FAILED: {err}", flush=True)
        row["error"] = str(err)
    return row


# ----------------------------------------------------------------------------- (a) train
def part_train(args, work: Path) -> list[dict]:
    """``graphsys train`` on k = 1..N devices (``--train-counts``); epoch time and scaling efficiency."""
    rows = []
    for k in args.train_counts:
        metrics = work / f"train_k{k}.jsonl"
        flags = ["--dataset", "synthetic-products", "--scale", str(args.scale), "--root", str(args.root),
                 "--epochs", str(args.train_epochs), "--eval-every", "0", "--quiet", "--metrics-out", str(metrics)]
        if args.device == "cuda":
            flags += ["--device", "cuda", "--features", "pinned", "--cache", "0.2", "--graph", "cuda"]
        else:  # pinned features and the GPU cache need a GPU
            flags += ["--device", "cpu", "--features", "cpu", "--graph", "cpu"]
        command = torchrun(k) + ["-m", "graphsys", "train"] + flags

        def measure(k=k, command=command, metrics=metrics) -> dict:
            wall = run_step(f"train_k{k}", command, work, k, args.timeout)
            epochs = read_jsonl(metrics)
            train_s = [e["train_s"] for e in epochs]
            return {"epoch_s": median_after(train_s, 1), "epochs": len(epochs),
                    "seeds_per_s": median_after([e["seeds_per_s"] for e in epochs], 1),
                    "batches_per_rank": epochs[-1]["batches"], "loss": epochs[-1]["loss"],
                    "peak_gpu_mib": epochs[-1]["peak_gpu_mib"], "epoch_s_all": train_s, "wall_s": wall}

        unit = "GPU" if args.device == "cuda" else "process"
        rows.append(measured({"part": "train", "run": f"graphsys train, {k} {unit}(es)", "processes": k,
                              "command": " ".join(command)}, measure))
    t1 = rows[0].get("epoch_s")
    for row in rows:
        if t1 is not None and "epoch_s" in row:
            row["efficiency"] = t1 / (row["processes"] * row["epoch_s"])
    return rows


# -------------------------------------------------------------------------- (b) pipeline
def part_pipeline(args, work: Path) -> list[dict]:
    """``graphsys pipeline``: S = N stages against G = N partitions, same model and epochs."""
    n = args.gpus
    common = ["--dataset", "synthetic-products", "--scale", str(args.scale), "--root", str(args.root),
              "--model", "gcn", "--layers", str(args.layers), "--hidden", str(args.hidden),
              "--epochs", str(args.pipeline_epochs), "--warmup-epochs", str(args.warmup),
              "--eval-every", str(args.pipeline_epochs), "--device", args.device,
              "--timeout", str(args.timeout), "--quiet"]
    variants = [
        (f"pipeline S={n}", ["--stages", str(n), "--chunks", str(args.chunks)]),
        (f"graph-parallel G={n}", ["--stages", "1", "--graph-parallel", str(n), "--chunks", "1"]),
    ]
    rows = []
    for label, flags in variants:
        name = "pipeline_" + label.split()[0].replace("-", "_") + f"_{n}"
        metrics = work / f"{name}.jsonl"
        command = torchrun(n) + ["-m", "graphsys", "pipeline"] + common + flags + ["--metrics-out", str(metrics)]

        def measure(name=name, command=command, metrics=metrics) -> dict:
            wall = run_step(name, command, work, n, args.timeout)
            epochs = read_jsonl(metrics)
            last = epochs[-1]
            timed = [e["epoch_s"] for e in epochs[args.warmup:]] or [e["epoch_s"] for e in epochs]
            return {"epochs": len(epochs), "epoch_s": statistics.median(timed), "comm_MB": last["comm_bytes"] / 1e6,
                    **{f"{k}_MB": v / 1e6 for k, v in last["comm_by_kind"].items() if k != "eval"},
                    "test_acc": last["test_acc"], "val_acc": last["val_acc"], "loss": last["loss"],
                    "max_staleness": max(e["max_staleness"] for e in epochs),
                    "wait_s_by_rank": [round(r["wait_s"], 3) for r in last["per_rank"]],
                    "epoch_s_all": [e["epoch_s"] for e in epochs], "wall_s": wall}

        rows.append(measured({"part": "pipeline", "run": label, "processes": n, "layers": args.layers,
                              "hidden": args.hidden, "command": " ".join(command)}, measure))
    return rows


# ----------------------------------------------------------------------------- (c) embed
def youtube_like_edge_list(args, work: Path) -> tuple[Path, int, int]:
    """The Youtube-sized community graph of ``bench_embed.py``, each undirected edge written once.

    Returns the file, the node count and the number of stored (two-way) edges.
    """
    from graphsys.datasets.generator import GraphSpec, community_graph
    from graphsys.io import atomic_path

    nodes = int(args.embed_nodes * args.embed_scale)
    communities = max(2, int(args.communities * args.embed_scale))
    sizes = tuple(nodes // communities + (1 if c < nodes % communities else 0) for c in range(communities))
    spec = GraphSpec(nodes, int(args.embed_edges * args.embed_scale), sizes, exponent=2.2, homophily=0.7)
    graph = community_graph(spec, seed=0).graph
    src, dst = graph.to_edge_index().numpy()
    once = src < dst
    path = work / f"youtube_like_{nodes}.txt"
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.stack([src[once], dst[once]], axis=1), fmt="%d", delimiter=" ")
    return path, graph.num_nodes, graph.num_edges


def part_embed(args, work: Path) -> list[dict]:
    """``graphsys embed`` on one device and on N (GPUs); time and link-prediction AUC."""
    path, nodes, edges = youtube_like_edge_list(args, work)
    n = args.gpus
    if args.device == "cuda":
        variants = [(1, "cuda:0", 1), (n, ",".join(f"cuda:{i}" for i in range(n)), n)]
    else:  # `graphsys embed` runs one CPU worker (all cores); only the partition grid changes
        variants = [(1, "cpu", 1), (1, "cpu", n)]
    rows = []
    for workers, devices, partitions in dict.fromkeys(variants):  # N = 1: one run, not the same one twice
        out = work / f"embed_w{workers}_p{partitions}"
        command = [sys.executable, "-m", "graphsys", "embed", "--graph", str(path), "--out", str(out),
                   "--device", devices, "--partitions", str(partitions), "--epochs", str(args.embed_epochs),
                   "--dim", "128", "--lr", "0.025", "--weight-decay", "0.005", "--augmentation-step", "5",
                   "--link-prediction", "0.01", "--label-ratios", "none", "--seed", "0", "--quiet"]
        if args.embed_pool_size:
            command += ["--pool-size", str(args.embed_pool_size)]

        def measure(out=out, command=command) -> dict:
            wall = run_step(out.name, command, work, 1, args.timeout)
            meta = json.loads((out / "meta.json").read_text())
            fit = meta["fit"]
            return {"samples": fit["samples"], "seconds": fit["seconds"], "samples_per_s": fit["samples_per_s"],
                    "bottleneck": fit["bottleneck"], "auc": meta["scores"].get("link_prediction_auc"), "wall_s": wall}

        rows.append(measured({"part": "embed", "run": f"graphsys embed --device {devices} --partitions {partitions}",
                              "processes": workers, "nodes": nodes, "edges_stored": edges, "epochs": args.embed_epochs,
                              "command": " ".join(command)}, measure))
    base = rows[0].get("seconds")
    for row in rows:
        if base is not None and "seconds" in row:
            row["speedup"] = base / row["seconds"]
    return rows


_COLUMNS = {
    "train": ["run", "processes", "epoch_s", "seeds_per_s", "efficiency", "batches_per_rank", "peak_gpu_mib"],
    "pipeline": ["run", "processes", "layers", "epochs", "epoch_s", "comm_MB", "activations_MB", "gradients_MB",
                 "halo_MB", "param_grads_MB", "test_acc", "max_staleness"],
    "embed": ["run", "processes", "samples", "seconds", "samples_per_s", "speedup", "bottleneck", "auc"],
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, required=True,
                        help="N: GPUs to scale to (with --device cpu: gloo processes)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--work", default=None,
                        help="folder for logs, metrics and embeddings (default: $OUT, else a temporary folder)")
    parser.add_argument("--root", default=None,
                        help="synthetic dataset cache (default: <work>/data); generated once, reopened after")
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic-products scale (train and pipeline)")
    parser.add_argument("--train-counts", default=None,
                        help="train: comma-separated GPU counts to run, starting with 1 (default 1,2,...,N)")
    parser.add_argument("--train-epochs", type=int, default=4, help="train: epochs per run (the first is not timed)")
    parser.add_argument("--layers", type=int, default=16, help="pipeline: message-passing layers (16 to 32)")
    parser.add_argument("--hidden", type=int, default=64, help="pipeline: hidden width")
    parser.add_argument("--chunks", type=int, default=8, help="pipeline: chunks per partition")
    parser.add_argument("--pipeline-epochs", type=int, default=20, help="pipeline: epochs (accuracy after these)")
    parser.add_argument("--warmup", type=int, default=2, help="pipeline: staleness-free warm-up epochs (not timed)")
    parser.add_argument("--embed-nodes", type=int, default=1_100_000, help="embed: Youtube's node count")
    parser.add_argument("--embed-edges", type=int, default=2_500_000, help="embed: undirected edges (Youtube's)")
    parser.add_argument("--communities", type=int, default=10_000, help="embed: planted communities")
    parser.add_argument("--embed-scale", type=float, default=1.0, help="embed: multiplies nodes, edges, communities")
    parser.add_argument("--embed-epochs", type=float, default=4000.0,
                        help="embed: positive samples / |E| (GraphVite's Youtube setting: 4000)")
    parser.add_argument("--embed-pool-size", type=int, default=100_000_000,
                        help="embed: positive samples per pool (bench_embed.py's speed setting; 0: the config's)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds any one command may run")
    parser.add_argument("--small", action="store_true",
                        help="a minutes-long check of every step: tiny scales, few epochs, 4 layers")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f"--gpus must be at least 1, got {args.gpus}")
    if args.train_counts is None:
        args.train_counts = list(range(1, args.gpus + 1))
    else:
        try:
            args.train_counts = [int(k) for k in args.train_counts.split(",")]
        except ValueError:
            parser.error(f"--train-counts must be comma-separated integers like 1,2,4, got {args.train_counts!r}")
        if args.train_counts[0] != 1 or not all(1 <= k <= args.gpus for k in args.train_counts):
            parser.error(f"--train-counts {args.train_counts} must start with 1 (the efficiency's T1) "
                         f"and stay within 1..{args.gpus}")
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown --parts {','.join(unknown)}; choose from {','.join(PARTS)}")
    if args.small:
        args.scale, args.train_epochs, args.layers, args.hidden = 0.01, 2, 4, 16
        args.chunks, args.pipeline_epochs, args.warmup = 2, 3, 1
        args.embed_scale, args.embed_epochs, args.embed_pool_size = 0.01, 200.0, 0
        args.timeout = min(args.timeout, 600.0)
    if args.pipeline_epochs <= args.warmup:
        parser.error(f"--pipeline-epochs {args.pipeline_epochs} leaves no epoch after --warmup {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work or os.environ.get("OUT") or tempfile.mkdtemp(prefix="graphsys-multi-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    args.root = Path(args.root) if args.root else work / "data"
    figures: dict = {"gpus": args.gpus, "device": args.device, "small": args.small, "work": str(work),
                     "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    rows: list[dict] = []
    parts = list(args.parts)
    if {"train", "pipeline"} & set(parts):
        command = [sys.executable, "-m", "graphsys", "data", "generate", "synthetic-products",
                   "--out", str(args.root), "--scale", str(args.scale), "--quiet"]
        generated = measured({"part": "generate", "run": "graphsys data generate", "command": " ".join(command)},
                             lambda: {"wall_s": run_step("generate", command, work, 1, args.timeout)})
        if "error" in generated:
            rows.append(generated)
            parts = [p for p in parts if p not in ("train", "pipeline")]
    # The CPU check must not pass for (or replace) the GPU machine's results.
    result_name = "multi_gpu" if args.device == "cuda" else "multi_gpu_cpu_check"
    for part in parts:
        print(f"== {part}", flush=True)
        found = {"train": part_train, "pipeline": part_pipeline, "embed": part_embed}[part](args, work)
        rows += found
        print(format_table(found, _COLUMNS[part] + ["error"]), flush=True)
        write_result(result_name, figures, rows)
    train_rows = [r for r in rows if r["part"] == "train"]
    if train_rows and "efficiency" in train_rows[-1]:
        figures["train_efficiency_at_N"] = train_rows[-1]["efficiency"]
        figures["train_efficiency_goal"] = 0.85
    figures["errors"] = [r["error"] for r in rows if "error" in r]
    path = write_result(result_name, figures, rows)
    print(f"results: {path}", flush=True)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
