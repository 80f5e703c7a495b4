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


def _csr_is_symmetric(indptr: np.ndarray, indices: np.ndarray) -> bool:
    """Whether every edge ``u -> v`` of a CSR from a node type to itself has its reverse ``v -> u``."""
    from graphsys.datasets import _kernels as K

    col = np.repeat(np.arange(indptr.shape[0] - 1, dtype=indices.dtype), np.diff(indptr))
    return bool((K.find_edges(indptr, indices, col, indices) >= 0).all())


def is_symmetric(graph) -> bool:
    """Whether every edge ``u -> v`` of ``graph`` has its reverse ``v -> u``. Cost: one parallel
    binary search per edge (rows must be sorted, as :class:`~graphsys.graph.Graph` keeps them)."""
    return _csr_is_symmetric(graph.indptr.numpy(), graph.indices.numpy())


def _draw_csr_negatives(indptr: torch.Tensor, indices: torch.Tensor, sources: np.ndarray, per_source: int,
                        key: np.uint64, *, strict: bool, exclude_self: bool, out: np.ndarray | None) -> np.ndarray:
    """:func:`draw_negatives` over one in-neighbour CSR (rows: the targets' node type, which may differ
    from the sources'; ``exclude_self`` only when they are one node type)."""
    from graphsys.datasets import _kernels as K

    if out is None:
        out = np.empty((sources.shape[0], per_source), dtype=np.int64)
    K.draw_negatives(indptr.numpy(), indices.numpy(), np.ascontiguousarray(sources, dtype=np.int64),
                     indptr.numel() - 1, key, out, strict, _NEGATIVE_TRIES, exclude_self)
    return out


def draw_negatives(graph, sources: np.ndarray, per_source: int, key: np.uint64, *, strict: bool = True,
                   out: np.ndarray | None = None) -> np.ndarray:
    """``[len(sources), per_source]`` int64 targets drawn uniformly over the graph's nodes, never the
    source itself and, with ``strict``, never a node the source has an edge to in ``graph``
    (``out``: fill this array instead, e.g. a memory map). Deterministic by ``key``, whatever the
    thread count. Cost: one parallel kernel, a binary search per draw when ``strict``."""
    return _draw_csr_negatives(graph.indptr, graph.indices, sources, per_source, key, strict=strict,
                               exclude_self=True, out=out)


