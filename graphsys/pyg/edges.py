"""Seed nodes and label metadata for link-level sampling, with seeded negative sampling.

Implements what PyG's ``LinkLoader`` expects back from ``sample_from_edges`` on a homogeneous
graph: the endpoints of the positive links (and of sampled negatives) become the seed nodes,
and ``metadata`` carries the links in local ids, laid out as PyG reads it:

* no negatives or ``"binary"``: ``(input_id, edge_label_index, edge_label, edge_label_time)``,
  negatives appended after the positives with label 0;
* ``"triplet"``: ``(input_id, src_index, dst_pos_index, dst_neg_index, seed_time)``.

Negatives are drawn uniformly (or from ``NegativeSampling.src_weight`` / ``dst_weight``) with a
``torch.Generator``, so they may include true edges, as PyG's do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch_geometric.sampler import EdgeSamplerInput, NegativeSampling


@dataclass(frozen=True)
class LinkSeeds:
    """What to sample around for one batch of links.

    Attributes:
        node: distinct endpoint ids, sorted (the sampler's seeds).
        metadata: PyG's ``SamplerOutput.metadata`` for the mode (see the module docstring).
    """

    node: torch.Tensor
    metadata: tuple


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


def link_seeds(
    index: EdgeSamplerInput,
    neg_sampling: NegativeSampling | None,
    num_nodes: int,
    generator: torch.Generator,
) -> LinkSeeds:
    """Seeds and metadata for the links of ``index`` (PyG's ``edge_sample``, homogeneous, not disjoint).

    Args:
        index: the batch of positive links (``row`` = source, ``col`` = target, optional ``label``).
        neg_sampling: PyG's negative sampling configuration, or ``None``.
        num_nodes: node count of the graph negatives are drawn from.
        generator: the random stream negatives are drawn from.

    Cost: the negative draws, one ``torch.unique`` over ``2 * (positives + negatives)`` ids.

    Raises:
        ValueError: temporal links (``time``), heterogeneous links (``input_type``), or
            ``edge_label`` given together with triplet negatives.
    """
    if index.time is not None:
        raise ValueError("graphsys samplers do not sample temporally: edge_label_time must be None")
    if index.input_type is not None:
        raise ValueError(f"graphsys samplers take homogeneous graphs, got input_type={index.input_type!r}")
    src, dst, label = index.row.long(), index.col.long(), index.label
    num_pos = src.numel()
    if neg_sampling is not None and neg_sampling.is_triplet():
        if label is not None:
            raise ValueError("edge_label must be None with triplet negative sampling")
        dst_neg = _draw(neg_sampling, num_pos * int(neg_sampling.amount), "dst", num_nodes, generator)
        node, inverse = torch.unique(torch.cat([src, dst, dst_neg]), return_inverse=True)
        dst_neg_index = inverse[2 * num_pos :].view(num_pos, -1).squeeze(-1)
        return LinkSeeds(node, (index.input_id, inverse[:num_pos], inverse[num_pos : 2 * num_pos], dst_neg_index, None))
    if neg_sampling is not None:
        num_neg = math.ceil(num_pos * neg_sampling.amount)
        src = torch.cat([src, _draw(neg_sampling, num_neg, "src", num_nodes, generator)])
        dst = torch.cat([dst, _draw(neg_sampling, num_neg, "dst", num_nodes, generator)])
        if label is None:
            label = torch.ones(num_pos)
        label = torch.cat([label, label.new_zeros((num_neg,) + label.shape[1:])])
    node, inverse = torch.unique(torch.cat([src, dst]), return_inverse=True)
    return LinkSeeds(node, (index.input_id, inverse.view(2, -1), label, None))
