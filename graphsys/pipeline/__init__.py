"""Pipelined layer-parallel full-graph training (GNNPipe), graph parallelism and the hybrid.

A model of L layers is split into S stages (one process each); nodes are split into C chunks
that flow through the stages as a pipeline, reading neighbours not yet computed this epoch
from a per-layer history. ``graph_parallel = G`` splits nodes into G partitions exchanging
halo rows at every layer (the baseline), and S > 1 with G > 1 is the hybrid.

Example:
    >>> from graphsys.datasets import load
    >>> from graphsys.pipeline import PipelineConfig, train
    >>> ds = load("cora", root="data/planetoid")  # doctest: +SKIP
    >>> result = train(PipelineConfig(layers=8, stages=2, chunks=4, epochs=100), ds)  # doctest: +SKIP
"""
from graphsys.pipeline.config import ModelKind, Partitioner, PipelineConfig
from graphsys.pipeline.model import DeepGNN
from graphsys.pipeline.run import EpochMetrics, RankReport, TrainResult, run_rank, train

__all__ = [
    "DeepGNN", "EpochMetrics", "ModelKind", "Partitioner", "PipelineConfig", "RankReport",
    "TrainResult", "run_rank", "train",
]
