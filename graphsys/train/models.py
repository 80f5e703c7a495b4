"""The GNNs ``graphsys train`` trains: PyG's GraphSAGE, GCN and GAT, built from a :class:`TrainConfig`,
and for heterogeneous graphs :class:`HeteroGNN` (R-GCN, or GraphSAGE per edge type).

The models are ``torch_geometric.nn.models`` classes, so their forward takes a sampled
minibatch with per-hop trimming (``num_sampled_nodes_per_hop``) and a checkpoint's
``state_dict`` loads into a plain PyG model. GraphSAGE and GAT trim with
:class:`DestinationTrim`, which gives the same outputs for the seeds with less work;
:func:`trim_destinations` installs it in any such PyG model.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch_geometric.nn.conv import GATConv, SAGEConv
from torch_geometric.nn.models import GAT, GCN, MLP, GraphSAGE
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.utils._trim_to_layer import TrimToLayer

from graphsys.train.config import ModelKind, TrainConfig

EdgeType = tuple[str, str, str]


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


def build_model(config: TrainConfig, in_channels: int, out_channels: int) -> BasicGNN | MLP:
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
        if config.model is ModelKind.MLP:
            return MLP(**common, norm=None)
        if config.model is ModelKind.GCN:
            return GCN(**common)
        model = GraphSAGE(**common) if config.model is ModelKind.SAGE else GAT(**common, heads=config.heads)
    return trim_destinations(model)


def build_hetero_model(config: TrainConfig, metadata: tuple[list[str], list[EdgeType]], in_channels: dict[str, int],
                       out_channels: int, target: str | Sequence[str]) -> HeteroGNN:
    """A freshly initialised :class:`HeteroGNN` of ``config.model`` ("rgcn" or "sage"), or for
    "mlp" PyG's ``MLP`` over the target type's features, its parameters drawn from ``config.seed``
    alone (as :func:`build_model`). ``target``: the node type classified, or for link prediction
    the endpoint types of the predicted edge type (:meth:`HeteroGNN.embed` gives each its rows)."""
    if config.model is ModelKind.MLP:
        return build_model(config, in_channels[target], out_channels)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        return HeteroGNN(config.model, metadata, in_channels, config.hidden, out_channels, config.layers,
                         config.dropout, target)


def build_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Adam:
    """Adam over ``model``'s parameters; on a GPU the fused kernel (one launch for every
    parameter: 3% of a products bf16 step on the H200, ``benchmarks/bench_step.py``)."""
    on_gpu = next(model.parameters()).is_cuda
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=on_gpu or None)


def _edge_key(edge_type: EdgeType) -> str:
    """A ModuleDict key for an edge type (module names cannot be tuples)."""
    return "__".join(edge_type)


class HeteroGNN(torch.nn.Module):
    """A GNN over a heterogeneous graph: per layer one message function per edge type, summed
    at each destination node type.

    Two kinds (``ModelKind``):

    * ``"rgcn"``, R-GCN (Schlichtkrull et al., 2018): ``h_i' = W_0 h_i + b + sum_r W_r mean_{j in
      N_r(i)} h_j``, a weight per relation ``r`` and a self weight per node type.
    * ``"sage"``: a GraphSAGE layer per edge type, summed over the edge types into a node type:
      what PyG's ``to_hetero(GraphSAGE(...), metadata, aggr="sum")`` computes.

    ReLU and dropout follow every layer but the last. The last layer computes only the target
    node types: the one being classified, or for link prediction the two endpoint types of the
    predicted edge type (one when it joins a type to itself). On sampled minibatches with per-hop counts the model
    trims as :class:`DestinationTrim` does, per type: layer ``l`` of ``L`` computes outputs only
    for the nodes of hops ``0 .. L - l - 1`` from the edges of those hops (both are prefixes
    of a hop-ordered batch), so the result for the seeds is that of the untrimmed model.

    Args:
        kind: ``ModelKind.RGCN`` or ``ModelKind.SAGE``.
        metadata: ``(node_types, edge_types)``, as ``HeteroData.metadata()``.
        in_channels: input width per node type (every node type the edge types name).
        hidden_channels, out_channels, num_layers, dropout: as PyG's ``BasicGNN``.
        target: the node type whose outputs :meth:`forward` returns, or a sequence of node types
            whose outputs :meth:`embed` returns (``forward`` then returns the first's).

    Raises:
        ValueError: an unknown kind, a node type without an input width, or a node type that
            the layers need but no edge type points into (add reverse edge types).
    """

    def __init__(self, kind: ModelKind, metadata: tuple[list[str], list[EdgeType]], in_channels: dict[str, int],
                 hidden_channels: int, out_channels: int, num_layers: int, dropout: float,
                 target: str | Sequence[str]) -> None:
        super().__init__()
        kind = ModelKind(kind)
        if kind not in (ModelKind.RGCN, ModelKind.SAGE):
            raise ValueError(f"HeteroGNN builds 'rgcn' or 'sage', got {kind.value!r}")
        node_types, edge_types = list(metadata[0]), [tuple(et) for et in metadata[1]]
        missing = sorted({t for et in edge_types for t in (et[0], et[2])} - set(in_channels))
        if missing:
            raise ValueError(f"in_channels has no width for node types {missing}")
        targets = (target,) if isinstance(target, str) else tuple(dict.fromkeys(target))
        for node_type in targets:
            if node_type not in node_types:
                raise ValueError(f"target {node_type!r} is not a node type; node types: {node_types}")
        if not targets:
            raise ValueError("target names no node type; give the node type (or types) to compute")
        #: the node types the last layer computes; ``target``, the first, is what ``forward`` returns
        self.targets: tuple[str, ...] = targets
        self.kind, self.target, self.num_layers, self.dropout = kind, targets[0], num_layers, dropout
        self.out_channels = out_channels
        self.node_types = node_types
        # Which node types each layer must compute: the targets at the last, and before that every
        # type whose rows an edge type of the next layer reads.
        computed: list[set[str]] = [set() for _ in range(num_layers)]
        needed = set(targets)
        for layer in reversed(range(num_layers)):
            computed[layer] = set(needed)
            needed = needed | {s for s, _, d in edge_types if d in needed}
        self.layer_edge_types: list[list[EdgeType]] = [
            [et for et in edge_types if et[2] in computed[layer]] for layer in range(num_layers)]
        for layer in range(num_layers):
            sinks = sorted(t for t in computed[layer] if not any(et[2] == t for et in self.layer_edge_types[layer]))
            if sinks:
                raise ValueError(f"layer {layer} must compute node types {sinks}, but no edge type points into them; "
                                 "add reverse edge types (HeteroGraph.add_reverse)")
        self.layer_node_types = [sorted(computed[layer], key=node_types.index) for layer in range(num_layers)]
        self.convs = torch.nn.ModuleList()
        self.roots = torch.nn.ModuleList()
        for layer in range(num_layers):
            width = {t: in_channels[t] for t in in_channels} if layer == 0 else None
            out = out_channels if layer == num_layers - 1 else hidden_channels
            convs = torch.nn.ModuleDict()
            for s, r, d in self.layer_edge_types[layer]:
                src = width[s] if width else hidden_channels
                dst = width[d] if width else hidden_channels
                rgcn = kind is ModelKind.RGCN
                convs[_edge_key((s, r, d))] = SAGEConv((src, dst), out, root_weight=not rgcn, bias=not rgcn)
            self.convs.append(convs)
            roots = torch.nn.ModuleDict()
            if kind is ModelKind.RGCN:
                for t in self.layer_node_types[layer]:
                    roots[t] = torch.nn.Linear(width[t] if width else hidden_channels, out)
            self.roots.append(roots)

    def conv(self, layer: int, edge_type: EdgeType, x_src: torch.Tensor, x_dst: torch.Tensor,
             edge_index: torch.Tensor) -> torch.Tensor:
        """The message term of ``edge_type`` at ``layer`` for the rows ``x_dst`` of its destination
        type, from the source rows ``x_src`` along ``edge_index`` (local ids: row 0 into ``x_src``,
        row 1 into ``x_dst``)."""
        return self.convs[layer][_edge_key(edge_type)]((x_src, x_dst), edge_index)

    def combine(self, layer: int, node_type: str, x_dst: torch.Tensor,
                messages: list[torch.Tensor]) -> torch.Tensor:
        """Layer ``layer``'s output for ``node_type``'s rows ``x_dst``: its message terms summed,
        plus the self term for R-GCN; no activation."""
        out = self.roots[layer][node_type](x_dst) if self.kind is ModelKind.RGCN else None
        for h in messages:
            out = h if out is None else out + h
        if out is None:  # sage, no edge type into node_type in this batch
            out = x_dst.new_zeros(x_dst.shape[0], self.out_width(layer))
        return out

    def out_width(self, layer: int) -> int:
        """Output channels of ``layer``."""
        conv = next(iter(self.convs[layer].values()))
        return conv.out_channels

    def activate(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        """What follows layer ``layer``: ReLU and dropout, except after the last."""
        if layer == self.num_layers - 1:
            return h
        return torch.nn.functional.dropout(h.relu(), self.dropout, self.training)

    def forward(self, x_dict: dict[str, torch.Tensor], edge_index_dict: dict[EdgeType, torch.Tensor],
                num_sampled_nodes_dict: dict[str, list[int]] | None = None,
                num_sampled_edges_dict: dict[EdgeType, list[int]] | None = None) -> torch.Tensor:
        """Outputs for the target type's nodes: all of them, or with the per-hop counts of a
        sampled batch (trimmed), those of its first ``num_sampled_nodes_dict[target][0]`` (the seeds).

        Raises:
            ValueError: per-hop counts with fewer hops than layers.
        """
        return self.embed(x_dict, edge_index_dict, num_sampled_nodes_dict, num_sampled_edges_dict)[self.target]

    def embed(self, x_dict: dict[str, torch.Tensor], edge_index_dict: dict[EdgeType, torch.Tensor],
              num_sampled_nodes_dict: dict[str, list[int]] | None = None,
              num_sampled_edges_dict: dict[EdgeType, list[int]] | None = None) -> dict[str, torch.Tensor]:
        """Outputs for the nodes of every type in :attr:`targets`, as :meth:`forward` gives the target's
        (with the per-hop counts, those of each type's seeds), keyed by node type.

        Raises:
            ValueError: per-hop counts with fewer hops than layers.
        """
        trim = num_sampled_nodes_dict is not None and num_sampled_edges_dict is not None
        if trim:
            hops = len(next(iter(num_sampled_nodes_dict.values()))) - 1
            if hops < self.num_layers:
                raise ValueError(f"the model has {self.num_layers} layers but the batch has {hops} hops; "
                                 "sample one hop per layer")
        x = dict(x_dict)
        for layer in range(self.num_layers):
            edges = {et: edge_index_dict[et] for et in self.layer_edge_types[layer] if et in edge_index_dict}
            x_dst = {t: x[t] for t in self.layer_node_types[layer]}
            if trim:
                keep = self.num_layers - layer
                x_dst = {t: v[: sum(num_sampled_nodes_dict[t][:keep])] for t, v in x_dst.items()}
                edges = {et: e[:, : sum(num_sampled_edges_dict[et][:keep])] for et, e in edges.items()}
            messages: dict[str, list[torch.Tensor]] = {t: [] for t in x_dst}
            for et, edge_index in edges.items():
                messages[et[2]].append(self.conv(layer, et, x[et[0]], x_dst[et[2]], edge_index))
            x = {t: self.activate(layer, self.combine(layer, t, x_dst[t], messages[t])) for t in x_dst}
        return {t: x[t] for t in self.targets}
