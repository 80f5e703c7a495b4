"""Running a training job: one rank (:func:`run_rank`), or all of them (:func:`train`).

``train`` runs in-process for a world of one, joins the ranks ``torchrun`` gives it when its
environment says so, and otherwise starts ``S x G`` local processes itself (spawned, on a free
port picked at run time) and watches them: when any rank fails or dies, the others are ended
and ``train`` raises a ``RuntimeError`` naming the rank, its stage and group. Surviving ranks
never hang on a dead peer either: every wait carries ``config.timeout_s``. A rank that is stopped
(``SIGSTOP``, a debugger) counts as failed once it has been stopped for ``timeout_s``; every process
is ended within a few seconds of the first failure (a stopped one is killed at once, since it
cannot act on ``SIGTERM``). What ranks send back is read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import multiprocessing.connection as mp_connection
import os
import pickle
import queue as queue_module
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tqdm import tqdm

from graphsys.datasets.base import NodeDataset
from graphsys.io import METRICS_KIND, atomic_file
from graphsys.metrics_tensorboard import TensorBoardWriter
from graphsys.pipeline.comm import KINDS, Comm
from graphsys.pipeline.config import PipelineConfig
from graphsys.pipeline.history import ReadStats
from graphsys.pipeline.host_memory import reuse_freed_host_memory
from graphsys.pipeline.partition import make_layout, plan_partition
from graphsys.pipeline.worker import StageWorker

_TRAINING_KINDS = ("activations", "gradients", "halo", "param_grads")
_HEAD = ("loss", "train_hits", "val_hits", "test_hits", "rows", "stale_rows", "max_staleness", "epoch_s", "eval_s",
         "wait_s")


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch of a run, all ranks combined (rank 0 writes these as JSON lines).

    Attributes:
        epoch, mode: the epoch and "sync" (staleness-free) or "pipelined".
        loss: training loss (mean cross-entropy over the training nodes).
        train_acc, val_acc, test_acc: accuracy of the staleness-free evaluation pass run after
            this epoch's step, or ``None`` in epochs without evaluation.
        epoch_s: slowest rank's training time for the epoch. eval_s: same for evaluation.
        comm_bytes: training bytes sent, summed over all ranks and kinds (eval excluded).
        comm_by_kind: bytes sent by kind, summed over ranks (eval included, under "eval").
        per_rank: each rank's stage, group, bytes sent and received by kind, training time
            (``epoch_s``) and the part of it spent blocked on peers (``wait_s``, gloo only: see
            :meth:`~graphsys.pipeline.comm.Comm.wait`).
        max_staleness: the oldest row any layer read, in epochs (0: every read fresh).
        stale_fraction: share of layer-input rows read from history.
    """

    epoch: int
    mode: str
    loss: float
    train_acc: float | None
    val_acc: float | None
    test_acc: float | None
    epoch_s: float
    eval_s: float
    comm_bytes: int
    comm_by_kind: dict[str, int]
    per_rank: tuple[dict, ...]
    max_staleness: int
    stale_fraction: float

    def to_json(self) -> dict:
        out = asdict(self)
        out["per_rank"] = list(self.per_rank)
        return out

    @classmethod
    def from_json(cls, data: dict) -> EpochMetrics:
        """The inverse of :meth:`to_json`."""
        return cls(**{**data, "per_rank": tuple(data["per_rank"])})


@dataclass(frozen=True)
class RankReport:
    """What one rank hands back: its parameters, the gradients of the last epoch (before the
    optimizer step) and, on a last stage, that epoch's training-pass logits.

    Attributes:
        rank, stage, group: who. params, grads: by :class:`DeepGNN` parameter name.
        logits: ``[rows, classes]`` or ``None`` off the last stage. node_ids: original ids of
            the logits' rows.
    """

    rank: int
    stage: int
    group: int
    params: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor]
    logits: torch.Tensor | None
    node_ids: torch.Tensor

    def to_dict(self) -> dict:
        """Plain containers and tensors only, so ``torch.load(weights_only=True)`` reads it back."""
        return {"rank": self.rank, "stage": self.stage, "group": self.group, "params": dict(self.params),
                "grads": dict(self.grads), "logits": self.logits, "node_ids": self.node_ids}

    @classmethod
    def from_dict(cls, data: dict) -> RankReport:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class TrainResult:
    """A finished run: the per-epoch metrics and the report of every rank this process saw."""

    config: PipelineConfig
    metrics: tuple[EpochMetrics, ...]
    reports: tuple[RankReport, ...]


