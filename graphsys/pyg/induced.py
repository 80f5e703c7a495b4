"""Induced subgraphs: every edge of the graph between the sampled nodes (PyG's ``subgraph_type="induced"``)."""
from __future__ import annotations

import torch


def induced_edges(
    indptr: torch.Tensor, indices: torch.Tensor, node: torch.Tensor, source_node: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All edges ``u -> v`` of the CSR with both ends among the sampled nodes, in local ids.

    Args:
        indptr: int64 CSR offsets (in-neighbours).
        indices: in-neighbour ids, beside ``indptr``.
        node: distinct global ids of the sampled target nodes (their positions are the local ids).
        source_node: distinct global ids of the sampled source nodes when the sources are
            another node type (one edge type of a heterogeneous graph); ``None``: ``node``.

    Returns:
        ``(row, col, edge)``: local source (a position in ``source_node``), local target and CSR
        position of each edge, grouped by target in the order of ``node``.

    Cost: one pass over every in-edge of the sampled nodes (a hub brings all of its edges), one
    sort of the source nodes and one binary search per edge; no O(num_nodes) allocation. A host sync on
    a GPU (the edge count sizes the output). A CSR on another device than ``node`` (pinned host
    memory under a GPU sampler) is read where it is, with ``node`` copied over and the result back.
    """
    if source_node is None:
        source_node = node
    if indptr.device != node.device:  # a pinned CSR: torch ops read it on the CPU
        row, col, edge = induced_edges(indptr, indices, node.to(indptr.device), source_node.to(indptr.device))
        return row.to(node.device), col.to(node.device), edge.to(node.device)
    node, source_node = node.long(), source_node.long()
    count = node.numel()
    starts = indptr[node]
    degrees = indptr[node + 1] - starts
    target = torch.repeat_interleave(torch.arange(count, device=node.device), degrees)
    first = torch.cumsum(degrees, 0) - degrees
    position = starts[target] + torch.arange(target.numel(), device=node.device) - first[target]
    source = indices[position].long()
    sources = source_node.numel()
    sorted_node, order = torch.sort(source_node)
    slot = torch.searchsorted(sorted_node, source).clamp_(max=max(sources - 1, 0))
    keep = sorted_node[slot] == source if sources else torch.zeros_like(source, dtype=torch.bool)
    return order[slot[keep]], target[keep], position[keep]
