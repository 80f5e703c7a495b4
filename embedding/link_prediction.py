"""Link prediction on embeddings: held-out edges scored against sampled non-edges (AUC).

:func:`split_edges` removes a random fraction of the edges from a CSR (both directions of an
undirected edge), the embedding is trained on the rest, and :func:`link_prediction_auc`
scores the held-out edges and as many random non-edges by ``vertex[u] . context[v]``
(symmetrised for undirected graphs), returning the area under the ROC curve.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EdgeSplit:
    """A CSR with some edges held out.

    Attributes:
        indptr, indices: the training CSR (same node count, fewer edges).
        test_edges: int64 ``[2, M]`` held-out ``(source, target)`` pairs, one per undirected edge.
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    test_edges: torch.Tensor


def _edge_keys(indptr: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Sorted int64 keys ``source * N + target`` of every edge. Cost: one sort of E keys."""
    n = indptr.numel() - 1
    targets = torch.repeat_interleave(torch.arange(n), indptr[1:] - indptr[:-1])
    return torch.sort(indices.long() * n + targets).values


def split_edges(
    indptr: torch.Tensor, indices: torch.Tensor, test_fraction: float, *, symmetric: bool = True, seed: int = 0
) -> EdgeSplit:
    """Hold out ``test_fraction`` of the edges of a CSR.

    Cost: a few O(E) passes and one sort on the CPU.

    Args:
        indptr, indices: CSR over in-neighbours (an undirected graph stores both directions).
        test_fraction: fraction in ``(0, 1)`` of the (undirected) edges to hold out.
        symmetric: treat ``u -> v`` and ``v -> u`` as one edge, removed together; self loops stay.
        seed: seed of the choice.

    Raises:
        ValueError: a fraction outside ``(0, 1)``, or a graph with no edge to hold out.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    indptr, indices = indptr.cpu(), indices.cpu()
    n = indptr.numel() - 1
    targets = torch.repeat_interleave(torch.arange(n), indptr[1:] - indptr[:-1])
    sources = indices.long()
    candidates = (sources < targets).nonzero().squeeze(1) if symmetric else (sources != targets).nonzero().squeeze(1)
    if candidates.numel() == 0:
        raise ValueError("the graph has no edge between two distinct nodes to hold out")
    generator = torch.Generator().manual_seed(seed)
    count = max(1, round(test_fraction * candidates.numel()))
    chosen = candidates[torch.randperm(candidates.numel(), generator=generator)[:count]]
    test = torch.stack([sources[chosen], targets[chosen]])
    removed = torch.zeros(indices.numel(), dtype=torch.bool)
    removed[chosen] = True
    if symmetric:
        keys = sources * n + targets
        reverse = torch.sort(targets[chosen] * n + sources[chosen]).values
        pos = torch.searchsorted(reverse, keys).clamp_max(reverse.numel() - 1)
        removed |= reverse[pos] == keys
    keep = ~removed
    new_indptr = torch.zeros(n + 1, dtype=torch.int64)
    new_indptr[1:] = torch.cumsum(torch.bincount(targets[keep], minlength=n), 0)
    return EdgeSplit(new_indptr, indices[keep].clone(), test)


def sample_non_edges(indptr: torch.Tensor, indices: torch.Tensor, count: int, *, seed: int = 0) -> torch.Tensor:
    """``[2, count]`` uniformly random pairs ``(u, v)``, ``u != v``, that are not edges of the CSR.

    Cost: one sort of the edge keys, then rejection rounds of ``searchsorted`` (few, unless
    the graph is nearly complete).

    Raises:
        ValueError: a graph too dense to find non-edges.
    """
    n = indptr.numel() - 1
    keys = _edge_keys(indptr.cpu(), indices.cpu())
    if n < 2 or keys.numel() >= n * (n - 1):
        raise ValueError(f"a graph of {n} nodes and {keys.numel()} edges has no non-edges to sample")
    generator = torch.Generator().manual_seed(seed)
    found: list[torch.Tensor] = []
    have = 0
    for _ in range(1000):
        u = torch.randint(n, (2 * (count - have) + 16,), generator=generator)
        v = torch.randint(n, (u.numel(),), generator=generator)
        cand = u * n + v
        pos = torch.searchsorted(keys, cand).clamp_max(max(keys.numel() - 1, 0))
        ok = (u != v) & ((keys[pos] != cand) if keys.numel() else torch.ones_like(u, dtype=torch.bool))
        found.append(torch.stack([u[ok], v[ok]]))
        have += int(ok.sum())
        if have >= count:
            break
    else:
        raise ValueError(f"found only {have} of {count} non-edges after 1000 rounds; the graph is too dense")
    return torch.cat(found, dim=1)[:, :count]


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Area under the ROC curve of scores (ties count half). Cost: one sort of all scores."""
    if positive.numel() == 0 or negative.numel() == 0:
        raise ValueError(f"AUC needs positive and negative scores, got {positive.numel()} and {negative.numel()}")
    scores = torch.cat([positive, negative]).double()
    order = scores.argsort()
    sorted_scores = scores[order]
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    mean_rank = torch.cumsum(counts, 0).double() - (counts.double() - 1) / 2
    ranks = torch.empty_like(scores)
    ranks[order] = mean_rank[inverse]
    n_pos, n_neg = positive.numel(), negative.numel()
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def link_prediction_auc(
    vertex: torch.Tensor,
    context: torch.Tensor,
    test_edges: torch.Tensor,
    non_edges: torch.Tensor,
    *,
    symmetric: bool = True,
) -> float:
    """AUC of ``vertex[u] . context[v]`` separating ``test_edges`` from ``non_edges``.

    With ``symmetric`` the score is ``(v_u . c_v + v_v . c_u) / 2``, as an undirected edge has
    no direction. Cost: two row gathers and dot products per pair.

    Raises:
        IndexError: a node id outside the embeddings.
    """
    n = vertex.shape[0]
    for name, pairs in (("test_edges", test_edges), ("non_edges", non_edges)):
        if pairs.dim() != 2 or pairs.shape[0] != 2:
            raise ValueError(f"{name} must have shape [2, M], got {tuple(pairs.shape)}")
        if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= n):
            raise IndexError(f"{name} holds node ids outside [0, {n})")

    def score(pairs: torch.Tensor) -> torch.Tensor:
        u, v = pairs[0].long(), pairs[1].long()
        s = (vertex[u] * context[v]).sum(1)
        if symmetric:
            s = (s + (vertex[v] * context[u]).sum(1)) / 2
        return s

    return roc_auc(score(test_edges.cpu()), score(non_edges.cpu()))
