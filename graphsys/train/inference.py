"""Layer-wise full-neighbourhood inference (the OGB convention for evaluating sampled GNNs), for
PyG's homogeneous models and for :class:`~graphsys.train.models.HeteroGNN`; row by row for a
graph-free MLP.

Layer ``l`` is computed for every node before layer ``l + 1``, each node aggregating over
all its in-neighbours, in batches of consecutive target nodes so that a batch's edges
(``indices[indptr[b0]:indptr[b1]]``, one contiguous slice of the CSR) fit in GPU memory.
The result equals a full-graph forward pass of the model in eval mode; for GCN the edge
normalisation uses the degrees of the whole graph, exactly as ``GCNConv`` would.
"""
from __future__ import annotations

import contextlib

import torch
from torch_geometric.nn.models import GCN
from torch_geometric.nn.models.basic_gnn import BasicGNN
from tqdm.auto import tqdm

from graphsys.loader import gather_rows
from graphsys.train.config import Amp
from graphsys.train.models import EdgeType, HeteroGNN


def _gcn_degrees(indptr: torch.Tensor, indices: torch.Tensor, device: torch.device) -> torch.Tensor:
    """In-degree of every node without self loops, plus one (GCN's ``A + I``), as float32 on ``device``.

    Cost: one O(E) pass over the CSR where it lives, one copy of N floats.
    """
    num_nodes = indptr.numel() - 1
    deg = (indptr[1:] - indptr[:-1]).to(torch.float32)
    owner = torch.repeat_interleave(torch.arange(num_nodes, device=indptr.device), indptr[1:] - indptr[:-1])
    loops = torch.bincount(owner[indices.long() == owner], minlength=num_nodes).to(torch.float32)
    return (deg - loops + 1.0).to(device)


def _gcn_layer(conv, x_sub: torch.Tensor, src: torch.Tensor, col: torch.Tensor, targets: torch.Tensor,
               sources: torch.Tensor, deg: torch.Tensor, num_targets: int) -> torch.Tensor:
    """``GCNConv`` on a batch of targets with whole-graph normalisation ``1 / sqrt(d_i d_j)``.

    Reads the layer's ``lin`` and ``bias`` (the parameters ``GCNConv`` has); self loops are
    added once per target, replacing any the graph holds (``add_remaining_self_loops``).
    """
    h = conv.lin(x_sub).float()
    keep = sources != targets[col]
    src, col, sources = src[keep], col[keep], sources[keep]
    weight = deg[sources].rsqrt() * deg[targets[col]].rsqrt()
    out = h[:num_targets] / deg[targets].unsqueeze(1)
    out = out.index_add(0, col, h[src] * weight.unsqueeze(1))
    if conv.bias is not None:
        out = out + conv.bias
    return out


def _layer_tail(model: BasicGNN, layer: int, h: torch.Tensor) -> torch.Tensor:
    """What ``BasicGNN.forward`` applies after conv ``layer`` in eval mode (activation, norm)."""
    if layer == model.num_layers - 1 and model.jk_mode is None:
        return h
    if model.act is not None and model.act_first:
        h = model.act(h)
    h = model.norms[layer](h)
    if model.act is not None and not model.act_first:
        h = model.act(h)
    return h


