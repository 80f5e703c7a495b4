"""Argument checks shared by the samplers and walkers (errors name the argument, value and expectation)."""
from __future__ import annotations

from collections.abc import Sequence

import torch


def as_index_tensor(name: str, ids) -> torch.Tensor:
    """``ids`` as a 1-D integer tensor (no copy when it already is one).

    Raises:
        TypeError: a float, bool or complex dtype.
        ValueError: not 1-D.
    """
    if not isinstance(ids, torch.Tensor):
        ids = torch.as_tensor(ids)
    if ids.dtype not in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64):
        raise TypeError(f"{name} must hold integer node ids, got dtype {ids.dtype}")
    if ids.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(ids.shape)}")
    return ids


def check_range(name: str, ids: torch.Tensor, num_nodes: int, of: str = "this graph") -> None:
    """Raise IndexError naming the first id of ``ids`` outside ``[0, num_nodes)``.

    ``of`` names the id space in the message (``"node type 'paper'"`` for one type of a
    heterogeneous graph). Cost: one O(len) pass, and a host sync when ``ids`` is on a GPU.
    """
    if ids.numel() == 0:
        return
    bad = ((ids < 0) | (ids >= num_nodes)).nonzero()
    if bad.numel():
        at = int(bad[0, 0])
        raise IndexError(
            f"{name}[{at}] = {int(ids[at])} is not a node id of {of}; expected ids in [0, {num_nodes})"
        )


def check_fanouts(fanouts: Sequence[int], name: str = "fanouts") -> tuple[int, ...]:
    """Fanouts as a tuple of ints, each ``-1`` (all neighbours) or ``>= 0``.

    Raises:
        TypeError: not a sequence of ints.
        ValueError: empty, or an entry below -1.
    """
    if isinstance(fanouts, (int, str, bytes)) or not isinstance(fanouts, Sequence):
        raise TypeError(f"{name} must be a sequence of ints such as [15, 10, 5], got {fanouts!r}")
    out = []
    for hop, f in enumerate(fanouts):
        if isinstance(f, bool) or not isinstance(f, int):
            raise TypeError(f"{name}[{hop}] must be an int, got {f!r}")
        if f < -1:
            raise ValueError(f"{name}[{hop}] = {f}; expected -1 (all neighbours) or a count >= 0")
        out.append(int(f))
    if not out:
        raise ValueError(f"{name} is empty; give one entry per hop, e.g. [15, 10, 5]")
    return tuple(out)


def check_edge_weight(name: str, weight, num_edges: int) -> torch.Tensor:
    """Edge weights for weighted sampling: a 1-D float tensor of ``num_edges`` finite values >= 0.

    Cost: one O(E) pass (and a host sync when ``weight`` is on a GPU).

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: the wrong length, or a NaN, infinite or negative weight (named by position).
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of edge weights, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"{name} must hold floating-point edge weights, got dtype {weight.dtype}")
    if weight.dim() != 1 or weight.numel() != num_edges:
        raise ValueError(
            f"{name} has shape {tuple(weight.shape)}; expected one weight per edge, shape ({num_edges},)"
        )
    bad = (~torch.isfinite(weight) | (weight < 0)).nonzero()
    if bad.numel():
        at = int(bad[0, 0])
        raise ValueError(
            f"{name}[{at}] = {float(weight[at])}; edge weights must be finite and >= 0 "
            "(an edge of weight 0 is never sampled)"
        )
    return weight


def check_edge_time(name: str, time, indptr: torch.Tensor, num_edges: int) -> torch.Tensor:
    """Edge times for temporal sampling: a 1-D integer or float tensor of ``num_edges`` values,
    non-decreasing within every CSR row (so the neighbours no later than a time are a prefix).

    Cost: one O(E) pass (and a host sync when ``time`` is on a GPU).

    Raises:
        TypeError: not a numeric tensor.
        ValueError: the wrong length, a NaN, or a row whose times decrease (named with the row;
            :func:`sampling.csr.sort_rows_by` gives the order that sorts them).
    """
    if not isinstance(time, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of edge times, got {type(time).__name__}")
    if time.dtype == torch.bool or time.is_complex():
        raise TypeError(f"{name} must hold integer or float times, got dtype {time.dtype}")
    if time.dim() != 1 or time.numel() != num_edges:
        raise ValueError(f"{name} has shape {tuple(time.shape)}; expected one time per edge, shape ({num_edges},)")
    if time.is_floating_point() and bool(torch.isnan(time).any()):
        at = int(torch.isnan(time).nonzero()[0, 0])
        raise ValueError(f"{name}[{at}] is NaN; times must be numbers")
    if num_edges > 1:
        falls = time[1:] < time[:-1]
        # a fall at a row boundary is allowed: position k (between edges k and k+1) starts row r
        boundary = torch.zeros(num_edges - 1, dtype=torch.bool, device=time.device)
        starts = indptr[1:-1].to(time.device).long()
        starts = starts[(starts > 0) & (starts < num_edges)]
        boundary[starts - 1] = True
        bad = (falls & ~boundary).nonzero()
        if bad.numel():
            k = int(bad[0, 0])
            row = int(torch.searchsorted(indptr.to(time.device).long(), torch.tensor(k + 1, device=time.device),
                                         right=True)) - 1
            raise ValueError(
                f"{name} decreases within row {row}: {name}[{k}] = {time[k].item()} > {name}[{k + 1}] = "
                f"{time[k + 1].item()}; sort every row by time (sampling.csr.sort_rows_by) first"
            )
    return time
