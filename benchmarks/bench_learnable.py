"""Learnable tables: rows/s of lookup + backward + sparse step, table pinned vs in GPU memory (GPU).

A ``zerocopy.HostEmbedding`` of ``--rows`` x ``--dim`` float32 (50 M x 64: 12.8 GB) is trained on
batches of ``--batch`` unique random ids (200 K) with each optimizer in ``--optimizers``; every
placement is measured side by side in one run: ``pinned`` (rows read and written by GPU threads
over PCIe) against ``cuda`` (the same table in GPU memory), or ``cpu`` on a machine without a GPU.

* ``lookup``: the forward pass alone (unique rows by a sort, one zero-copy gather);
* ``train step``: forward, backward (the summed row gradients) and ``optimizer.step()``, which
  reads the rows and their state and writes both back.

``host GB/s`` counts the bytes a pinned step moves over PCIe: the forward's read of the rows, the
step's read and write of rows and state. Tables start as zeros (``init_std=0``: the values do not
change the speed, and drawing 3.2 G normals would take longer than the measurement).

    PYTHONPATH=. python benchmarks/bench_learnable.py                  # on a GPU
    PYTHONPATH=. python benchmarks/bench_learnable.py --small          # a check that runs on the CPU
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import format_table, write_result  # noqa: E402
from zerocopy import HostEmbedding, SparseAdam, SparseRowAdagrad  # noqa: E402

OPTIMIZERS = {"adagrad": (SparseRowAdagrad, 0.01), "adam": (SparseAdam, 1e-3)}
"""name: (optimizer class, its default learning rate)."""


def _timed(run, steps: int, device: torch.device) -> float:
    """Seconds per call of ``run(i)`` over ``steps`` calls, the device synchronised around them."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        run(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def measure(placement: str, optimizer_name: str, args: argparse.Namespace) -> dict:
    """One placement and optimizer: seconds per lookup and per train step, rows/s, host GB/s."""
    device = torch.device("cuda" if placement != "cpu" else "cpu")
    optimizer_class, lr = OPTIMIZERS[optimizer_name]
    table = HostEmbedding(args.rows, args.dim, placement=placement, init_std=0, check_ids=False)
    optimizer = optimizer_class([table], lr=lr)
    g = torch.Generator(device=device).manual_seed(0)
    batches = [torch.randperm(args.rows, generator=g, device=device)[: args.batch]
               for _ in range(args.warmup + args.steps)]

    def lookup(i: int) -> None:
        with torch.no_grad():
            table(batches[i])

    def train(i: int) -> None:
        table(batches[i]).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()

    _timed(lambda i: train(i), args.warmup, device)  # compiles the kernels, warms the allocator
    lookup_s = _timed(lambda i: lookup(args.warmup + i), args.steps, device)
    train_s = _timed(lambda i: train(args.warmup + i), args.steps, device)
    row_bytes = args.dim * 4
    state_per_row = 4 if optimizer_name == "adagrad" else 8 * args.dim  # one float32 per row; two per element
    moved = args.batch * (3 * row_bytes + 2 * state_per_row)
    optimizer.close()
    table.close()
    table = optimizer = batches = None  # frees the memory the closures above hold, before empty_cache
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "optimizer": optimizer_name,
        "placement": placement,
        "lookup_ms": lookup_s * 1e3,
        "train_step_ms": train_s * 1e3,
        "lookup_rows_per_s": args.batch / lookup_s,
        "train_rows_per_s": args.batch / train_s,
        "host_GB_per_s": moved / train_s / 1e9 if placement == "pinned" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=200_000, help="unique ids per batch")
    parser.add_argument("--steps", type=int, default=20, help="measured steps per configuration")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--optimizers", default="adagrad,adam")
    parser.add_argument("--small", action="store_true",
                        help="20 K x 16, batches of 2 K, 3 steps: a check on any machine")
    args = parser.parse_args()
    if args.small:
        args.rows, args.dim, args.batch, args.steps, args.warmup = 20_000, 16, 2_000, 3, 1
    placements = ["pinned", "cuda"] if torch.cuda.is_available() else ["cpu"]
    rows = []
    for name in args.optimizers.split(","):
        for placement in placements:
            rows.append(measure(placement, name, args))
            print(rows[-1], flush=True)
    print(format_table(rows))
    figures = {"rows": args.rows, "dim": args.dim, "dtype": "float32", "batch_unique_ids": args.batch,
               "steps": args.steps, "table_GB": args.rows * args.dim * 4 / 1e9}
    for row in rows:
        if row["placement"] == "pinned":
            gpu = next(r for r in rows if r["placement"] == "cuda" and r["optimizer"] == row["optimizer"])
            figures[f"{row['optimizer']}_pinned_over_cuda_step_time"] = row["train_step_ms"] / gpu["train_step_ms"]
    print(write_result("learnable_small" if args.small else "learnable", figures, rows))


if __name__ == "__main__":
    main()
