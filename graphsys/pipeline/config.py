"""Configuration of pipelined layer-parallel full-graph training (GNNPipe), one frozen dataclass."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class ModelKind(str, Enum):
    """The message-passing layer of the deep model."""

    GCN = "gcn"
    SAGE = "sage"


class Partitioner(str, Enum):
    """How nodes are split among graph-parallel groups.

    ``contiguous``: equal ranges of the locality-preserving order (few cut edges, like METIS on
    graphs with locality). ``random``: a seeded random balanced assignment (what hash partitioning
    does; on graphs without locality a good partitioner does not do much better).
    """

    CONTIGUOUS = "contiguous"
    RANDOM = "random"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one training run needs, validated on construction.

    Attributes:
        model: "gcn" or "sage" (residual layers with LayerNorm).
        layers: message-passing layers L (4 to 32 is the intended range; any L >= 1 works).
        hidden: width of every layer.
        stages: pipeline stages S (processes per group), each holding L/S consecutive layers.
        graph_parallel: groups G; each owns a node partition and exchanges halo rows. G > 1 with
            S = 1 is the graph-parallel baseline, G > 1 with S > 1 the hybrid.
        chunks: chunks C per partition that flow through the pipeline. More chunks fill the
            pipeline better (bubble fraction (S-1)/(C+S-1)) but read more stale rows.
        epochs: training epochs.
        warmup_epochs: first epochs run without staleness (layer-major, every read fresh);
            pipelined epochs need at least one, since history is empty before it.
        sync_every: with K > 0 every K-th epoch after the warm-up is also run without
            staleness, which bounds how far history drifts from the model; 0 turns it off.
        lr, weight_decay: Adam's. dropout: on every layer output and on the input features.
        partitioner: how nodes are split among the G groups.
        history: "device" keeps per-layer history in the compute device's memory, "pinned" in
            page-locked host memory (read over PCIe) when it does not fit.
        device: "cpu" (gloo) or "cuda" (NCCL, one GPU per local rank).
        timeout_s: seconds any wait for a peer may take before the rank fails with an error.
        eval_every: run the (staleness-free, dropout-free) evaluation pass every N epochs.
        seed: weights, dropout masks and the random partitioner derive from it.
    """

    model: ModelKind = ModelKind.GCN
    layers: int = 8
    hidden: int = 64
    stages: int = 2
    graph_parallel: int = 1
    chunks: int = 4
    epochs: int = 100
    warmup_epochs: int = 5
    sync_every: int = 0
    lr: float = 0.01
    weight_decay: float = 5e-4
    dropout: float = 0.5
    partitioner: Partitioner = Partitioner.CONTIGUOUS
    history: str = "device"
    device: str = "cpu"
    timeout_s: float = 120.0
    eval_every: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", ModelKind(self.model))
        object.__setattr__(self, "partitioner", Partitioner(self.partitioner))
        for name in ("layers", "hidden", "stages", "graph_parallel", "chunks", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("epochs", "warmup_epochs", "sync_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if self.stages > self.layers:
            raise ValueError(
                f"stages = {self.stages} exceeds layers = {self.layers}: every stage needs at least one layer"
            )
        if self.stages > 1 and self.warmup_epochs < 1 and self.epochs > 0:
            raise ValueError(
                "warmup_epochs must be >= 1 with stages > 1: pipelined epochs read last epoch's "
                "history, which only a staleness-free epoch fills"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        finite = {"lr": "a finite positive number", "weight_decay": "a finite number >= 0",
                  "timeout_s": "a finite positive number of seconds"}
        for name, expected in finite.items():  # NaN and inf pass the comparisons below
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be {expected}, got {value!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.history not in ("device", "pinned"):
            raise ValueError(f"history must be 'device' or 'pinned', got {self.history!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s!r}")

    @property
    def world_size(self) -> int:
        """Processes in the run: S stages times G groups."""
        return self.stages * self.graph_parallel

    def stage_layers(self, stage: int) -> range:
        """Layers (1-based; layer 0 is the input encoder) that ``stage`` computes, split evenly."""
        if not 0 <= stage < self.stages:
            raise IndexError(f"stage {stage} is out of range for stages = {self.stages}")
        bounds = [1 + (self.layers * s) // self.stages for s in range(self.stages + 1)]
        return range(bounds[stage], bounds[stage + 1])

    def is_sync_epoch(self, epoch: int) -> bool:
        """Whether ``epoch`` runs staleness-free (warm-up, periodic sync, or a single stage)."""
        if self.stages == 1 or epoch < self.warmup_epochs:
            return True
        return self.sync_every > 0 and (epoch - self.warmup_epochs) % self.sync_every == self.sync_every - 1
