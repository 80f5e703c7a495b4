"""Epoch time over its step floor: how close a whole training epoch comes to its model steps alone.

Issue 21, section 1. Each run trains with ``graphsys train``'s own trainer (``graphsys.train.Trainer.fit``:
GraphSAGE 3 x 256 (``--hidden``), fanouts 15,10,5, batch 1024, Adam, no evaluation) for ``--epochs``
epochs; the first is warm-up (compilation, allocator growth) and is not timed. The epoch time is the
trainer's ``train_s`` (``bench_train.py``'s ``epoch_s``). After each timed epoch the step floor is measured
in the same process: the same epoch's batches are drawn again (``Trainer.epoch_batches``: the same seeds in
the same order and the same sampler seed, so the same batches), the parameters and optimizer state put back
to where the epoch started, and the training step alone (``Trainer.train_step``: forward, loss, backward,
optimizer step; ``bench_step.py``'s method, synchronized at both ends) replayed over them with the same
dropout masks. The replay's mean loss equals the epoch's (up to the float non-determinism of GPU
scatter-adds): the check that the batches are the epoch's own. Then the state after the epoch is put back
and training goes on. The floor is the replay's time; ``epoch_over_step_floor`` the median over the timed
epochs of epoch time over floor.

The batches are drawn again rather than kept while the epoch runs because keeping them would change the
epoch being timed (none of its batch memory could be reused), and a papers100M-sized epoch's features do not
fit in GPU memory. The replay keeps every batch's sampled subgraph on the device (``edge_index``, ``n_id``,
labels) and, before timing a chunk of batches, reads their features from the run's table (the rows the
loader read; untimed) for as many batches as :data:`REPLAY_MEMORY_SHARE` of the free memory holds.

Runs on a GPU: synthetic-products with everything in GPU memory (``gpu``) and with features pinned behind a
20% GPU cache (``pinned+cache``), each in float32 and under bf16 autocast; synthetic-papers100m (float16
features pinned, 20% cache, CSR in GPU memory) in each ``--papers-amp``. On a CPU (``--device cpu``, a smoke
run) every run is placed on the CPU (``cpu``). ``papers100m_epoch_s`` is the fastest papers100M run's epoch.

    PYTHONPATH=. python benchmarks/bench_floor.py --root /tmp/graphsys-train-data    # the GPU run
    PYTHONPATH=. python benchmarks/bench_floor.py --scale 0.01 --papers-scale 0 --device cpu   # any machine
"""
from __future__ import annotations

import argparse
import copy
import gc
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import add_products_batch_args, format_table, write_result  # noqa: E402
from graphsys.datasets import load  # noqa: E402
from graphsys.loader import gather_rows  # noqa: E402
from graphsys.train import EpochMetrics, TrainConfig, Trainer  # noqa: E402
from graphsys.train.distributed import setup, teardown  # noqa: E402

log = logging.getLogger("bench_floor")

#: Share of the free memory (GPU memory on a GPU) that holds the features of the batches replayed in one
#: timed chunk; the rest is left to the steps' activations and gradients (a products run's whole epoch
#: peaks at about 2.4 GiB of GPU memory, its feature table included: bench_train's peak_gpu_mib). Turning it
#: down only splits the replay into more chunks, each starting and ending with a sync.
REPLAY_MEMORY_SHARE = 0.5

#: Relative difference between a replay's mean loss and its epoch's above which a warning says that the
#: batches or the steps differ from the epoch's. On the CPU the two are equal; on a GPU the float
#: non-determinism of scatter-adds moves them apart by an amount not measured yet (1e-3 is a guess).
LOSS_TOLERANCE = 1e-3

DATASETS = {"products": "synthetic-products", "papers100m": "synthetic-papers100m"}

#: TrainConfig placements of each run kind: everything in GPU memory, features pinned behind a 20% GPU
#: cache (the issue's runs), or everything on the CPU (the smoke run of a machine without a GPU).
PLACEMENTS = {
    "gpu": {"features": "cuda", "graph": "cuda"},
    "pinned+cache": {"features": "pinned", "cache": 0.2, "graph": "cuda"},
    "cpu": {"features": "cpu", "graph": "cpu", "device": "cpu"},
}


