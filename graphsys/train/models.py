"""The GNNs ``graphsys train`` trains: PyG's GraphSAGE, GCN and GAT, built from a :class:`TrainConfig`.

The models are ``torch_geometric.nn.models`` classes, so their forward takes a sampled
minibatch with per-hop trimming (``num_sampled_nodes_per_hop``) and a checkpoint's
``state_dict`` loads into a plain PyG model. GraphSAGE and GAT trim with
:class:`DestinationTrim`, which gives the same outputs for the seeds with less work;
:func:`trim_destinations` installs it in any such PyG model.
"""
from __future__ import annotations

import torch
from torch_geometric.nn.conv import GATConv, SAGEConv
from torch_geometric.nn.models import GAT, GCN, GraphSAGE
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.utils._trim_to_layer import TrimToLayer

from graphsys.train.config import ModelKind, TrainConfig


class DestinationTrim(TrimToLayer):
    """Per-hop trimming that also narrows each layer's outputs to the nodes the next layer reads.

    PyG's :class:`TrimToLayer` drops the hops a layer no longer needs from its inputs, but the
    layer still computes an output row for every input node: the first layer of a 3-hop batch
    transforms all of the batch's nodes although the second reads only hops 0-2 (on the
    ogbn-products preset 27% of them). Here layer ``l`` of a batch with ``H`` hops gets the
    bipartite input ``(x, x[:n_dst])``, ``n_dst`` the nodes of hops ``0 .. H - l - 1``, and only
    the edges into them (the first ``H - l`` hops' edges: a hop's edges point into the hop
    before it), as DGL's message-flow blocks do. The outputs for the seeds, and every gradient,
    are those of PyG's trimming; the convolution must accept a ``(source, destination)`` pair
    whose destinations are the first source rows (SAGEConv and GATConv do; GCNConv does not).
    """

    def forward(self, layer, num_sampled_nodes_per_hop, num_sampled_edges_per_hop, x, edge_index, edge_attr=None):
        if num_sampled_nodes_per_hop is None or num_sampled_edges_per_hop is None:
            return super().forward(layer, num_sampled_nodes_per_hop, num_sampled_edges_per_hop, x, edge_index,
                                   edge_attr)
        hops = len(num_sampled_edges_per_hop) - layer
        if hops < 1:
            raise ValueError(
                f"layer {layer} of the model needs a batch of at least {layer + 1} hops, but the batch has "
                f"{len(num_sampled_edges_per_hop)} (num_sampled_edges_per_hop={list(num_sampled_edges_per_hop)}); "
                "sample one hop per layer"
            )
        num_dst = sum(num_sampled_nodes_per_hop[:hops])
        num_edges = sum(num_sampled_edges_per_hop[:hops])
        edge_attr = None if edge_attr is None else edge_attr[:num_edges]
        return (x, x[:num_dst]), edge_index[:, :num_edges], edge_attr


#: Convolutions tested to take DestinationTrim's (source, destination) pairs with the same results.
_BIPARTITE_CONVS = (SAGEConv, GATConv)


def trim_destinations(model: BasicGNN) -> BasicGNN:
    """Make a PyG ``BasicGNN`` (GraphSAGE, GAT) trim its sampled minibatches with :class:`DestinationTrim`.

    Its forward with ``num_sampled_nodes_per_hop`` then returns one row per seed (the first
    ``num_sampled_nodes_per_hop[0]`` nodes) instead of one per node, with the values and
    gradients PyG's trimming gives those rows; without the per-hop counts nothing changes.
    Parameters and ``state_dict`` stay the same. Returns ``model``.

    Raises:
        ValueError: a model whose layers could not take the destination-only form and give the
            same result: a convolution other than SAGEConv or GATConv, jumping knowledge
            (it concatenates every layer's rows), or normalization layers (their batch
            statistics would cover other rows).

    Example:
        >>> from torch_geometric.nn import GraphSAGE
        >>> model = trim_destinations(GraphSAGE(100, 256, 3, 47))
        >>> type(model._trim).__name__
        'DestinationTrim'
    """
    if not isinstance(model, BasicGNN):
        raise ValueError(
            f"trim_destinations takes a torch_geometric BasicGNN (GraphSAGE, GAT), got {type(model).__name__}"
        )
    others = sorted({type(c).__name__ for c in model.convs if not isinstance(c, _BIPARTITE_CONVS)})
    if others:
        raise ValueError(f"trim_destinations needs SAGEConv or GATConv layers, got {', '.join(others)}")
    if model.jk_mode is not None:
        raise ValueError(f"trim_destinations needs a model without jumping knowledge, got jk={model.jk_mode!r}")
    norms = sorted({type(n).__name__ for n in model.norms if not isinstance(n, torch.nn.Identity)})
    if norms:
        raise ValueError(f"trim_destinations needs a model without normalization layers, got {', '.join(norms)}")
    # A parameterless submodule: the state_dict stays that of the plain PyG model.
    model._trim = DestinationTrim()
    return model


def build_model(config: TrainConfig, in_channels: int, out_channels: int) -> BasicGNN:
    """A freshly initialised model, its parameters drawn from ``config.seed``.

    The parameters depend only on the seed and the shapes, never on the global RNG state
    before the call, so every rank of a distributed run (and a resumed run) builds the
    same initial model.

    Example:
        >>> from graphsys.train.config import TrainConfig
        >>> m = build_model(TrainConfig("cora", layers=2, fanouts=(10, 5), hidden=16), 1433, 7)
        >>> type(m).__name__, len(m.convs)
        ('GraphSAGE', 2)
    """
    if in_channels < 1 or out_channels < 1:
        raise ValueError(
            f"in_channels and out_channels must be positive, got {in_channels} and {out_channels}"
        )
    common = dict(
        in_channels=in_channels,
        hidden_channels=config.hidden,
        num_layers=config.layers,
        out_channels=out_channels,
        dropout=config.dropout,
    )
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        if config.model is ModelKind.GCN:
            return GCN(**common)
        model = GraphSAGE(**common) if config.model is ModelKind.SAGE else GAT(**common, heads=config.heads)
    return trim_destinations(model)


def build_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Adam:
    """Adam over ``model``'s parameters; on a GPU the fused kernel (one launch for every
    parameter: 3% of a products bf16 step on the H200, ``benchmarks/bench_step.py``)."""
    on_gpu = next(model.parameters()).is_cuda
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=on_gpu or None)
