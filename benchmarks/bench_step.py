"""Training-step benchmark: where one GraphSAGE minibatch step spends its time, and what shortens it.

``bench_train.py`` found the epochs on the H200 compute-bound (papers100M: 9.2 of 9.9 s in the
model step, with everything in GPU memory). This script takes the data path out: it samples
``--batches`` batches of the synthetic ogbn-products preset (fanouts [15, 10, 5], batch 1024,
everything in GPU memory) once, then times the step ``graphsys train`` runs (PyG's GraphSAGE,
3 layers, hidden 256, per-hop trimming, cross-entropy, Adam) over them, in variants:

* ``fp32`` and ``bf16`` (autocast): the step as ``graphsys.train`` runs it (its model trims each
  layer's outputs to the nodes the next layer reads: ``graphsys.train.models.DestinationTrim``);
* ``+pyg_trim``: the same model with PyG's own per-hop trimming (every layer computes an output row
  for each of its input nodes), the step before ``DestinationTrim``;

``first_loss`` is every variant's loss on the first batch in eval mode (same initial parameters, no
dropout): equal up to rounding when the variants compute the same model.

The optimizer is ``graphsys.train``'s (``build_optimizer``: fused Adam on a GPU).

For each: ms per step (wall, synchronized), and from ``torch.profiler`` over ``--profile-steps``
steps the GPU kernel time per step, so that ``gpu_busy / wall`` says whether the step is bound by
kernels or by the host launching them. ``--profile-table`` prints the top kernels.

    PYTHONPATH=. python benchmarks/bench_step.py --root /tmp/gd         # the H200 run
    PYTHONPATH=. python benchmarks/bench_step.py --scale 0.01 --batches 4   # any machine
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import add_products_batch_args, format_table, write_result  # noqa: E402
from graphsys.datasets import load  # noqa: E402
from graphsys.loader import NodeLoader  # noqa: E402
from graphsys.train import TrainConfig  # noqa: E402
from graphsys.train.models import build_model, build_optimizer  # noqa: E402
from sampling import NeighborSampler  # noqa: E402

log = logging.getLogger("bench_step")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_products_batch_args(p)
    p.add_argument("--batches", type=int, default=40, help="distinct sampled batches, stepped over in turn")
    p.add_argument("--steps", type=int, default=200, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps per variant first")
    p.add_argument("--profile-steps", type=int, default=20, help="steps under torch.profiler per variant (0: none)")
    p.add_argument("--profile-table", action="store_true", help="print the top kernels of every variant")
    p.add_argument("--variants", default="fp32,fp32+pyg_trim,bf16,bf16+pyg_trim",
                   help="comma-separated variants: fp32 or bf16, each optionally +pyg_trim")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars while generating the dataset")
    return p.parse_args(argv)


def sample_batches(ds, args, device: torch.device, fanouts: list[int]) -> list:
    """``--batches`` batches of the GPU-resident loader (the data the step reads, nothing else)."""
    graph = ds.graph.to("cuda" if device.type == "cuda" else "cpu")
    sampler = NeighborSampler(graph.indptr, graph.indices, fanouts, seed=args.seed, validate=False)
    x, y = ds.x.to(device), ds.y.to(device)
    loader = NodeLoader(sampler, x, y, ds.train_idx, args.batch_size, seed=args.seed)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == args.batches:
            break
    return batches


class Step:
    """One training step of ``graphsys.train``'s loop (its model, dropout 0.5, its optimizer), in a variant."""

    def __init__(self, variant: str, in_dim: int, num_classes: int, fanouts: list[int], device: torch.device) -> None:
        from torch_geometric.utils._trim_to_layer import TrimToLayer

        parts = variant.split("+")
        if parts[0] not in ("fp32", "bf16") or len(parts) > 2 or set(parts[1:]) - {"pyg_trim"}:
            raise ValueError(f"unknown variant {variant!r}: expected fp32 or bf16, optionally +pyg_trim")
        self.bf16 = parts[0] == "bf16"
        config = TrainConfig("synthetic-products", layers=len(fanouts), fanouts=tuple(fanouts), hidden=256)
        self.model = build_model(config, in_dim, num_classes).to(device)
        if "pyg_trim" in parts:
            self.model._trim = TrimToLayer()
        self.optimizer = build_optimizer(config, self.model)
        self.device = device

    def eval_loss(self, batch) -> float:
        """The loss on ``batch`` in eval mode (no dropout), parameters unchanged: equal across variants
        up to rounding when they compute the same model."""
        self.model.eval()
        with torch.no_grad():
            loss = self._loss(batch)
        self.model.train()
        return float(loss)

    def _loss(self, batch) -> torch.Tensor:
        """Cross-entropy of the seeds' outputs, the forward under bf16 autocast in a bf16 variant (a
        float32 variant casts the rows of a table stored in a narrower dtype)."""
        autocast = (torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
                    if self.bf16 else contextlib.nullcontext())
        x = batch.x if self.bf16 or batch.x.dtype == torch.float32 else batch.x.float()
        with autocast:
            out = self.model(x, batch.edge_index, num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                             num_sampled_edges_per_hop=batch.num_sampled_edges)[: batch.batch_size]
        return F.cross_entropy(out.float(), batch.y[: batch.batch_size])

    def __call__(self, batch) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(batch)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Step, batches: list, count: int, device: torch.device) -> float:
    """Seconds for ``count`` steps over ``batches`` in turn (synchronized at both ends)."""
    sync(device)
    start = time.perf_counter()
    for i in range(count):
        step(batches[i % len(batches)])
    sync(device)
    return time.perf_counter() - start