@dataclass(frozen=True)
class Run:
    """One training run: a preset (a key of :data:`DATASETS`), a placement (of :data:`PLACEMENTS`), an amp."""

    preset: str
    placement: str
    amp: str

    @property
    def name(self) -> str:
        return f"{self.preset} {self.placement} {'bf16' if self.amp == 'bf16' else 'fp32'}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_products_batch_args(p)
    p.add_argument("--papers-scale", type=float, default=1.0, help="synthetic-papers100m scale (0: skip)")
    p.add_argument("--papers-amp", default="none", help="comma-separated amps of the papers100M runs: none, bf16")
    p.add_argument("--hidden", type=int, default=256,
                   help="hidden channels (256: the issue's model; a smaller one gives a quick smoke run in which the "
                        "loader's time stands out of the steps' noise)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up, at least 2 are timed")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                   help="auto: the GPU runs when there is a GPU, else the CPU smoke runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.epochs < 3:
        p.error(f"--epochs {args.epochs}: the first epoch is not timed and at least 2 must be; give 3 or more")
    bad = set(args.papers_amp.split(",")) - {"none", "bf16"}
    if bad:
        p.error(f"--papers-amp {args.papers_amp}: {', '.join(sorted(bad))} is not none or bf16")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this machine has no CUDA GPU; use --device cpu")
    return args


