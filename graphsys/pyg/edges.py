"""Seed nodes and label metadata for link-level sampling, with seeded negative sampling.

Implements what PyG's ``LinkLoader`` expects back from ``sample_from_edges``, homogeneous or
for one edge type ``(s, r, d)`` of a heterogeneous graph: the endpoints of the positive links
(and of sampled negatives) become the seed nodes (sources of type ``s``, destinations of type
``d``; one seed set when ``s == d``), and ``metadata`` carries the links in local ids (positions
among the seeds of their node type), laid out as PyG reads it:

* no negatives or ``"binary"``: ``(input_id, edge_label_index, edge_label, edge_label_time)``,
  negatives appended after the positives with label 0;
* ``"triplet"``: ``(input_id, src_index, dst_pos_index, dst_neg_index, seed_time)``.

Negatives are drawn uniformly (or from ``NegativeSampling.src_weight`` / ``dst_weight``) over
the endpoint's node type with a ``torch.Generator``, so they may include true edges, as PyG's do.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch_geometric.sampler import EdgeSamplerInput, NegativeSampling


@dataclass(frozen=True)
class LinkSeeds:
    """What to sample around for one batch of links.

    Attributes:
        node: distinct endpoint ids, sorted (the sampler's seeds); a dict node type -> such ids
            for a heterogeneous graph.
        metadata: PyG's ``SamplerOutput.metadata`` for the mode (see the module docstring).
    """

    node: torch.Tensor | dict[str, torch.Tensor]
    metadata: tuple
    #: temporal links: the time of every seed, shaped as ``node`` (None otherwise)
    time: torch.Tensor | dict[str, torch.Tensor] | None = None


def _draw_before(neg: NegativeSampling, count: int, endpoint: str, num_nodes: int, generator: torch.Generator,
                 node_time: torch.Tensor | None, limit: torch.Tensor | None) -> torch.Tensor:
    """``count`` negatives, each no later than its ``limit`` when the nodes have times: invalid
    draws are redrawn (five rounds), and any still invalid become the earliest node.
    Cost: up to six draws on the CPU."""
    out = _draw(neg, count, endpoint, num_nodes, generator)
    if node_time is None or limit is None:
        return out
    node_time = node_time.cpu()
    for _ in range(5):
        late = node_time[out] > limit
        if not bool(late.any()):
            return out
        out[late] = _draw(neg, int(late.sum()), endpoint, num_nodes, generator)
    late = node_time[out] > limit
    out[late] = int(node_time.argmin())
    return out


def _draw(neg: NegativeSampling, count: int, endpoint: str, num_nodes: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` negative endpoints. Cost: one randint or multinomial on the CPU."""
    weight = neg.src_weight if endpoint == "src" else neg.dst_weight
    if weight is None:
        return torch.randint(num_nodes, (count,), generator=generator)
    if weight.numel() != num_nodes:
        raise ValueError(
            f"NegativeSampling.{endpoint}_weight has {weight.numel()} entries, expected one per node ({num_nodes})"
        )
    return torch.multinomial(weight.cpu().float(), count, replacement=True, generator=generator)


def _seeds(src_type, dst_type, src: torch.Tensor, dst: torch.Tensor):
    """Distinct sorted seeds per endpoint node type and the local ids of ``src`` and ``dst``:
    one ``unique`` over both when they are one node type, one each otherwise."""
    if src_type == dst_type:
        node, inverse = torch.unique(torch.cat([src, dst]), return_inverse=True)
        return {src_type: node}, inverse[: src.numel()], inverse[src.numel() :]
    src_node, src_index = torch.unique(src, return_inverse=True)
    dst_node, dst_index = torch.unique(dst, return_inverse=True)
    return {src_type: src_node, dst_type: dst_node}, src_index, dst_index


def _disjoint_seeds(src_type, dst_type, src: torch.Tensor, dst: torch.Tensor):
    """Disjoint seeds: every endpoint its own seed (sources first), no dedup; one seed set when
    the endpoints are one node type. Returns the seeds per node type and the positions of ``src``
    and ``dst`` among them."""
    if src_type == dst_type:
        node = torch.cat([src, dst])
        return {src_type: node}, torch.arange(src.numel()), torch.arange(src.numel(), node.numel())
    return {src_type: src, dst_type: dst}, torch.arange(src.numel()), torch.arange(dst.numel())


def link_seeds(
    index: EdgeSamplerInput,
    neg_sampling: NegativeSampling | None,
    num_nodes: int | Mapping[str, int],
    generator: torch.Generator,
    disjoint: bool = False,
    node_time: torch.Tensor | Mapping[str, torch.Tensor] | None = None,
) -> LinkSeeds:
    """Seeds and metadata for the links of ``index`` (PyG's ``edge_sample``).

    With ``disjoint`` every endpoint of every link (negatives included) is its own seed, in
    the order sources, positive destinations, negative destinations (one tree each; the
    sampler numbers the trees in that order and PyG's ``batch`` is that number modulo the
    number of positive links), and the metadata's local ids are those positions.

    Temporal links (``index.time``, which needs ``disjoint``): every seed gets its link's time
    (negatives their positive's), returned as ``LinkSeeds.time``; with ``node_time`` (per node
    type for a heterogeneous graph) negatives are drawn among nodes no later than that time.

    Args:
        index: the batch of positive links (``row`` = source, ``col`` = target, optional
            ``label``; ``input_type`` their edge type for a heterogeneous graph).
        neg_sampling: PyG's negative sampling configuration, or ``None``.
        num_nodes: node count of the graph negatives are drawn from; a dict node type -> count
            for a heterogeneous graph.
        generator: the random stream negatives are drawn from.

    Cost: the negative draws, one ``torch.unique`` per endpoint node type over the
    ``positives + negatives`` ids (none when ``disjoint``).

    Raises:
        ValueError: temporal links (``time``), an ``input_type`` for a homogeneous graph (an
            int ``num_nodes``) or none for a heterogeneous one, or ``edge_label`` given together
            with triplet negatives.
    """
    if index.time is not None and not disjoint:
        raise ValueError("temporal links (edge_label_time) need a temporal sampler (time_attr), "
                         "whose trees are disjoint")
    if isinstance(num_nodes, Mapping):
        if index.input_type is None:
            raise ValueError(
                "links of a heterogeneous graph need their edge type: edge_label_index=(edge_type, index)"
            )
        src_type, dst_type = index.input_type[0], index.input_type[-1]
        num_src, num_dst = num_nodes[src_type], num_nodes[dst_type]
    elif index.input_type is not None:
        raise ValueError(f"graphsys samplers take homogeneous graphs here, got input_type={index.input_type!r}")
    else:
        src_type = dst_type = None
        num_src = num_dst = num_nodes
    src, dst, label = index.row.long(), index.col.long(), index.label
    num_pos = src.numel()
    time = index.time
    if isinstance(node_time, Mapping):
        src_node_time, dst_node_time = node_time.get(src_type), node_time.get(dst_type)
    else:
        src_node_time = dst_node_time = node_time
    src_time = dst_time = time
    if neg_sampling is not None and neg_sampling.is_triplet():
        if label is not None:
            raise ValueError("edge_label must be None with triplet negative sampling")
        amount = int(neg_sampling.amount)
        if time is not None:
            dst_time = time.repeat(1 + amount)
        dst_neg = _draw_before(neg_sampling, num_pos * amount, "dst", num_dst, generator, dst_node_time,
                               None if time is None else time.repeat(amount))
        node, src_index, dst_index = (_disjoint_seeds if disjoint else _seeds)(
            src_type, dst_type, src, torch.cat([dst, dst_neg]))
        if disjoint:  # negatives of link i at i, num_pos + i, ...: one row per link
            dst_index = torch.cat([dst_index[:num_pos], dst_index[num_pos:].view(-1, num_pos).t().reshape(-1)])
        dst_neg_index = dst_index[num_pos:].view(num_pos, -1).squeeze(-1)
        metadata = (index.input_id, src_index, dst_index[:num_pos], dst_neg_index, src_time)
    else:
        if neg_sampling is not None:
            num_neg = math.ceil(num_pos * neg_sampling.amount)
            limit = None
            if time is not None:
                src_time = dst_time = time.repeat(1 + math.ceil(neg_sampling.amount))[: num_pos + num_neg]
                limit = src_time[num_pos:]
            src = torch.cat([src, _draw_before(neg_sampling, num_neg, "src", num_src, generator, src_node_time, limit)])
            dst = torch.cat([dst, _draw_before(neg_sampling, num_neg, "dst", num_dst, generator, dst_node_time, limit)])
            if label is None:
                label = torch.ones(num_pos)
            label = torch.cat([label, label.new_zeros((num_neg,) + label.shape[1:])])
        node, src_index, dst_index = (_disjoint_seeds if disjoint else _seeds)(src_type, dst_type, src, dst)
        metadata = (index.input_id, torch.stack([src_index, dst_index]), label, src_time)
    seed_time = None
    if time is not None:  # disjoint: the seeds are the endpoints in order
        seed_time = ({src_type: torch.cat([src_time, dst_time])} if src_type == dst_type
                     else {src_type: src_time, dst_type: dst_time})
        seed_time = seed_time if src_type is not None else seed_time[None]
    return LinkSeeds(node if src_type is not None else node[None], metadata, seed_time)
