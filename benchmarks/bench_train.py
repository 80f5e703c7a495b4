"""Training epoch time side by side: all in GPU memory, zero-copy pinned features, the conventional pipeline.

GraphSAGE, 3 layers, hidden 256, fanouts 15,10,5, batch 1024 on the synthetic-products preset:

- ``gpu``: features and CSR in GPU memory (the ceiling; ``gpu bf16`` the same under bf16 autocast);
- ``pinned+cache``: features in pinned host memory read by the GPU (zero-copy) with 20% of the
  rows (highest in-degree) cached in GPU memory, CSR in GPU memory;
- ``pinned``: the same without the cache;
- ``pinned+cache bf16``: with bf16 autocast for the compute (``graphed``: and the sampler's
  launches replayed as a CUDA graph);
- ``conventional``: CPU sampling and CPU feature gathering (all cores), batches copied to the GPU.

and the synthetic-papers100m preset (111 M nodes, 1.6 B edges at scale 1, float16 features in
pinned memory, 20% cache, CSR in GPU memory, bf16 and float32; then ``gpu bf16``, the 26.5 GiB
table in GPU memory, and ``pinned+cache bf16 graphed``). Each run is a separate ``graphsys train``
process (so peak host and GPU memory are its own), reading the dataset from a cache folder
that the first run writes. Epoch time is the median over the epochs after the first.

and with ``--mag-scale`` R-GCN on synthetic-mag (mean features; gpu, pinned+cache, conventional,
and the paper-only ``mlp`` baseline, each evaluated after its last epoch), with
``--mag240m-scale`` R-GCN on synthetic-mag240m (float16 paper features pinned, authors and
institutions learned in pinned memory).

and with ``--citation2-scale`` link prediction on synthetic-citation2 (GraphSAGE 3 x 256 encoder,
MLP predictor, fanouts 15,10,5, batch 1024 positive edges with one uniform negative each, the
batch's positives out of its message passing): gpu, pinned+cache, conventional, and the
features-only ``mlp`` encoder as the quality baseline, each evaluated after its last epoch (MRR of
every test source against its 1,000 negatives; ``embed_s`` is the layer-wise inference of every
node, ``test_score_s`` the scoring of all test candidates and ogb's Evaluator).

CPU smoke run (only the runs a machine without a GPU can do)::

    PYTHONPATH=. python benchmarks/bench_train.py --scale 0.01 --papers-scale 0 --epochs 2
    PYTHONPATH=. python benchmarks/bench_train.py --scale 0 --papers-scale 0 --mag-scale 0.01 --epochs 2
    PYTHONPATH=. python benchmarks/bench_train.py --scale 0 --papers-scale 0 --citation2-scale 0.001 --epochs 2
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, write_result  # noqa: E402

MODEL = ["--model", "sage", "--layers", "3", "--hidden", "256", "--fanouts", "15,10,5", "--batch-size", "1024"]
#: R-GCN on synthetic-mag as PyG's ogbn-mag example samples it (10 per edge type and hop), on
#: features derived as neighbour means; on synthetic-mag240m OGB-LSC's MAG240M baseline (hidden 1024,
#: fanouts 25,15), papers' float16 features pinned, authors and institutions learned in pinned memory.
MAG_MODEL = ["--model", "rgcn", "--featureless", "mean", "--layers", "2", "--hidden", "256", "--fanouts", "10,10",
             "--batch-size", "1024"]
#: Link prediction on synthetic-citation2: the products model as encoder, OGB's MLP link predictor.
CITATION2_MODEL = ["--task", "link", *MODEL, "--predictor", "mlp"]
MAG240M_MODEL = ["--model", "rgcn", "--featureless", "learn", "--layers", "2", "--hidden", "1024", "--fanouts",
                 "25,15", "--batch-size", "1024"]

#: (name, flags) of each products run; the first needs nothing but a CPU.
PRODUCTS_RUNS = [
    ("conventional", ["--features", "cpu", "--graph", "cpu"]),
    ("gpu", ["--features", "cuda", "--graph", "cuda"]),
    ("gpu bf16", ["--features", "cuda", "--graph", "cuda", "--amp", "bf16"]),
    ("pinned", ["--features", "pinned", "--graph", "cuda"]),
    ("pinned+cache", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda"]),
    ("pinned+cache bf16", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda", "--amp", "bf16"]),
    ("pinned+cache bf16 graphed", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda", "--amp", "bf16",
                                   "--cuda-graph"]),
]
#: The mag runs are evaluated after their last epoch (test accuracy against the paper-only MLP).
MAG_RUNS = [
    ("conventional", ["--features", "cpu", "--graph", "cpu"]),
    ("gpu", ["--features", "cuda", "--graph", "cuda"]),
    ("pinned+cache", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda"]),
    ("mlp", ["--model", "mlp", "--features", "cuda", "--graph", "cuda"]),
]
#: Evaluated after their last epoch: MRR of the GNN against the features-only MLP encoder, evaluation time.
CITATION2_RUNS = [
    ("conventional", ["--features", "cpu", "--graph", "cpu"]),
    ("gpu", ["--features", "cuda", "--graph", "cuda"]),
    ("pinned+cache", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda"]),
    ("mlp", ["--model", "mlp", "--features", "cuda", "--graph", "cuda"]),
]
#: The presets evaluated after their last epoch.
EVALUATED = ("synthetic-mag", "synthetic-citation2")
MAG240M_RUNS = [
    ("pinned+cache learn", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda"]),
    ("pinned+cache learn bf16", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda", "--amp", "bf16"]),
]
PAPERS_RUNS = [
    ("pinned+cache bf16", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda", "--amp", "bf16"]),
    ("pinned+cache", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda"]),
    ("gpu", ["--features", "cuda", "--graph", "cuda"]),
    ("gpu bf16", ["--features", "cuda", "--graph", "cuda", "--amp", "bf16"]),
    ("pinned+cache bf16 graphed", ["--features", "pinned", "--cache", "0.2", "--graph", "cuda", "--amp", "bf16",
                                   "--cuda-graph"]),
]


def _tail(path: Path, lines: int = 10) -> str:
    """The last ``lines`` lines of a child's log."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def run_one(dataset: str, scale: float, name: str, flags: list[str], args, root: Path, workdir: Path,
            logs: Path, env: dict[str, str] | None = None) -> dict:
    """One ``graphsys train`` process (``env`` added to its environment), its output streamed to a
    log in ``logs`` (kept when the run times out or this script is killed); returns its summary
    row (or the error it ended with). The mag presets are evaluated after the last epoch."""
    slug = f"{dataset}-{name}".replace(" ", "_").replace("+", "_").replace("/", "_").replace("=", "")
    metrics = workdir / f"{slug}.jsonl"
    log = logs / f"{slug}.log"
    model = {"synthetic-mag": MAG_MODEL, "synthetic-mag240m": MAG240M_MODEL,
             "synthetic-citation2": CITATION2_MODEL}.get(dataset, MODEL)
    evaluate = str(args.epochs) if dataset in EVALUATED else "0"
    cmd = [sys.executable, "-m", "graphsys", "--verbose", "train", "--dataset", dataset, "--scale", str(scale),
           "--root", str(root), *model, *flags, "--epochs", str(args.epochs), "--eval-every", evaluate,
           "--metrics-out", str(metrics), "--quiet"]
    row = {"dataset": dataset, "scale": scale, "run": name, "flags": " ".join(flags)}
    if not torch.cuda.is_available() and name != "conventional":
        return {**row, "status": "skipped (no GPU)"}
    t0 = time.perf_counter()
    try:
        with open(log, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=args.timeout,
                                  env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        # What the run printed before it was stopped: its log lines say how far it got.
        return {**row, "status": f"timed out after {args.timeout:g} s", "log_tail": _tail(log)}
    row["wall_s"] = time.perf_counter() - t0
    if proc.returncode != 0:
        return {**row, "status": f"failed ({proc.returncode})", "log_tail": _tail(log)}
    epochs = [json.loads(line) for line in metrics.read_text().splitlines()]
    timed = epochs[1:] if len(epochs) > 1 else epochs
    med = lambda key: statistics.median(e[key] for e in timed)  # noqa: E731
    return {
        **row, "status": "ok", "epochs": len(epochs),
        "epoch_s": med("train_s"), "first_epoch_s": epochs[0]["train_s"],
        "sample_s": med("sample_s"), "gather_s": med("gather_s"), "compute_s": med("compute_s"),
        "seeds_per_s": med("seeds_per_s"), "batches": epochs[-1]["batches"], "loss": epochs[-1]["loss"],
        "peak_gpu_mib": max((e["peak_gpu_mib"] or 0.0) for e in epochs) if torch.cuda.is_available() else None,
        "peak_host_mib": max(e["peak_host_mib"] for e in epochs),
        "val_acc": epochs[-1].get("val_acc"), "test_acc": epochs[-1].get("test_acc"),
        # link prediction: the metric (mrr), its scores and how long evaluation took
        **{key: epochs[-1][key] for key in ("metric", "val_score", "test_score", "eval_s", "embed_s", "test_score_s")
           if key in epochs[-1] and "val_score" in epochs[-1]},
        # --verbose logs how long loading, placing the graph, pinning and the cache took.
        "setup_log": [line for line in log.read_text(errors="replace").splitlines() if " INFO " in line],
    }


def summary(rows: list[dict]) -> dict:
    """The figures the issue's targets are about, from the rows so far."""

    def epoch(dataset: str, run: str) -> float | None:
        for r in rows:
            if r["dataset"] == dataset and r["run"] == run and r["status"] == "ok":
                return r["epoch_s"]
        return None

    figures = {}
    gpu, cached, conv = (epoch("synthetic-products", n) for n in ("gpu", "pinned+cache", "conventional"))
    if gpu and cached:
        figures["products_pinned_cache_over_gpu"] = cached / gpu
    papers_gpu, papers_cached = (epoch("synthetic-papers100m", n) for n in ("gpu", "pinned+cache"))
    if papers_gpu and papers_cached:
        figures["synthetic-papers100m:pinned+cache over gpu"] = papers_cached / papers_gpu
    for dataset in ("synthetic-products", "synthetic-papers100m"):
        gpu_bf16, cached_bf16 = (epoch(dataset, n) for n in ("gpu bf16", "pinned+cache bf16"))
        if gpu_bf16 and cached_bf16:
            figures[f"{dataset}:pinned+cache bf16 over gpu bf16"] = cached_bf16 / gpu_bf16
    if conv and cached:
        figures["products_conventional_over_pinned_cache"] = conv / cached
    mag_gpu, mag_cached, mag_conv = (epoch("synthetic-mag", n) for n in ("gpu", "pinned+cache", "conventional"))
    if mag_gpu and mag_cached:
        figures["synthetic-mag:pinned+cache over gpu"] = mag_cached / mag_gpu
    if mag_conv and mag_cached:
        figures["synthetic-mag:conventional over pinned+cache"] = mag_conv / mag_cached
    accuracy = {r["run"]: r.get("test_acc") for r in rows if r["dataset"] == "synthetic-mag" and r["status"] == "ok"}
    if accuracy.get("gpu") is not None and accuracy.get("mlp") is not None:
        figures["synthetic-mag:rgcn test acc"] = accuracy["gpu"]
        figures["synthetic-mag:mlp test acc"] = accuracy["mlp"]
        figures["synthetic-mag:rgcn minus mlp test acc"] = accuracy["gpu"] - accuracy["mlp"]
    cit_gpu, cit_cached, cit_conv = (epoch("synthetic-citation2", n) for n in ("gpu", "pinned+cache", "conventional"))
    if cit_gpu and cit_cached:
        figures["synthetic-citation2:pinned+cache over gpu"] = cit_cached / cit_gpu
    if cit_conv and cit_cached:
        figures["synthetic-citation2:conventional over pinned+cache"] = cit_conv / cit_cached
    link = {r["run"]: r for r in rows if r["dataset"] == "synthetic-citation2" and r["status"] == "ok"}
    for run, r in link.items():
        for key in ("test_score", "embed_s", "test_score_s", "peak_gpu_mib", "peak_host_mib"):
            if r.get(key) is not None:
                figures[f"synthetic-citation2:{run}:{key}"] = r[key]
    if link.get("gpu", {}).get("test_score") is not None and link.get("mlp", {}).get("test_score") is not None:
        figures["synthetic-citation2:sage minus mlp test mrr"] = link["gpu"]["test_score"] - link["mlp"]["test_score"]
    for dataset in ("synthetic-products", "synthetic-papers100m", "synthetic-mag240m"):
        for run in ("pinned+cache", "pinned+cache bf16", "pinned+cache learn", "pinned+cache learn bf16"):
            value = epoch(dataset, run)
            if value is not None:
                figures[f"{dataset}:{run}:epoch_s"] = value
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic-products scale (0: skip)")
    parser.add_argument("--papers-scale", type=float, default=1.0, help="synthetic-papers100m scale (0: skip)")
    parser.add_argument("--mag-scale", type=float, default=0.0, help="synthetic-mag scale (0: skip)")
    parser.add_argument("--mag240m-scale", type=float, default=0.0, help="synthetic-mag240m scale (0: skip)")
    parser.add_argument("--citation2-scale", type=float, default=0.0,
                        help="synthetic-citation2 scale, link prediction (0: skip)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is not timed")
    parser.add_argument("--root", default=None, help="dataset cache folder (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run")
    parser.add_argument("--logs", default=None,
                        help="folder for each run's output, streamed as it runs (default: a temporary folder)")
    parser.add_argument("--runs", default=None, help="comma-separated run names to keep (default: all)")
    parser.add_argument("--gather-programs", default="",
                        help="comma-separated ZEROCOPY_OVERLAP_PROGRAMS_PER_SM values: for each, one more run of "
                             "each preset's pinned+cache and pinned+cache bf16 (those of them --runs keeps), the "
                             "loader's zero-copy kernel on that many programs per SM (0: one per block of rows)")
    parser.add_argument("--gather-groups", default="",
                        help="comma-separated --gather-group values: for each, one more run of each preset's "
                             "pinned+cache and pinned+cache bf16 (those of them --runs keeps), each zero-copy "
                             "gather reading that many batches' rows")
    args = parser.parse_args()

    keep = set(args.runs.split(",")) if args.runs else None
    presets = [(d, scale, runs) for d, scale, runs in (("synthetic-products", args.scale, PRODUCTS_RUNS),
                                                       ("synthetic-papers100m", args.papers_scale, PAPERS_RUNS),
                                                       ("synthetic-mag", args.mag_scale, MAG_RUNS),
                                                       ("synthetic-mag240m", args.mag240m_scale, MAG240M_RUNS),
                                                       ("synthetic-citation2", args.citation2_scale, CITATION2_RUNS))
               if scale > 0]
    plan = [(d, scale, n, f, None) for d, scale, runs in presets for n, f in runs if keep is None or n in keep]
    variants = [(f"programs/SM={v}", [], {"ZEROCOPY_OVERLAP_PROGRAMS_PER_SM": v})
                for v in args.gather_programs.split(",") if v]
    variants += [(f"gather group {v}", ["--gather-group", v], None) for v in args.gather_groups.split(",") if v]
    for label, extra, env in variants:
        for dataset, scale, runs in presets:
            for name, flags in runs:
                if name in ("pinned+cache", "pinned+cache bf16") and (keep is None or name in keep):
                    plan.append((dataset, scale, f"{name} {label}", flags + extra, env))

    # A run without a GPU (a smoke run) must not replace the GPU machine's results, nor a papers-only
    # run (one device call cannot hold both presets) the products ones.
    result = ("bench_train" if args.scale > 0 else "bench_train_papers" if args.papers_scale > 0
              else "bench_train_mag" if args.mag_scale > 0 else "bench_train_mag240m" if args.mag240m_scale > 0
              else "bench_train_citation2")
    result += "" if torch.cuda.is_available() else "_cpu"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        root = Path(args.root) if args.root else Path(tmp) / "data"
        logs = Path(args.logs) if args.logs else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for dataset, scale, name, flags, env in plan:
            row = run_one(dataset, scale, name, flags, args, root, Path(tmp), logs, env)
            rows.append(row)
            print(json.dumps(row), flush=True)
            # Written after every run, so a benchmark stopped part-way keeps what it measured.
            write_result(result, summary(rows), rows)

    columns = ["dataset", "scale", "run", "status", "epoch_s", "sample_s", "gather_s", "compute_s", "seeds_per_s",
               "batches", "loss", "test_acc", "test_score", "embed_s", "test_score_s", "peak_gpu_mib", "peak_host_mib"]
    print(format_table(rows, columns))
    for key, value in summary(rows).items():
        print(f"{key}: {value:.3f}")
    print(f"cpu threads: torch {torch.get_num_threads()}, os {os.cpu_count()}")


if __name__ == "__main__":
    main()