def plan(args: argparse.Namespace, cuda: bool) -> list[tuple[str, float, list[Run]]]:
    """``(preset, scale, runs)`` for each preset whose scale is not 0."""
    products = ([Run("products", p, amp) for p in ("gpu", "pinned+cache") for amp in ("none", "bf16")] if cuda
                else [Run("products", "cpu", amp) for amp in ("none", "bf16")])
    papers = [Run("papers100m", "pinned+cache" if cuda else "cpu", amp) for amp in args.papers_amp.split(",")]
    return [(preset, scale, runs) for preset, scale, runs in (("products", args.scale, products),
                                                               ("papers100m", args.papers_scale, papers))
            if scale > 0]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_bytes(device: torch.device) -> int:
    """Memory a replay chunk may take on ``device``: the GPU's free memory plus what torch's allocator
    holds unused, or the host's available memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def chunks(batches: list, row_bytes: int, budget: int) -> Iterator[list]:
    """Consecutive runs of ``batches`` whose feature rows take at most ``budget`` bytes (one batch at least)."""
    chunk, used = [], 0
    for batch in batches:
        size = batch.n_id.numel() * row_bytes
        if chunk and used + size > budget:
            yield chunk
            chunk, used = [], 0
        chunk.append(batch)
        used += size
    if chunk:
        yield chunk


def replay_epoch(trainer: Trainer, epoch: int) -> tuple[float, int, float]:
    """``(seconds, batches, mean loss)`` of the training step alone over ``epoch``'s batches, from the
    trainer's current state.

    The loader runs to the end of the epoch first (its producer thread is done before any step is timed);
    each batch keeps its subgraph and labels (``x`` and ``e_id`` dropped). Cost: the epoch's sampling
    again, its subgraphs held on the device, one feature gather and two syncs per chunk.
    """
    batches, _ = trainer.epoch_batches(epoch)
    kept = []
    for batch in batches:
        del batch.x, batch.e_id
        kept.append(batch)
    table, device = trainer.data.features, trainer.ctx.device
    row_bytes = math.prod(table.shape[1:]) * table.dtype.itemsize
    budget = int(REPLAY_MEMORY_SHARE * free_bytes(device))
    net, autocast = trainer.step_context()
    loss_sum = torch.zeros((), device=device)
    seconds = 0.0
    for chunk in chunks(kept, row_bytes, budget):
        for batch in chunk:
            batch.x = gather_rows(table, batch.n_id)
        sync(device)
        start = time.perf_counter()
        for batch in chunk:
            loss_sum += trainer.train_step(net, batch, autocast)
        sync(device)
        seconds += time.perf_counter() - start
        for batch in chunk:
            del batch.x
    return seconds, len(kept), loss_sum.item() / max(len(kept), 1)


def _state(trainer: Trainer) -> dict:
    """A copy of the model's parameters and the optimizer's state (GPU copies on a GPU)."""
    return copy.deepcopy({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict()})


def _restore(trainer: Trainer, state: dict) -> None:
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])


class StepFloor:
    """``Trainer.fit``'s ``on_epoch`` callback: after each epoch but the first, the step floor over that
    epoch's batches (:func:`replay_epoch`) from the state the epoch started with, then the state the epoch
    ended with put back, so training goes on as ``graphsys train`` would.

    Attributes:
        epochs: one dict per timed epoch: ``epoch``, ``epoch_s``, ``step_floor_s``, ``batches``, ``loss``,
            ``replay_loss``, and the epoch's ``sample_s``, ``gather_s``, ``compute_s``.
        first_epoch_s: the warm-up epoch's training time.
    """

    def __init__(self) -> None:
        self.epochs: list[dict] = []
        self.first_epoch_s: float | None = None
        self._trainer: Trainer | None = None
        self._start: dict | None = None

    def attach(self, trainer: Trainer) -> None:
        """Take ``trainer``'s state before its first epoch."""
        self._trainer, self._start = trainer, _state(trainer)

    def __call__(self, record: EpochMetrics) -> None:
        trainer = self._trainer
        if record.epoch == 1:
            self.first_epoch_s = record.train_s
        else:
            after = _state(trainer)
            _restore(trainer, self._start)
            seconds, batches, loss = replay_epoch(trainer, record.epoch)
            _restore(trainer, after)
            if batches != record.batches:
                raise RuntimeError(f"epoch {record.epoch}: the replay drew {batches} batches, the epoch "
                                   f"{record.batches}")
            self.epochs.append({"epoch": record.epoch, "epoch_s": record.train_s, "step_floor_s": seconds,
                                "batches": batches, "loss": record.loss, "replay_loss": loss,
                                "sample_s": record.sample_s, "gather_s": record.gather_s,
                                "compute_s": record.compute_s, "peak_gpu_mib": record.peak_gpu_mib,
                                "cache_hit_rate": record.cache_hit_rate})
            log.info("epoch %d: %.3f s, step floor %.3f s (%d batches), loss %.5f, replayed %.5f", record.epoch,
                     record.train_s, seconds, batches, record.loss, loss)
        self._start = _state(trainer)


def measure(run: Run, dataset, scale: float, args: argparse.Namespace) -> dict:
    """Train ``run`` on ``dataset`` for ``args.epochs`` epochs with a :class:`StepFloor`; its result row."""
    fanouts = tuple(int(f) for f in args.fanouts.split(","))
    config = TrainConfig(DATASETS[run.preset], root=args.root, scale=scale, model="sage", layers=len(fanouts),
                         hidden=args.hidden, fanouts=fanouts, batch_size=args.batch_size, epochs=args.epochs,
                         eval_every=0, amp=run.amp, seed=args.seed, quiet=args.quiet, **PLACEMENTS[run.placement])
    floor = StepFloor()
    ctx = setup(use_cuda=config.use_cuda(torch.cuda.is_available()))
    try:
        trainer = Trainer(config, ctx=ctx, dataset=dataset, on_epoch=floor)
        try:
            floor.attach(trainer)
            trainer.fit()
        finally:
            trainer.close()
    finally:
        teardown(ctx)
    timed = floor.epochs
    med = lambda key: statistics.median(e[key] for e in timed)  # noqa: E731
    epoch_s, step_floor_s, batches = med("epoch_s"), med("step_floor_s"), timed[-1]["batches"]
    return {
        "run": run.name, "dataset": config.dataset, "scale": scale, "features": config.features,
        "graph": config.graph, "cache": config.cache, "amp": config.amp.value, "batches": batches,
        "epochs_timed": len(timed), "epoch_s": epoch_s, "step_floor_s": step_floor_s,
        "epoch_over_step_floor": statistics.median(e["epoch_s"] / e["step_floor_s"] for e in timed),
        "step_ms_per_batch": 1e3 * step_floor_s / batches, "epoch_ms_per_batch": 1e3 * epoch_s / batches,
        "first_epoch_s": floor.first_epoch_s, "sample_s": med("sample_s"), "gather_s": med("gather_s"),
        "compute_s": med("compute_s"), "loss": timed[-1]["loss"], "replay_loss": timed[-1]["replay_loss"],
        "replay_loss_rel_diff": max(abs(e["replay_loss"] - e["loss"]) / max(abs(e["loss"]), 1e-12) for e in timed),
        "peak_gpu_mib": max((e["peak_gpu_mib"] or 0.0) for e in timed) if config.device != "cpu" else None,
        "cache_hit_rate": timed[-1]["cache_hit_rate"], "per_epoch": timed,
    }