def profile_steps(name: str, step: Step, batches: list, count: int, show: bool) -> float:
    """GPU kernel seconds per step over ``count`` profiled steps; the top kernels go to $OUT/profile_step.txt."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(count):
            step(batches[i % len(batches)])
        torch.cuda.synchronize()
    events = prof.key_averages()
    kernel_us = sum(e.self_device_time_total for e in events if e.device_type.name == "CUDA")
    table = f"{name}\n{events.table(sort_by='self_cuda_time_total', row_limit=25)}\n"
    if show:
        print(table)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "profile_step.txt"), "a") as fh:
            fh.write(table)
    return kernel_us / 1e6 / count


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fanouts = [int(f) for f in args.fanouts.split(",")]
    ds = load("synthetic-products", root=args.root, scale=args.scale, seed=args.seed, quiet=args.quiet)
    batches = sample_batches(ds, args, device, fanouts)
    mean_nodes = sum(b.x.shape[0] for b in batches) / len(batches)
    mean_edges = sum(b.edge_index.shape[1] for b in batches) / len(batches)
    log.info("%d batches: %.0f nodes, %.0f edges each", len(batches), mean_nodes, mean_edges)
    rows = []
    for variant in args.variants.split(","):
        if variant.startswith("bf16") and device.type != "cuda":
            continue
        step = Step(variant, ds.x.shape[1], ds.num_classes, fanouts, device)
        first_loss = step.eval_loss(batches[0])
        step(batches[0])
        time_steps(step, batches, args.warmup, device)
        seconds = time_steps(step, batches, args.steps, device)
        row = {"variant": variant, "steps": args.steps, "ms_per_step": 1e3 * seconds / args.steps,
               "steps_per_s": args.steps / seconds, "first_loss": first_loss}
        if args.profile_steps > 0 and device.type == "cuda":
            busy = profile_steps(variant, step, batches, args.profile_steps, args.profile_table)
            row["gpu_kernel_ms_per_step"] = 1e3 * busy
            row["gpu_busy_share"] = busy / (seconds / args.steps)
        rows.append(row)
        log.info("%s: %.2f ms per step", variant, row["ms_per_step"])
        del step
    print(format_table(rows, ["variant", "steps", "ms_per_step", "steps_per_s", "first_loss",
                              "gpu_kernel_ms_per_step", "gpu_busy_share"]))
    figures = {"dataset": "synthetic-products", "scale": args.scale, "fanouts": fanouts,
               "batch_size": args.batch_size, "batches": len(batches), "mean_nodes": mean_nodes,
               "mean_edges": mean_edges, "device": str(device)}
    write_result("bench_step" if device.type == "cuda" else "bench_step_cpu", figures, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
