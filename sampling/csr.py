"""Checks on the CSR every engine takes: ``indptr`` (int64, N+1) and ``indices`` (int32/int64, E).

The CSR is over in-neighbours: ``indices[indptr[v]:indptr[v+1]]`` are the nodes whose
messages ``v`` receives (see DESIGN.md, Contracts).
"""
from __future__ import annotations

import torch


def index_dtype_for(num_nodes: int) -> torch.dtype:
    """int32 when every node id fits (half the memory and bandwidth), else int64."""
    return torch.int32 if num_nodes <= torch.iinfo(torch.int32).max else torch.int64


def check_csr(indptr: torch.Tensor, indices: torch.Tensor, *, full: bool = True,
              num_src_nodes: int | None = None) -> int:
    """Validate a CSR and return its (destination) node count.

    ``num_src_nodes`` is the size of the id space ``indices`` draws from when it differs from
    the rows' (one edge type of a heterogeneous graph, from one node type to another); by
    default the graph is square.

    Cost: O(N) for the shape and monotonicity checks; ``full=True`` adds one O(E) pass
    over ``indices`` for the range check (and a host sync when they are on a GPU).

    Raises:
        TypeError: a non-integer array.
        ValueError: arrays whose sizes disagree or an ``indptr`` that decreases.
        IndexError: a neighbour id outside ``[0, num_nodes)``.
    """
    for name, arr in (("indptr", indptr), ("indices", indices)):
        if not isinstance(arr, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(arr).__name__}")
        if arr.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name} must be int32 or int64, got {arr.dtype}")
        if arr.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if indptr.numel() == 0:
        raise ValueError("indptr must have num_nodes + 1 >= 1 entries, got an empty tensor")
    num_nodes = indptr.numel() - 1
    first, last = int(indptr[0]), int(indptr[-1])
    if first != 0:
        raise ValueError(f"indptr[0] must be 0, got {first}")
    if last != indices.numel():
        raise ValueError(
            f"indptr[-1] = {last} disagrees with indices, which has {indices.numel()} entries"
        )
    if num_nodes > 0:
        steps = indptr[1:] - indptr[:-1]
        bad = (steps < 0).nonzero()
        if bad.numel():
            v = int(bad[0, 0])
            raise ValueError(
                f"indptr decreases at node {v}: indptr[{v}] = {int(indptr[v])} > indptr[{v + 1}] = {int(indptr[v + 1])}"
            )
    sources = num_nodes if num_src_nodes is None else num_src_nodes
    if full and indices.numel():
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= sources:
            culprit = lo if lo < 0 else hi
            raise IndexError(
                f"indices holds node id {culprit}, outside [0, {sources}) for a CSR of {sources} source nodes"
                if num_src_nodes is not None else
                f"indices holds node id {culprit}, outside [0, {num_nodes}) for a CSR of {num_nodes} nodes"
            )
    return num_nodes


def out_of_range_neighbour(indices: torch.Tensor, num_nodes: int) -> str:
    """The error message naming the first entry of ``indices`` outside ``[0, num_nodes)``.

    For samplers over a CSR built with ``validate=False``, whose kernels drop such neighbours
    instead of reading or writing out of bounds. Cost: one O(E) pass (only on this error path).
    """
    outside = ((indices < 0) | (indices >= num_nodes)).nonzero()
    if outside.numel() == 0:  # pragma: no cover - callers come here after a kernel saw one
        return f"indices holds a node id outside [0, {num_nodes})"
    at = int(outside[0, 0])
    return (
        f"indices[{at}] = {int(indices[at])} is not a node id of this {num_nodes}-node graph (expected ids in "
        f"[0, {num_nodes})); the CSR was not validated (validate=False) and is corrupt"
    )


def sort_rows_by(indptr: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """The permutation of a CSR's edges that sorts every row by ``key`` (stable: ties keep their order).

    Apply it to ``indices`` and to every per-edge array (weights, times, an edge permutation)
    to get rows sorted by ``key``, as temporal sampling needs them (``edge_time`` sorted).
    Cost: one stable sort of E keys on ``key``'s device.
    """
    num_edges = key.numel()
    row = torch.repeat_interleave(torch.arange(indptr.numel() - 1, device=key.device),
                                  (indptr[1:] - indptr[:-1]).to(key.device))
    order = torch.sort(key, stable=True).indices
    return order[torch.sort(row[order], stable=True).indices] if num_edges else order