def summary(rows: list[dict], args: argparse.Namespace, device: torch.device) -> dict:
    """The issue's figures from the rows so far: each run's epoch over its step floor, the papers100M epoch,
    bf16 over float32 for each preset and placement measured both ways, and each run's own figures."""
    by_name = {row["run"]: row for row in rows}
    papers = [row["epoch_s"] for row in rows if row["dataset"] == DATASETS["papers100m"]]
    bf16_over_fp32 = {}
    for name, row in by_name.items():
        fp32 = by_name.get(name.removesuffix(" bf16") + " fp32") if name.endswith(" bf16") else None
        if fp32 is not None:
            bf16_over_fp32[name.removesuffix(" bf16")] = {key: row[key] / fp32[key]
                                                          for key in ("epoch_s", "step_floor_s")}
    return {
        "epoch_over_step_floor": {row["run"]: row["epoch_over_step_floor"] for row in rows},
        "papers100m_epoch_s": min(papers) if papers else None,
        "bf16_over_fp32": bf16_over_fp32,
        "runs": {row["run"]: {key: row[key] for key in ("batches", "epoch_s", "step_floor_s", "step_ms_per_batch")}
                 for row in rows},
        "device": str(device), "scale": args.scale, "papers_scale": args.papers_scale,
        "fanouts": [int(f) for f in args.fanouts.split(",")], "batch_size": args.batch_size, "hidden": args.hidden,
        "epochs": args.epochs, "epochs_timed": args.epochs - 1,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = None if argv is None else [f"benchmarks/{Path(__file__).name}", *argv]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    # A smoke run on a CPU must not replace the GPU machine's figures.
    result = "bench_floor" if cuda else "bench_floor_cpu"
    rows: list[dict] = []
    for preset, scale, runs in plan(args, cuda):
        dataset = load(DATASETS[preset], root=args.root, scale=scale, seed=args.seed, quiet=args.quiet)
        for run in runs:
            row = measure(run, dataset, scale, args)
            if row["replay_loss_rel_diff"] > LOSS_TOLERANCE:
                log.warning("%s: the replay's loss differs from the epoch's by %.2g (relative): not the same "
                            "batches or not the same step", run.name, row["replay_loss_rel_diff"])
            rows.append(row)
            # Written after every run, so a benchmark stopped part-way keeps what it measured.
            write_result(result, summary(rows, args, device), rows, argv=command)
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
        del dataset
    print(format_table(rows, ["run", "batches", "epoch_s", "step_floor_s", "epoch_over_step_floor",
                              "step_ms_per_batch", "sample_s", "gather_s", "compute_s", "loss", "replay_loss",
                              "peak_gpu_mib"]))
    figures = summary(rows, args, device)
    for key, value in figures["bf16_over_fp32"].items():
        print(f"{key}: bf16 over fp32 epoch {value['epoch_s']:.3f}, step floor {value['step_floor_s']:.3f}")
    if figures["papers100m_epoch_s"] is not None:
        print(f"papers100m_epoch_s: {figures['papers100m_epoch_s']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