def _remove_csr_edges(indptr: torch.Tensor, indices: torch.Tensor, src: np.ndarray,
                      dst: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(indptr, indices, kept)`` of an in-neighbour CSR without the edges ``src[i] -> dst[i]``
    (those absent are ignored); ``kept`` is the boolean mask of the old edges that stay."""
    from graphsys.datasets import _kernels as K

    indptr_np, indices_np = indptr.numpy(), indices.numpy()
    pos = K.find_edges(indptr_np, indices_np, np.ascontiguousarray(src, dtype=indices_np.dtype),
                       np.ascontiguousarray(dst, dtype=np.int64))
    pos = np.unique(pos[pos >= 0])
    keep = np.ones(indices_np.shape[0], dtype=bool)
    keep[pos] = False
    rows = np.searchsorted(indptr_np, pos, side="right") - 1
    num_rows = indptr_np.shape[0] - 1
    new_indptr = indptr_np - np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=num_rows))])
    return torch.from_numpy(new_indptr.astype(np.int64)), torch.from_numpy(indices_np[keep]), torch.from_numpy(keep)


def remove_edges(graph, src: np.ndarray, dst: np.ndarray):
    """``graph`` without the edges ``src[i] -> dst[i]`` (those absent are ignored), edge weights kept.

    Cost: one parallel binary search per edge removed, one boolean compaction of ``indices``
    (a copy of the CSR).
    """
    from graphsys.graph import Graph

    indptr, indices, kept = _remove_csr_edges(graph.indptr, graph.indices, src, dst)
    weight = None if graph.edge_weight is None else graph.edge_weight[kept]
    return Graph(indptr, indices, weight, validate=False)


def _split_csr_links(indptr: torch.Tensor, indices: torch.Tensor, num_src_nodes: int, val: float, test: float,
                     seed: int, *, same_type: bool, undirected: bool, both_directions: bool):
    """The random link split of one in-neighbour CSR (a homogeneous graph's, or one edge type's):
    ``({part: LinkSplit}, (held_src, held_dst))``, the second the edges to take out of this CSR
    (with ``both_directions`` each held-out link's reverse too). Negatives: sources uniform over ``num_src_nodes``,
    targets uniform over the rows' node type, never an edge of the CSR (nor, over one node type,
    a self loop)."""
    from graphsys.datasets._rng import root_key
    from graphsys.datasets.base import LinkSplit

    indptr_np, indices_np = indptr.numpy(), indices.numpy()
    dst = np.repeat(np.arange(indptr_np.shape[0] - 1, dtype=np.int64), np.diff(indptr_np))
    src = indices_np.astype(np.int64)
    if same_type:
        links = (src < dst) if undirected else (src != dst)
        src, dst = src[links], dst[links]
    n_val, n_test = check_link_fractions(val, test, src.shape[0])
    order = np.random.default_rng(int(root_key(seed, _LINK_SPLIT))).permutation(src.shape[0])
    held = {"val": np.sort(order[:n_val]), "test": np.sort(order[n_val:n_val + n_test]),
            "train": np.sort(order[n_val + n_test:])}
    out_src, out_dst = src[order[:n_val + n_test]], dst[order[:n_val + n_test]]
    if both_directions:
        out_src, out_dst = np.concatenate([out_src, out_dst]), np.concatenate([out_dst, out_src])
    rng = np.random.default_rng(int(root_key(seed, _LINK_NEGATIVES)))
    splits = {}
    for offset, part in enumerate(("train", "val", "test")):
        idx = held[part]
        edge = torch.from_numpy(np.stack([src[idx], dst[idx]]))
        neg = None
        if part != "train":
            neg_src = rng.integers(0, num_src_nodes, size=idx.shape[0])
            neg_dst = _draw_csr_negatives(indptr, indices, neg_src, 1, root_key(seed, _LINK_NEGATIVES + offset),
                                          strict=True, exclude_self=same_type, out=None)[:, 0]
            neg = torch.from_numpy(np.stack([neg_src, neg_dst]))
        splits[part] = LinkSplit(edge, edge_neg=neg)
    return splits, (out_src, out_dst)


def random_link_split(dataset, val: float = 0.05, test: float = 0.1, seed: int = 0, *,
                      undirected: bool | None = None, edge_type: tuple[str, str, str] | None = None):
    """A :class:`~graphsys.datasets.LinkDataset` of a dataset that has no link split (Cora,
    CiteSeer, an edge list; the links of one edge type of a heterogeneous dataset), as PyG's
    ``RandomLinkSplit`` makes one.

    ``val`` and ``test`` of the links (``int(fraction * links)`` each; the default fractions are
    PyG's) are held out, seeded, and removed from the training graph (both directions of an
    undirected link); the rest is ``train``. Val and test get as many negative edges as
    positives, drawn uniformly over node pairs that are not edges of the full graph (nor self
    loops). A link is an edge ``u -> v``; in an ``undirected`` graph (default: detected, every edge
    has its reverse) the pair ``u < v`` once. Self loops stay in the graph and are never held
    out. The metric is ``"auc"``.

    A heterogeneous dataset is the same over the CSR of ``edge_type`` ``(s, r, d)``: its links are
    held out of that edge type and of its reverse ``(d, "rev_" + r, s)`` where the graph stores one
    (the reverse :meth:`~graphsys.HeteroGraph.add_reverse` makes later is built from what is left);
    negative sources are drawn over type ``s``, destinations over ``d``; ``undirected`` applies to
    an edge type from a node type to itself (between two types a link has one direction), whose
    held-out links leave it in both directions (training makes it undirected). Its ``path`` is
    the heterogeneous dataset's folder (features derived from its training graph are kept there).

    Args:
        dataset: a :class:`~graphsys.datasets.NodeDataset` (its graph and features are used), or a
            :class:`~graphsys.datasets.HeteroNodeDataset` with ``edge_type``.
        val, test: fractions of the links held out, each in (0, 1), summing below 1.
        seed: seeds the choice of held-out links and the negatives.
        undirected: whether links are symmetric; None detects it.
        edge_type: the heterogeneous dataset's edge type whose links are split (None: homogeneous).

    Cost: O(E) numpy passes over the split CSR, one seeded permutation of the links, parallel
    kernels for the negatives and the removal; the training graph's changed CSRs are copies.

    Raises:
        ValueError: bad fractions or an empty split (see :func:`check_link_fractions`); an
            ``edge_type`` the heterogeneous dataset lacks, none for a heterogeneous dataset, or
            one for a homogeneous dataset (the message names it and the dataset's edge types).
    """
    from graphsys.datasets.base import HeteroNodeDataset, LinkDataset

    check_link_fractions(val, test)
    hetero = isinstance(dataset, HeteroNodeDataset)
    if not hetero and edge_type is not None:
        raise ValueError(f"link edge type {','.join(map(str, edge_type))} (edge_type, --link-edge-type): dataset "
                         f"{dataset.name!r} is homogeneous (one node type, one edge type); name an edge type only "
                         "for a heterogeneous dataset")
    if not hetero:
        graph = dataset.graph
        undirected = is_symmetric(graph) if undirected is None else undirected
        splits, held = _split_csr_links(graph.indptr, graph.indices, graph.num_nodes, val, test, seed,
                                        same_type=True, undirected=undirected, both_directions=undirected)
        return LinkDataset(dataset.name, remove_edges(graph, *held), dataset.x, splits["train"], splits["val"],
                           splits["test"], metric="auc", undirected=bool(undirected))
    edge_type = check_edge_type(dataset, edge_type)
    graph = dataset.graph
    src_type, relation, dst_type = edge_type
    indptr, indices = graph.csr(edge_type)
    same_type = src_type == dst_type
    if undirected is None:
        undirected = same_type and _csr_is_symmetric(indptr.numpy(), indices.numpy())
    # an edge type to itself is made undirected in place for message passing (add_reverse), so a
    # held-out link leaves it in both directions, or its reverse would bring it back
    splits, (held_src, held_dst) = _split_csr_links(indptr, indices, graph.num_nodes(src_type), val, test, seed,
                                                    same_type=same_type, undirected=bool(undirected),
                                                    both_directions=same_type)
    removals = {edge_type: (held_src, held_dst)}
    reverse = (dst_type, f"rev_{relation}", src_type)
    if reverse in graph.edge_types and reverse != edge_type:
        removals[reverse] = (held_dst, held_src)
    train_graph = _without_edges(graph, removals)
    return LinkDataset(dataset.name, train_graph, dict(dataset.x), splits["train"], splits["val"], splits["test"],
                       metric="auc", undirected=bool(undirected), path=dataset.path, edge_type=edge_type)


def check_edge_type(dataset, edge_type) -> tuple[str, str, str]:
    """``edge_type`` as a triple of the heterogeneous ``dataset``'s graph.

    Raises:
        ValueError: None, not a ``(src_type, relation, dst_type)`` triple, or not an edge type
            of the dataset; the message lists the dataset's edge types.
    """
    known = dataset.graph.edge_types
    listed = "; ".join(",".join(et) for et in known)
    if edge_type is None:
        raise ValueError(f"dataset {dataset.name!r} is heterogeneous: name the edge type whose links to predict "
                         f"(link_edge_type, --link-edge-type SRC,RELATION,DST), one of: {listed}")
    edge_type = tuple(edge_type)
    if edge_type not in known:
        raise ValueError(f"link edge type {','.join(map(str, edge_type))} is not an edge type of dataset "
                         f"{dataset.name!r}; its edge types (src_type,relation,dst_type): {listed}")
    return edge_type


def _without_edges(graph, removals: dict):
    """A heterogeneous ``graph`` without the edges ``removals[edge_type] = (src, dst)`` of each
    edge type named, edge weights kept; the other edge types' CSRs are shared."""
    from graphsys.hetero_graph import HeteroGraph

    csr, weights = {}, {}
    for et in graph.edge_types:
        indptr, indices = graph.csr(et)
        weight = graph.edge_weight(et)
        if et in removals:
            indptr, indices, kept = _remove_csr_edges(indptr, indices, *removals[et])
            weight = None if weight is None else weight[kept]
        csr[et] = (indptr, indices)
        if weight is not None:
            weights[et] = weight
    return HeteroGraph(graph.num_nodes_dict, csr, weights, validate=False)
