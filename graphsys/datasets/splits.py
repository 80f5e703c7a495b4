"""Seeded random splits for datasets that ship without one."""
from __future__ import annotations

import numpy as np
import torch


def random_split(
    num_nodes: int, train: float, val: float, seed: int, candidates: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``candidates`` (default: every node) into train / val / test id tensors, each sorted.

    ``train`` and ``val`` are fractions; the test set is the rest. Deterministic by ``seed``.

    Raises:
        ValueError: fractions outside [0, 1] or summing past 1.
    """
    if not (0.0 <= train <= 1.0 and 0.0 <= val <= 1.0 and train + val <= 1.0):
        raise ValueError(f"train_ratio={train} and val_ratio={val} must lie in [0, 1] and sum to at most 1")
    pool = np.arange(num_nodes, dtype=np.int64) if candidates is None else np.asarray(candidates, np.int64)
    order = np.random.default_rng(seed).permutation(pool)
    n_train = int(round(train * pool.size))
    n_val = int(round(val * pool.size))
    parts = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    return tuple(torch.from_numpy(np.sort(p)) for p in parts)


#: Draws per negative before a strict negative gives up on avoiding edges (see ``draw_negatives``).
_NEGATIVE_TRIES = 64
_LINK_SPLIT, _LINK_NEGATIVES = 21, 22


def check_link_fractions(val: float, test: float, num_links: int | None = None) -> tuple[int, int]:
    """The val and test link counts of a random split, ``int(fraction * num_links)`` as PyG's
    ``RandomLinkSplit`` counts them (``(0, 0)`` when ``num_links`` is None: fractions only).

    Raises:
        ValueError: a fraction that is not a number in (0, 1), fractions summing to 1 or more,
            or a split (train, val or test) that would get no link; the message names the values.
    """
    for flag, value in (("val", val), ("test", test)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ValueError(f"{flag} fraction must be a number in (0, 1), got {value!r} (val={val!r}, test={test!r})")
    if val + test >= 1.0:
        raise ValueError(f"val={val} and test={test} sum to {val + test:g}; they must sum below 1 to leave "
                         "training links")
    if num_links is None:
        return 0, 0
    n_val, n_test = int(val * num_links), int(test * num_links)
    n_train = num_links - n_val - n_test
    if min(n_val, n_test, n_train) < 1:
        raise ValueError(f"val={val} and test={test} of {num_links} links give {n_train} train, {n_val} val and "
                         f"{n_test} test links; every split needs at least one: use larger fractions or a larger graph")
    return n_val, n_test


def is_symmetric(graph) -> bool:
    """Whether every edge ``u -> v`` of ``graph`` has its reverse ``v -> u``. Cost: one parallel
    binary search per edge (rows must be sorted, as :class:`~graphsys.graph.Graph` keeps them)."""
    from graphsys.datasets import _kernels as K

    indptr, indices = graph.indptr.numpy(), graph.indices.numpy()
    col = np.repeat(np.arange(graph.num_nodes, dtype=indices.dtype), np.diff(indptr))
    return bool((K.find_edges(indptr, indices, col, indices) >= 0).all())


def draw_negatives(graph, sources: np.ndarray, per_source: int, key: np.uint64, *, strict: bool = True,
                   out: np.ndarray | None = None) -> np.ndarray:
    """``[len(sources), per_source]`` int64 targets drawn uniformly over the graph's nodes, never the
    source itself and, with ``strict``, never a node the source has an edge to in ``graph``
    (``out``: fill this array instead, e.g. a memory map). Deterministic by ``key``, whatever the
    thread count. Cost: one parallel kernel, a binary search per draw when ``strict``."""
    from graphsys.datasets import _kernels as K

    if out is None:
        out = np.empty((sources.shape[0], per_source), dtype=np.int64)
    K.draw_negatives(graph.indptr.numpy(), graph.indices.numpy(), np.ascontiguousarray(sources, dtype=np.int64),
                     graph.num_nodes, key, out, strict, _NEGATIVE_TRIES)
    return out


def remove_edges(graph, src: np.ndarray, dst: np.ndarray):
    """``graph`` without the edges ``src[i] -> dst[i]`` (those absent are ignored), edge weights kept.

    Cost: one parallel binary search per edge removed, one boolean compaction of ``indices``
    (a copy of the CSR).
    """
    from graphsys.datasets import _kernels as K
    from graphsys.graph import Graph

    indptr, indices = graph.indptr.numpy(), graph.indices.numpy()
    pos = K.find_edges(indptr, indices, np.ascontiguousarray(src, dtype=indices.dtype),
                       np.ascontiguousarray(dst, dtype=np.int64))
    pos = np.unique(pos[pos >= 0])
    keep = np.ones(indices.shape[0], dtype=bool)
    keep[pos] = False
    rows = np.searchsorted(indptr, pos, side="right") - 1
    new_indptr = indptr - np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=graph.num_nodes))])
    weight = None if graph.edge_weight is None else graph.edge_weight[torch.from_numpy(keep)]
    return Graph(torch.from_numpy(new_indptr.astype(np.int64)), torch.from_numpy(indices[keep]), weight,
                 validate=False)


def random_link_split(dataset, val: float = 0.05, test: float = 0.1, seed: int = 0, *,
                      undirected: bool | None = None):
    """A :class:`~graphsys.datasets.LinkDataset` of a dataset that has no link split (Cora,
    CiteSeer, an edge list), as PyG's ``RandomLinkSplit`` makes one.

    ``val`` and ``test`` of the links (``int(fraction * links)`` each; the default fractions are
    PyG's) are held out, seeded, and removed from the training graph (both directions of an
    undirected link); the rest is ``train``. Val and test get as many negative edges as
    positives, drawn uniformly over node pairs that are not edges of the full graph (nor self
    loops). A link is an edge ``u -> v``; in an ``undirected`` graph (default: detected, every edge
    has its reverse) the pair ``u < v`` once. Self loops stay in the graph and are never held
    out. The metric is ``"auc"``.

    Args:
        dataset: a :class:`~graphsys.datasets.NodeDataset` (its graph and features are used).
        val, test: fractions of the links held out, each in (0, 1), summing below 1.
        seed: seeds the choice of held-out links and the negatives.
        undirected: whether links are symmetric; None detects it.

    Cost: O(E) numpy passes, one seeded permutation of the links, parallel kernels for the
    negatives and the removal; the training graph is a copy.

    Raises:
        ValueError: bad fractions or an empty split (see :func:`check_link_fractions`).
    """
    from graphsys.datasets._rng import root_key
    from graphsys.datasets.base import LinkDataset, LinkSplit

    check_link_fractions(val, test)
    graph = dataset.graph
    if undirected is None:
        undirected = is_symmetric(graph)
    indptr, indices = graph.indptr.numpy(), graph.indices.numpy()
    dst = np.repeat(np.arange(graph.num_nodes, dtype=np.int64), np.diff(indptr))
    src = indices.astype(np.int64)
    links = (src < dst) if undirected else (src != dst)
    src, dst = src[links], dst[links]
    n_val, n_test = check_link_fractions(val, test, src.shape[0])
    order = np.random.default_rng(int(root_key(seed, _LINK_SPLIT))).permutation(src.shape[0])
    held = {"val": np.sort(order[:n_val]), "test": np.sort(order[n_val:n_val + n_test]),
            "train": np.sort(order[n_val + n_test:])}
    out_src, out_dst = src[order[:n_val + n_test]], dst[order[:n_val + n_test]]
    if undirected:
        out_src, out_dst = np.concatenate([out_src, out_dst]), np.concatenate([out_dst, out_src])
    train_graph = remove_edges(graph, out_src, out_dst)
    rng = np.random.default_rng(int(root_key(seed, _LINK_NEGATIVES)))
    splits = {}
    for offset, part in enumerate(("train", "val", "test")):
        idx = held[part]
        edge = torch.from_numpy(np.stack([src[idx], dst[idx]]))
        neg = None
        if part != "train":
            neg_src = rng.integers(0, graph.num_nodes, size=idx.shape[0])
            neg_dst = draw_negatives(graph, neg_src, 1, root_key(seed, _LINK_NEGATIVES + offset))[:, 0]
            neg = torch.from_numpy(np.stack([neg_src, neg_dst]))
        splits[part] = LinkSplit(edge, edge_neg=neg)
    return LinkDataset(dataset.name, train_graph, dataset.x, splits["train"], splits["val"], splits["test"],
                       metric="auc", undirected=bool(undirected))