def _combine(
    epoch: int, mode: str, rows: list[list[float]], cfg: PipelineConfig, totals: dict, evaluated: bool
) -> EpochMetrics:
    head = len(_HEAD)
    n = len(KINDS)
    per_rank = []
    by_kind = {k: 0 for k in KINDS}
    for rank, row in enumerate(rows):
        sent = {k: int(row[head + i]) for i, k in enumerate(KINDS)}
        received = {k: int(row[head + n + i]) for i, k in enumerate(KINDS)}
        for k in KINDS:
            by_kind[k] += sent[k]
        per_rank.append({"rank": rank, "stage": rank % cfg.stages, "group": rank // cfg.stages,
                         "sent": sent, "received": received, "epoch_s": row[_HEAD.index("epoch_s")],
                         "wait_s": row[_HEAD.index("wait_s")]})
    total = [sum(r[i] for r in rows) for i in range(head)]

    def acc(i: int, split: str) -> float | None:
        return total[i] / max(totals[split], 1) if evaluated else None

    return EpochMetrics(
        epoch=epoch, mode=mode, loss=total[0], train_acc=acc(1, "train"), val_acc=acc(2, "val"),
        test_acc=acc(3, "test"), epoch_s=max(r[7] for r in rows), eval_s=max(r[8] for r in rows),
        comm_bytes=sum(by_kind[k] for k in _TRAINING_KINDS), comm_by_kind=by_kind,
        per_rank=tuple(per_rank), max_staleness=int(max(r[6] for r in rows)),
        stale_fraction=total[5] / max(total[4], 1),
    )


