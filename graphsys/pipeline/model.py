"""The single-process reference: the same deep model run on the whole graph at once.

It shares its layers with the pipeline (:mod:`graphsys.pipeline.layers`) but none of its
machinery (no renumbering, chunks, history or communication), which makes it the yardstick
for tests and for the accuracy comparison.
"""
from __future__ import annotations

import torch
from torch import nn

from graphsys.graph import Graph
from graphsys.pipeline.adjacency import Adjacency
from graphsys.pipeline.config import ModelKind
from graphsys.pipeline.layers import (
    DECODER_SALT,
    ENCODER_SALT,
    apply_dropout,
    build_layer,
    build_linear,
    dropout_key,
)
from graphsys.pipeline.partition import edge_weights


class DeepGNN(nn.Module):
    """Encoder, ``layers`` residual GCN/SAGE layers and a decoder, on the full graph.

    Args:
        kind: "gcn" or "sage". in_dim, hidden, out_dim: widths. layers: L.
        dropout: rate on the input features and on every layer output. seed: weights.

    Example:
        >>> import torch
        >>> from graphsys import Graph
        >>> g = Graph.from_edge_index(torch.tensor([[0, 1], [1, 2]]), symmetrize=True)
        >>> model = DeepGNN("gcn", in_dim=4, hidden=8, out_dim=2, layers=4, dropout=0.0, seed=0)
        >>> model(torch.randn(3, 4), g).shape
        torch.Size([3, 2])
    """

    def __init__(
        self, kind: ModelKind | str, in_dim: int, hidden: int, out_dim: int, layers: int,
        dropout: float, seed: int,
    ) -> None:
        super().__init__()
        self.kind = ModelKind(kind)
        self.dropout = dropout
        self.seed = seed
        self.encoder = build_linear(in_dim, hidden, seed, ENCODER_SALT)
        self.layers = nn.ModuleList(build_layer(self.kind, hidden, seed, layer_id) for layer_id in range(1, layers + 1))
        self.decoder = build_linear(hidden, out_dim, seed, DECODER_SALT)

    def forward(self, x: torch.Tensor, graph: Graph, epoch: int = 0) -> torch.Tensor:
        """Logits of every node; dropout (in training mode) uses the masks of ``epoch``.

        Cost: L SpMMs over all edges plus L+2 GEMMs; no host sync.
        """
        weight, self_weight = edge_weights(graph.indptr, graph.indices, self.kind)
        counts = graph.indptr[1:] - graph.indptr[:-1]
        row = torch.repeat_interleave(torch.arange(graph.num_nodes, device=x.device), counts)
        adjacency = Adjacency.from_edges(row, graph.indices.to(x.device), weight.to(x.device),
                                         (graph.num_nodes, graph.num_nodes))
        self_weight = self_weight.to(x.device)
        ids = torch.arange(graph.num_nodes, device=x.device)
        p = self.dropout if self.training else 0.0
        h = self.encoder(apply_dropout(x, ids, p, dropout_key(self.seed, epoch, 0)))
        for number, layer in enumerate(self.layers, start=1):
            h = layer(h, adjacency, self_weight, ids, p, dropout_key(self.seed, epoch, number))
        return self.decoder(h)
