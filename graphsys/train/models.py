"""The GNNs ``graphsys train`` trains: PyG's GraphSAGE, GCN and GAT, built from a :class:`TrainConfig`.

The models are ``torch_geometric.nn.models`` classes unchanged, so their forward takes a
sampled minibatch with per-hop trimming (``num_sampled_nodes_per_hop``) and a checkpoint's
``state_dict`` loads into a plain PyG model.
"""
from __future__ import annotations

import torch
from torch_geometric.nn.models import GAT, GCN, GraphSAGE
from torch_geometric.nn.models.basic_gnn import BasicGNN

from graphsys.train.config import ModelKind, TrainConfig


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
        if config.model is ModelKind.SAGE:
            return GraphSAGE(**common)
        if config.model is ModelKind.GCN:
            return GCN(**common)
        return GAT(**common, heads=config.heads)