@torch.no_grad()
def layerwise_inference(
    model: BasicGNN,
    indptr: torch.Tensor,
    indices: torch.Tensor,
    features,
    *,
    device: torch.device | str,
    batch_size: int = 4096,
    embedding_device: torch.device | str | None = None,
    amp: Amp = Amp.NONE,
    quiet: bool = True,
) -> torch.Tensor:
    """The model's output for every node, each layer over full neighbourhoods.

    Args:
        model: a PyG ``BasicGNN`` (GraphSAGE, GCN, GAT) without jumping knowledge.
        indptr, indices: the CSR over in-neighbours, anywhere (a GPU copy is fastest).
        features: the input features, a tensor anywhere or a ``zerocopy.UnifiedTensor``.
        device: where the layers run.
        batch_size: target nodes per batch; memory per batch is about
            ``(batch_size + edges of the batch) x channels`` floats.
        embedding_device: where each layer's output for all nodes is kept (default: ``device``;
            use "cpu" when ``num_nodes x hidden`` floats do not fit in GPU memory).
        amp: bf16 autocast for the convolutions.
        quiet: no progress bar.

    Returns:
        float32 ``[num_nodes, out_channels]`` on ``embedding_device``.

    Cost: per batch one host read of two ``indptr`` entries (a sync when ``indptr`` is on a
    GPU), one gather of ``batch_size + edges`` rows, one kernel sequence per layer; with a CPU
    ``embedding_device`` and a GPU ``device``, one host wait per batch for its output rows.
    """
    if getattr(model, "jk_mode", None) not in (None, "last"):
        raise ValueError(f"layer-wise inference needs a model without jumping knowledge, got jk={model.jk_mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = torch.device(device)
    embedding_device = torch.device(embedding_device) if embedding_device is not None else device
    was_training = model.training
    model.eval()
    num_nodes = indptr.numel() - 1
    host_indptr = indptr.cpu()
    is_gcn = isinstance(model, GCN)
    deg = _gcn_degrees(indptr, indices, device) if is_gcn else None
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if amp is Amp.BF16 else contextlib.nullcontext()
    )
    starts = list(range(0, num_nodes, batch_size))
    bar = tqdm(total=model.num_layers * len(starts), desc="inference", unit="batch", disable=quiet, leave=False)
    table = features
    try:
        for layer in range(model.num_layers):
            out = None
            for b0 in starts:
                b1 = min(b0 + batch_size, num_nodes)
                e0, e1 = int(host_indptr[b0]), int(host_indptr[b1])
                targets = torch.arange(b0, b1, device=device)
                sources = indices[e0:e1].to(device, non_blocking=True).long()
                counts = (host_indptr[b0 + 1 : b1 + 1] - host_indptr[b0:b1]).to(device, non_blocking=True)
                col = torch.repeat_interleave(torch.arange(b1 - b0, device=device), counts, output_size=e1 - e0)
                # Each edge reads its own copy of the source row, except a self loop, which reads
                # the target's row so that convs which replace self loops (GAT) recognise it.
                src = torch.arange(b1 - b0, b1 - b0 + e1 - e0, device=device)
                src = torch.where(sources == targets[col], col, src)
                x_sub = gather_rows(table, torch.cat([targets, sources])).to(device)
                if amp is Amp.NONE and x_sub.dtype != torch.float32:
                    x_sub = x_sub.float()  # a half-precision table, widened after the gather
                with autocast:
                    if is_gcn:
                        h = _gcn_layer(model.convs[layer], x_sub, src, col, targets, sources, deg, b1 - b0)
                    else:
                        h = model.convs[layer](x_sub, torch.stack([src, col]))[: b1 - b0]
                    h = _layer_tail(model, layer, h).float()
                if out is None:
                    out = torch.empty(num_nodes, h.shape[1], dtype=torch.float32, device=embedding_device)
                # copy_, not .to(non_blocking=True): a non-blocking device-to-host copy lands in a
                # pinned buffer after the host has already read it into ``out``.
                out[b0:b1].copy_(h)
                bar.update(1)
            table = out
    finally:
        bar.close()
        model.train(was_training)
    if num_nodes == 0:
        return torch.empty(0, model.out_channels, device=embedding_device)
    return table


def hetero_layerwise_inference(model: HeteroGNN, csr: dict[EdgeType, tuple[torch.Tensor, torch.Tensor]], inputs: dict,
                               num_nodes: dict[str, int], **options) -> torch.Tensor:
    """A :class:`HeteroGNN`'s output for every node of its target type: the ``model.target`` entry
    of :func:`hetero_layerwise_embeddings` (same arguments, same cost).

    Returns:
        float32 ``[num_nodes[model.target], out_channels]`` on ``embedding_device``.
    """
    return hetero_layerwise_embeddings(model, csr, inputs, num_nodes, **options)[model.target]


