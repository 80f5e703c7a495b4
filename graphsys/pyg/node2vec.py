"""A drop-in ``Node2Vec``: PyG's model with its walks drawn by graphsys (PyG's needs pyg-lib).

Example:
    >>> import torch
    >>> from graphsys.pyg import Node2Vec
    >>> edge_index = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
    >>> model = Node2Vec(edge_index, embedding_dim=8, walk_length=4, context_size=2, seed=0)
    >>> pos, neg = next(iter(model.loader(batch_size=3)))
    >>> pos.shape, neg.shape
    (torch.Size([9, 2]), torch.Size([9, 2]))
"""
# No ``from __future__ import annotations``: TorchScript reads the annotations of the ignored
# sampling methods when PyG's exported ``sample`` is scripted, and cannot resolve them as strings.
import torch
import torch_geometric.nn
from torch import Tensor
from torch.nn import Embedding, Module

from graphsys.graph import Graph
from sampling import random_walk


def _windows(walks: torch.Tensor, context_size: int) -> torch.Tensor:
    """Every run of ``context_size`` consecutive nodes of every walk, stacked as PyG stacks them."""
    count = walks.size(1) + 1 - context_size
    return torch.cat([walks[:, j : j + context_size] for j in range(count)], dim=0)


def _stay_at_dead_ends(walks: torch.Tensor) -> torch.Tensor:
    """Replace the ``-1`` after a node without out-neighbours by that node (the walk stays put)."""
    for step in range(1, walks.size(1)):
        column = walks[:, step]
        torch.where(column < 0, walks[:, step - 1], column, out=column)
    return walks


class Node2Vec(torch_geometric.nn.Node2Vec):
    """PyG's ``Node2Vec`` (same arguments, same methods) whose walks come from :func:`sampling.random_walk`.

    A walk follows out-edges (``edge_index[0] -> edge_index[1]``), as PyG's does, and stays at a
    node without out-edges. Positive windows and negatives are drawn from seeded streams, one
    per DataLoader worker (reseeded from the worker seed, so ``torch.manual_seed`` makes a run
    with workers repeatable).

    Args:
        edge_index, embedding_dim, walk_length, context_size, walks_per_node, p, q,
        num_negative_samples, num_nodes, sparse: as PyG's ``Node2Vec``.
        seed: seed of the walks and the negatives.

    Raises:
        ValueError: ``walk_length < context_size``, and whatever :class:`graphsys.Graph` refuses.
    """

    def __init__(
        self,
        edge_index: torch.Tensor,
        embedding_dim: int,
        walk_length: int,
        context_size: int,
        walks_per_node: int = 1,
        p: float = 1.0,
        q: float = 1.0,
        num_negative_samples: int = 1,
        num_nodes: int | None = None,
        sparse: bool = False,
        *,
        seed: int = 0,
    ) -> None:
        Module.__init__(self)  # PyG's __init__ refuses to run without pyg-lib
        if walk_length < context_size:
            raise ValueError(f"walk_length = {walk_length} must be at least context_size = {context_size}")
        graph = Graph.from_edge_index(edge_index.flip(0), num_nodes)  # in-neighbours of the reverse = out-neighbours
        self.num_nodes = graph.num_nodes
        self.rowptr, self.col = graph.indptr, graph.indices
        self.EPS = 1e-15
        self.embedding_dim = embedding_dim
        self.walk_length = walk_length - 1
        self.context_size = context_size
        self.walks_per_node = walks_per_node
        self.p = p
        self.q = q
        self.num_negative_samples = num_negative_samples
        self.embedding = Embedding(self.num_nodes, embedding_dim, sparse=sparse)
        self._walk_seed = seed
        self._calls = 0
        self._worker_seed: int | None = None
        self._generator = torch.Generator().manual_seed(seed)
        self.reset_parameters()

    @torch.jit.ignore  # numba walks: a scripted model calls back into Python here, as PyG's scripts do
    def pos_sample(self, batch: Tensor) -> Tensor:
        """Context windows of ``walks_per_node`` walks from every node of ``batch``.

        Cost: one parallel numba walk pass on the CPU, one column pass for dead ends, one cat.
        """
        starts = batch.repeat(self.walks_per_node)
        walks = random_walk(self.rowptr, self.col, starts, self.walk_length, p=self.p, q=self.q,
                            seed=_next_seed(self), validate=False)
        return _windows(_stay_at_dead_ends(walks), self.context_size)

    @torch.jit.ignore
    def neg_sample(self, batch: Tensor) -> Tensor:
        """Context windows of random walks made of uniform random nodes (PyG's negatives, seeded)."""
        starts = batch.repeat(self.walks_per_node * self.num_negative_samples)
        rest = torch.randint(self.num_nodes, (starts.numel(), self.walk_length), generator=self._generator)
        return _windows(torch.cat([starts.view(-1, 1).to(rest.dtype), rest], dim=-1), self.context_size)


def _next_seed(model) -> int:
    """A fresh walk seed per call of ``model`` (a Node2Vec, or its TorchScript module: the sampling
    methods are ignored by TorchScript and run as Python on either); per DataLoader worker,
    derived from the worker seed."""
    info = torch.utils.data.get_worker_info()
    if info is not None and info.seed != model._worker_seed:
        model._worker_seed = info.seed
        model._walk_seed = info.seed & (2**63 - 1)
        model._generator.manual_seed(model._walk_seed)
        model._calls = 0
    model._calls += 1
    return (model._walk_seed * 1_000_003 + model._calls) & (2**63 - 1)
