"""embedding: GraphVite-style node embedding (DeepWalk, LINE, node2vec).

CPU producers turn random walks into positive samples, bucketed into a ``P x P`` grid of
blocks in double-buffered pools; trainers (numba on the CPU, one Triton kernel per block on a
GPU) run skip-gram with negative sampling block by block, so that workers never share rows.
Evaluation by node classification and link prediction.

Takes plain CSR tensors; imports ``sampling`` and ``zerocopy``, never ``graphsys``; writes no
files (checkpoints are :meth:`EmbeddingTrainer.state_dict`, which the caller saves).
"""
from embedding.classification import ClassificationResult, node_classification
from embedding.config import EmbeddingConfig, Model
from embedding.link_prediction import EdgeSplit, link_prediction_auc, sample_non_edges, split_edges
from embedding.partition import Partition, degree_balanced_partition
from embedding.schedule import BlockSchedule, block_schedule
from embedding.trainer import EmbeddingTrainer, FitResult

__all__ = [
    "BlockSchedule",
    "ClassificationResult",
    "EdgeSplit",
    "EmbeddingConfig",
    "EmbeddingTrainer",
    "FitResult",
    "Model",
    "Partition",
    "block_schedule",
    "degree_balanced_partition",
    "link_prediction_auc",
    "node_classification",
    "sample_non_edges",
    "split_edges",
]
