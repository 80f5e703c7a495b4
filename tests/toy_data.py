"""A small node-classification dataset for the training tests: labels follow the features."""
import numpy as np
import torch

from graphsys import Graph
from graphsys.datasets import NodeDataset


def toy_dataset(num_nodes: int, *, edges_per_node: int, num_features: int, num_classes: int,
                num_train: int, num_val: int, seed: int = 0) -> NodeDataset:
    """A symmetric random graph; ``y`` is the argmax of the first ``num_classes`` features, so a
    model can learn it; the rest of the nodes after train and val are the test split."""
    rng = np.random.default_rng(seed)
    num_edges = edges_per_node * num_nodes
    src, dst = rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)
    graph = Graph.from_coo(src, dst, num_nodes, symmetrize=True, drop_self_loops=True)
    x = torch.from_numpy(rng.standard_normal((num_nodes, num_features)).astype(np.float32))
    y = x[:, :num_classes].argmax(dim=1)
    perm = torch.from_numpy(rng.permutation(num_nodes))
    val_end = num_train + num_val
    return NodeDataset("toy", graph, x, y, perm[:num_train].sort().values, perm[num_train:val_end].sort().values,
                       perm[val_end:].sort().values, num_classes)