@torch.no_grad()
def hetero_layerwise_embeddings(
    model: HeteroGNN,
    csr: dict[EdgeType, tuple[torch.Tensor, torch.Tensor]],
    inputs: dict,
    num_nodes: dict[str, int],
    *,
    device: torch.device | str,
    batch_size: int = 4096,
    embedding_device: torch.device | str | None = None,
    amp: Amp = Amp.NONE,
    quiet: bool = True,
) -> dict[str, torch.Tensor]:
    """A :class:`HeteroGNN`'s output for every node of each of its target types (``model.targets``:
    the classified type, or a link model's endpoint types), each layer over full neighbourhoods:
    layer ``l`` is computed for every node of each type it needs before layer ``l + 1``, in
    batches of consecutive destination nodes per type, so that a batch's edges (one contiguous
    slice of each edge type's CSR) fit in GPU memory.

    Args:
        model: the model (its ``layer_node_types`` / ``layer_edge_types`` say what each layer computes).
        csr: ``(indptr, indices)`` over in-neighbours per edge type, anywhere.
        inputs: the input rows per node type: tensors anywhere or ``zerocopy.UnifiedTensor`` s.
        num_nodes: node count per node type.
        device, batch_size, embedding_device, amp, quiet: as :func:`layerwise_inference`.

    Returns:
        ``{node type: float32 [num_nodes[node type], out_channels]}`` on ``embedding_device``, one
        entry per type of ``model.targets``.

    Cost: per batch and edge type one host read of two ``indptr`` entries, one gather of the
    batch's source rows (one per edge, no dedup) and destination rows, one convolution.
    """
    device = torch.device(device)
    embedding_device = torch.device(embedding_device) if embedding_device is not None else device
    was_training = model.training
    model.eval()
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
                if amp is Amp.BF16 else contextlib.nullcontext())
    host_indptr = {et: indptr.cpu() for et, (indptr, _) in csr.items()}
    steps = sum(-(-num_nodes[t] // batch_size) for types in model.layer_node_types for t in types)
    bar = tqdm(total=steps, desc="inference", unit="batch", disable=quiet, leave=False)
    tables = dict(inputs)

    def rows(table, index: torch.Tensor) -> torch.Tensor:
        x = gather_rows(table, index).to(device)
        return x.float() if amp is Amp.NONE and x.dtype != torch.float32 else x

    try:
        for layer in range(model.num_layers):
            outputs = {}
            for node_type in model.layer_node_types[layer]:
                count = num_nodes[node_type]
                into = [et for et in model.layer_edge_types[layer] if et[2] == node_type]
                out = torch.empty(count, model.out_width(layer), dtype=torch.float32, device=embedding_device)
                for b0 in range(0, count, batch_size):
                    b1 = min(b0 + batch_size, count)
                    targets = torch.arange(b0, b1, device=device)
                    x_dst = rows(tables[node_type], targets)
                    with autocast:
                        messages = []
                        for et in into:
                            indptr, indices = host_indptr[et], csr[et][1]
                            e0, e1 = int(indptr[b0]), int(indptr[b1])
                            sources = indices[e0:e1].to(device, non_blocking=True).long()
                            counts = (indptr[b0 + 1 : b1 + 1] - indptr[b0:b1]).to(device, non_blocking=True)
                            col = torch.repeat_interleave(torch.arange(b1 - b0, device=device), counts,
                                                          output_size=e1 - e0)
                            edge_index = torch.stack([torch.arange(e1 - e0, device=device), col])
                            messages.append(model.conv(layer, et, rows(tables[et[0]], sources), x_dst, edge_index))
                        h = model.activate(layer, model.combine(layer, node_type, x_dst, messages)).float()
                    out[b0:b1].copy_(h)
                    bar.update(1)
                outputs[node_type] = out
            tables = outputs
    finally:
        bar.close()
        model.train(was_training)
    return {t: tables[t] for t in model.targets}


@torch.no_grad()
def row_wise_inference(model: torch.nn.Module, features, *, device: torch.device | str, batch_size: int = 4096,
                       embedding_device: torch.device | str | None = None, amp: Amp = Amp.NONE,
                       quiet: bool = True) -> torch.Tensor:
    """A graph-free model's (an MLP's) output for every row of ``features`` (a tensor anywhere or a
    ``zerocopy.UnifiedTensor``), in batches of ``batch_size`` rows; float32 on ``embedding_device``
    (default ``device``). Cost: one gather and one forward per batch."""
    device = torch.device(device)
    embedding_device = torch.device(embedding_device) if embedding_device is not None else device
    was_training = model.training
    model.eval()
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
                if amp is Amp.BF16 else contextlib.nullcontext())
    count = int(features.shape[0])
    out = None
    try:
        for b0 in tqdm(range(0, count, batch_size), desc="inference", unit="batch", disable=quiet, leave=False):
            x = gather_rows(features, torch.arange(b0, min(b0 + batch_size, count), device=device)).to(device)
            with autocast:
                h = model(x.float() if amp is Amp.NONE else x).float()
            if out is None:
                out = torch.empty(count, h.shape[1], dtype=torch.float32, device=embedding_device)
            out[b0 : b0 + h.shape[0]].copy_(h)
    finally:
        model.train(was_training)
    return out if out is not None else torch.empty(0, 0, device=embedding_device)