def run_rank(
    rank: int, config: PipelineConfig, data: NodeDataset, *, metrics_out: str | os.PathLike | None = None,
    quiet: bool = True, local_rank: int = 0, tensorboard: str | os.PathLike | None = None,
) -> TrainResult:
    """Train as ``rank`` of an initialised ``torch.distributed`` world of ``config.world_size``
    (or alone, when the world is one process and no process group exists).

    Rank 0 writes ``metrics_out`` (JSON lines, rewritten atomically after every epoch) and, with
    ``tensorboard`` (a folder), the same record of every epoch as TensorBoard scalars.
    """
    cfg = config
    world = cfg.world_size
    device = torch.device("cuda", local_rank) if cfg.device == "cuda" else torch.device("cpu")
    comm = Comm(rank, world, cfg.timeout_s) if world > 1 else None
    if comm is not None:  # every rank joins the world's communicator before any batched exchange (NCCL's rule)
        comm.all_reduce_(torch.zeros(1, device=device), None, world, None)
    stage_group = None
    if cfg.graph_parallel > 1:
        timeout = datetime.timedelta(seconds=cfg.timeout_s)
        for s in range(cfg.stages):
            group = dist.new_group([g * cfg.stages + s for g in range(cfg.graph_parallel)], timeout=timeout)
            if s == rank % cfg.stages:
                stage_group = group
    layout = make_layout(data.graph, cfg.graph_parallel, cfg.partitioner, cfg.seed)
    plan = plan_partition(layout, rank // cfg.stages, cfg.chunks, cfg.model)
    worker = StageWorker(cfg, data, layout, plan, rank, comm, device, stage_group)
    totals = {s: getattr(data, f"{s}_idx").numel() for s in ("train", "val", "test")}
    metrics: list[EpochMetrics] = []
    grads: dict[str, torch.Tensor] = {}
    # Flushed after every epoch: a run that fails keeps the scalars of each epoch it finished.
    board = TensorBoardWriter(tensorboard) if rank == 0 and tensorboard is not None else None
    for epoch in tqdm(range(cfg.epochs), desc=f"pipeline S={cfg.stages} G={cfg.graph_parallel}",
                      disable=quiet or rank != 0):
        worker.stats = ReadStats()
        t0 = time.perf_counter()
        worker.train_epoch(epoch)
        epoch_s = time.perf_counter() - t0
        wait_s = comm.ledger.wait_s if comm is not None else 0.0
        if epoch == cfg.epochs - 1:
            grads = {n: p.grad.detach().clone() for n, p in worker.named_parameters().items() if p.grad is not None}
        evaluated = (epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1
        hits, eval_s = (0, 0, 0), 0.0
        if evaluated:
            t0 = time.perf_counter()
            hits = worker.evaluate(epoch)
            eval_s = time.perf_counter() - t0
        stats = worker.stats
        row = [float(worker.loss_sum), *hits, stats.rows, stats.stale_rows, stats.max_staleness, epoch_s, eval_s,
               wait_s]
        row += comm.ledger.vector() if comm is not None else [0.0] * (2 * len(KINDS))
        if comm is not None:
            rows = [r.tolist() for r in comm.all_gather(torch.tensor(row, dtype=torch.float64, device=device))]
            comm.ledger.reset()
        else:
            rows = [row]
        mode = "sync" if cfg.is_sync_epoch(epoch) else "pipelined"
        metrics.append(_combine(epoch, mode, rows, cfg, totals, evaluated))
        if rank == 0 and metrics_out is not None:
            _write_metrics(metrics_out, metrics)
        if board is not None:
            board.write(metrics[-1].to_json(), step=epoch)
    if board is not None:
        board.close()
    worker.close()
    report = RankReport(
        rank=rank, stage=worker.stage, group=worker.group,
        params={n: p.detach().cpu().clone() for n, p in worker.named_parameters().items()},
        grads={n: g.cpu() for n, g in grads.items()},
        logits=worker.last_logits.cpu() if worker.last_logits is not None else None,
        node_ids=worker.node_ids.cpu(),
    )
    return TrainResult(cfg, tuple(metrics), (report,))


def _write_metrics(path: str | os.PathLike, metrics: list[EpochMetrics]) -> None:
    with atomic_file(path, METRICS_KIND) as tmp:
        Path(tmp).write_text("".join(json.dumps(m.to_json()) + "\n" for m in metrics))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _backend(config: PipelineConfig) -> str:
    return "nccl" if config.device == "cuda" else "gloo"


def _spawned(local_rank: int, port: int, config: PipelineConfig, data: NodeDataset,
             metrics_out, quiet: bool, results, tensorboard) -> None:
    """Entry point of a spawned rank: join the group, train, hand back the report."""
    world = config.world_size
    if config.device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        reuse_freed_host_memory()
    else:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        _backend(config), init_method=f"tcp://127.0.0.1:{port}", rank=local_rank, world_size=world,
        timeout=datetime.timedelta(seconds=config.timeout_s),
    )
    result = run_rank(local_rank, config, data, metrics_out=metrics_out, quiet=quiet, local_rank=local_rank,
                      tensorboard=tensorboard)
    buffer = io.BytesIO()  # plain containers and tensors: the launcher reads it with weights_only=True
    torch.save({"metrics": [m.to_json() for m in result.metrics], "report": result.reports[0].to_dict()}, buffer)
    results.put((local_rank, buffer.getvalue()))
    dist.barrier()
    dist.destroy_process_group()


def _under_torchrun() -> bool:
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def train(
    config: PipelineConfig, data: NodeDataset, *, metrics_out: str | os.PathLike | None = None,
    quiet: bool = True, tensorboard: str | os.PathLike | None = None,
) -> TrainResult:
    """Train ``config``'s model on ``data`` with S stages x G groups and return the result.

    Rank 0 writes each epoch's :class:`EpochMetrics` to ``metrics_out`` (JSON lines) and, with
    ``tensorboard``, as scalars to an event file in that folder (needs the tensorboard package).

    Under ``torchrun`` (its environment variables set) this process is one rank and the
    result holds its own report; otherwise all ``S x G`` ranks are started here and the result
    holds every report.

    Raises:
        RuntimeError: a rank failed, died or was stopped for ``timeout_s`` (the others are
            ended; the message names it and any rank found stopped), or the torchrun world size
            differs from ``S x G``.

    Example:
        >>> from graphsys.datasets import load
        >>> ds = load("cora", root="data/planetoid")  # doctest: +SKIP
        >>> result = train(PipelineConfig(layers=8, stages=2, chunks=4, epochs=50), ds)  # doctest: +SKIP
        >>> result.metrics[-1].test_acc  # doctest: +SKIP
    """
    if config.epochs and data.train_idx.numel() == 0:
        raise ValueError(f"dataset {data.name!r} has no training nodes (train_idx is empty)")
    if config.world_size == 1:
        return run_rank(0, config, data, metrics_out=metrics_out, quiet=quiet, tensorboard=tensorboard)
    if _under_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        if world != config.world_size:
            raise RuntimeError(
                f"torchrun started {world} processes but stages x graph_parallel = {config.world_size}"
            )
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if config.device == "cuda":
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(_backend(config), timeout=datetime.timedelta(seconds=config.timeout_s))
        return run_rank(dist.get_rank(), config, data, metrics_out=metrics_out, quiet=quiet, local_rank=local_rank,
                        tensorboard=tensorboard)
    return _spawn_all(config, data, metrics_out, quiet, tensorboard)


#: Once a rank has failed, how long the launcher waits for the others to end on SIGTERM before
#: it kills them. A stopped rank (SIGSTOP, a debugger) cannot act on SIGTERM and is killed at once.
_GRACE_S = 2.0
#: Process states (``/proc/<pid>/stat``) of a rank that is stopped: by a signal, or by a tracer.
_STOPPED = ("T", "t")


def _process_state(pid: int | None) -> str | None:
    """The one-letter state of process ``pid`` (R, S, D, T, t, Z, ...), None where unknown (not Linux, gone)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    end = text.rfind(")")  # the command name in parentheses may itself hold spaces and parentheses
    return text[end + 2] if 0 <= end < len(text) - 2 else None


class _TracebackUnpickler(pickle.Unpickler):
    """Reads the traceback text torch's ``_wrap`` pickles for a failed rank: a str, no globals."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a rank's error file (only text is expected)")


def _read_traceback(path: str | None) -> str | None:
    """The traceback a rank that raised left in its error file (None: it did not raise), then the file is removed."""
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            text = _TracebackUnpickler(f).load()
    except Exception as err:  # noqa: BLE001 - a rank half-way through writing it, or something else there
        text = f"(its error file {path} cannot be read: {type(err).__name__}: {err})"
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return text if isinstance(text, str) else f"(its error file {path} holds a {type(text).__name__}, not text)"


def _end_all(processes, grace_s: float) -> dict[int, str]:
    """End every live process: SIGKILL for stopped ones (SIGTERM would stay pending), SIGTERM for
    the others, then SIGKILL for those still alive after ``grace_s``. Returns, by rank, how each
    live one was ended. Cost: at most ``grace_s`` plus the reaping."""
    how: dict[int, str] = {}
    for rank, process in enumerate(processes):
        if process.exitcode is not None:
            continue
        if _process_state(process.pid) in _STOPPED:
            process.kill()
            how[rank] = "stopped"
        else:
            process.terminate()
            how[rank] = "terminated"
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for rank, process in enumerate(processes):
        if process.exitcode is None:
            process.kill()
            how[rank] = "killed"
    for process in processes:
        process.join()
    return how


def _spawn_all(config: PipelineConfig, data: NodeDataset, metrics_out, quiet: bool, tensorboard=None) -> TrainResult:
    """Start every rank, watch them, and collect their results.

    The watch loop wakes when a rank exits (or every half second). When a rank fails, every
    other rank is ended at once (see :func:`_end_all`), so the launcher returns within the
    peers' ``timeout_s`` plus :data:`_GRACE_S` of a rank hanging. A rank found stopped
    (``SIGSTOP``, a debugger) for longer than ``timeout_s`` counts as failed even when no peer
    noticed (all of them stopped, or waiting in a call without a timeout).
    """
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    context = mp.start_processes(
        _spawned, args=(port, config, data, metrics_out, quiet, results, tensorboard),
        nprocs=config.world_size, join=False, start_method="spawn",
    )
    processes = context.processes
    received: dict[int, bytes] = {}

    def drain() -> None:
        while True:
            try:
                rank, payload = results.get_nowait()
            except queue_module.Empty:
                return
            received[rank] = payload

    def who(rank: int) -> str:
        return f"rank {rank} (stage {rank % config.stages}, group {rank // config.stages})"

    stopped_since: dict[int, float] = {}
    failure: str | None = None
    try:
        while True:
            drain()
            live = [p.sentinel for p in processes if p.exitcode is None]
            if not live:
                break
            mp_connection.wait(live, timeout=0.5)
            failed = [r for r, p in enumerate(processes) if p.exitcode not in (None, 0)]
            if failed:
                # A death by signal is more likely the cause than an error raised by a peer that lost it.
                tracebacks = {r: _read_traceback(context.error_files[r]) for r in failed}
                rank = min(failed, key=lambda r: (tracebacks[r] is not None, r))
                code = processes[rank].exitcode
                if tracebacks[rank] is not None:
                    last = [line for line in tracebacks[rank].strip().splitlines() if line.strip()] or ["?"]
                    failure = f"pipeline {who(rank)} failed: {last[-1]}"
                else:
                    cause = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() \
                        else f"exit code {code}"
                    failure = f"pipeline {who(rank)} died ({cause}); the other ranks were stopped"
                break
            now = time.monotonic()
            for rank, process in enumerate(processes):
                if process.exitcode is None and _process_state(process.pid) in _STOPPED:
                    stopped_since.setdefault(rank, now)
                else:
                    stopped_since.pop(rank, None)
            overdue = [r for r, since in stopped_since.items() if now - since > config.timeout_s]
            if overdue:
                failure = (f"pipeline {who(overdue[0])} was stopped (SIGSTOP or a debugger) for more than the "
                           f"{config.timeout_s:g} s timeout; every rank was ended")
                break
    finally:
        ended = _end_all(processes, _GRACE_S)
    if failure is not None:
        notes = [f"{who(r)} was stopped (SIGSTOP or a debugger) and was killed" for r, how in ended.items()
                 if how == "stopped" and f"pipeline {who(r)} was stopped" not in failure]
        notes += [f"{who(r)} did not end on SIGTERM within {_GRACE_S:g} s and was killed"
                  for r, how in ended.items() if how == "killed"]
        raise RuntimeError("; ".join([failure, *notes]))
    drain()
    missing = sorted(set(range(config.world_size)) - set(received))
    if missing:
        raise RuntimeError(f"pipeline ranks {missing} exited without a result")
    loaded = {rank: _load_result(rank, payload) for rank, payload in received.items()}
    return TrainResult(
        config, tuple(loaded[0][0]), tuple(loaded[r][1] for r in range(config.world_size))
    )


def _load_result(rank: int, payload: bytes) -> tuple[list[EpochMetrics], RankReport]:
    """A rank's result from the bytes it sent: read without unpickling code (``weights_only``),
    then the dataclasses rebuilt from their plain parts.

    Raises:
        RuntimeError: the payload is not a result as :func:`_spawned` sends it.
    """
    try:
        data = torch.load(io.BytesIO(payload), weights_only=True)
        metrics = [EpochMetrics.from_json(m) for m in data["metrics"]]
        report = RankReport.from_dict(data["report"])
    except Exception as err:  # noqa: BLE001 - whatever is wrong, it is this rank's result that is
        raise RuntimeError(f"pipeline rank {rank} sent a malformed result ({type(err).__name__}: {err})") from None
    return metrics, report
