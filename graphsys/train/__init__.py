"""Minibatch GNN training for node classification and link prediction (``task="link"``), on one GPU,
several, or several machines.

``graphsys train`` builds a :class:`TrainConfig` from its flags and calls :func:`train`.

Example:
    >>> from graphsys.train import TrainConfig, train
    >>> cfg = TrainConfig("cora", root="data/planetoid", layers=2, fanouts=(10, 5), hidden=64,
    ...                   features="cpu", graph="cpu", epochs=20)
    >>> result = train(cfg)  # doctest: +SKIP
    >>> result.scores.test  # doctest: +SKIP
    0.81
"""
from graphsys.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from graphsys.train.config import Amp, ModelKind, Predictor, Task, TrainConfig, check_machine
from graphsys.train.distributed import DistContext
from graphsys.train.evaluate import Scorer, Scores
from graphsys.train.inference import layerwise_inference
from graphsys.train.loop import Trainer, TrainingDivergedError, TrainResult, train
from graphsys.train.metrics import EpochMetrics, LinkEpochMetrics
from graphsys.train.models import build_model, trim_destinations

__all__ = [
    "Amp", "Checkpoint", "DistContext", "EpochMetrics", "LinkEpochMetrics", "ModelKind", "Predictor", "Scorer",
    "Scores", "Task", "TrainConfig", "TrainResult", "Trainer", "TrainingDivergedError", "build_model",
    "check_machine", "layerwise_inference", "load_checkpoint", "save_checkpoint", "train", "trim_destinations",
]
