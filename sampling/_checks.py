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
