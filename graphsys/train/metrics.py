"""Per-epoch metrics: a frozen record, the JSON-lines file, and memory readings."""
from __future__ import annotations

import json
import os
import resource
import sys
from dataclasses import asdict, dataclass

import torch

from graphsys.io import METRICS_KIND, atomic_file


@dataclass(frozen=True)
class EpochRecord:
    """What every epoch records, whatever the task: its loss, the metric's name and the time split.

    ``sample_s``, ``gather_s`` and ``compute_s`` split the training time between neighbour
    sampling, feature gathering and forward/backward/step (with a prefetching pipeline they
    overlap, so they can add up to more than ``train_s``). ``epoch_s`` is ``train_s`` plus
    ``eval_s`` plus checkpointing. ``peak_gpu_mib`` is the peak allocated by torch during the
    epoch (None on a CPU), ``peak_host_mib`` the process's peak resident memory since it started.
    With a GPU cache of feature rows, ``cache_hit_rate`` is the epoch's share of rows served from
    it and ``host_read_mib`` the rows read from pinned host memory instead (None without a cache).
    """

    epoch: int
    loss: float
    metric: str
    epoch_s: float
    train_s: float
    sample_s: float
    gather_s: float
    compute_s: float
    eval_s: float
    batches: int
    seeds_per_s: float
    peak_gpu_mib: float | None
    peak_host_mib: float
    cache_hit_rate: float | None = None
    host_read_mib: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpochMetrics(EpochRecord):
    """One epoch of node classification (the fields of :class:`EpochRecord`, then the scores).

    ``train_acc``/``val_acc``/``test_acc`` hold the dataset's metric (named by ``metric``:
    "acc", "rocauc" or "micro_f1") from full-neighbourhood inference, ``None`` in epochs
    without evaluation.
    """

    train_acc: float | None = None
    val_acc: float | None = None
    test_acc: float | None = None

    @property
    def val_score(self) -> float | None:
        """The validation score (``val_acc``), named as every trainer's records name it."""
        return self.val_acc

    @property
    def test_score(self) -> float | None:
        """The test score (``test_acc``)."""
        return self.test_acc


@dataclass(frozen=True)
class LinkEpochMetrics(EpochRecord):
    """One epoch of link prediction (the fields of :class:`EpochRecord`, then the scores).

    ``val_score`` / ``test_score`` hold the dataset's metric (named by ``metric``: "mrr",
    "hits@K" or "auc") of full-neighbourhood embeddings scored on the split's candidate edges,
    ``None`` in epochs without evaluation. ``seeds_per_s`` counts positive training edges per
    second. ``eval_s`` covers the inference of every node's embedding (``embed_s``) and the
    scoring of the val and test candidates (``test_score_s`` of them the test candidates' scoring
    and metric).
    """

    val_score: float | None = None
    test_score: float | None = None
    embed_s: float | None = None
    test_score_s: float | None = None


def peak_host_mib() -> float:
    """This process's peak resident memory so far, in MiB. Cost: one system call."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def peak_gpu_mib(device: torch.device) -> float | None:
    """Peak memory torch allocated on ``device`` since the last reset, in MiB (None on the CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def write_metrics(path: str | os.PathLike, history: list[dict]) -> None:
    """Rewrite the JSON-lines file with one line per finished epoch (atomically).

    ``path`` must be new or a metrics file graphsys wrote (else :class:`~graphsys.io.OutputError`).
    """
    with atomic_file(path, METRICS_KIND) as tmp:
        with open(tmp, "w") as f:
            for record in history:
                f.write(json.dumps(record) + "\n")
