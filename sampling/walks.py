"""Random walks on the CPU (numba, parallel): uniform (DeepWalk) and node2vec (p, q).

Walks follow the CSR's in-neighbour direction: from ``v`` a step goes to a node of
``indices[indptr[v]:indptr[v+1]]`` (the same as out-neighbours for a symmetric graph).

Example:
    >>> import torch
    >>> from sampling import random_walk
    >>> indptr = torch.tensor([0, 1, 2, 3])
    >>> indices = torch.tensor([1, 2, 0], dtype=torch.int32)
    >>> random_walk(indptr, indices, torch.tensor([0]), 3).tolist()
    [[0, 1, 2, 0]]
"""
from __future__ import annotations

import math

import numpy as np
import torch

from sampling import _walk_kernels as K
from sampling._checks import as_index_tensor, check_range
from sampling._pool import run_split
from sampling._rng import make_key
from sampling.csr import check_csr


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} = {value}; expected a finite number > 0")
    return float(value)


def random_walk(
    indptr: torch.Tensor,
    indices: torch.Tensor,
    starts: torch.Tensor,
    walk_length: int,
    *,
    p: float = 1.0,
    q: float = 1.0,
    seed: int = 0,
    validate: bool = True,
) -> torch.Tensor:
    """Walk ``walk_length`` steps from every node of ``starts``.

    With ``p = q = 1`` every step draws a uniform in-neighbour (DeepWalk). Otherwise the
    step after arriving at ``v`` from ``t`` weighs a candidate ``x`` by ``1/p`` if ``x == t``,
    1 if ``x`` is an in-neighbour of ``t``, ``1/q`` otherwise (node2vec), drawn exactly by
    rejection. A walk that reaches a node without in-neighbours stops there: the rest of
    its row is ``-1``.

    Cost: one numba pass over ``len(starts) * walk_length`` steps on
    ``numba.get_num_threads()`` pool threads, two dependent random reads per step (plus,
    for node2vec, a binary search into the previous node's row when the coin needs it);
    node2vec first checks that rows are sorted (one sequential O(E) pass). Copies the CSR
    only when it is not on the CPU.

    Args:
        indptr: CSR offsets, ``num_nodes + 1`` entries.
        indices: in-neighbour ids.
        starts: 1-D integer tensor of start nodes.
        walk_length: steps per walk, ``>= 0``.
        p: node2vec return parameter, ``> 0``.
        q: node2vec in-out parameter, ``> 0``.
        seed: seed of the draws; the same seed gives the same walks whatever the thread count.
        validate: check the CSR (one O(E) pass); off only for trusted input.

    Returns:
        int64 CPU tensor ``[len(starts), walk_length + 1]``; column 0 holds the starts.

    Raises:
        TypeError: non-integer ``starts`` or CSR arrays, a non-integer ``walk_length``.
        ValueError: negative ``walk_length``, ``p`` or ``q`` not positive, a malformed CSR.
        IndexError: a start outside ``[0, num_nodes)``.
    """
    num_nodes = check_csr(indptr, indices, full=validate)
    if isinstance(walk_length, bool) or not isinstance(walk_length, int):
        raise TypeError(f"walk_length must be an int, got {walk_length!r}")
    if walk_length < 0:
        raise ValueError(f"walk_length = {walk_length}; expected a step count >= 0")
    p = _check_positive("p", p)
    q = _check_positive("q", q)
    starts = as_index_tensor("starts", starts).to("cpu", torch.int64)
    check_range("starts", starts, num_nodes)
    indptr_np = indptr.cpu().numpy()
    indices_np = indices.cpu().numpy()
    starts_np = np.ascontiguousarray(starts.numpy())
    out = np.empty((starts_np.shape[0], walk_length + 1), dtype=np.int64)
    key = make_key(seed, 0x5A1C)
    if p == 1.0 and q == 1.0:
        run_split(K.uniform_walks, starts_np.shape[0], indptr_np, indices_np, starts_np, walk_length, key, out,
                  grain=K.CHUNK)
    else:
        sorted_rows = bool(K.rows_sorted(indptr_np, indices_np))
        run_split(K.node2vec_walks, starts_np.shape[0], indptr_np, indices_np, starts_np, walk_length, 1.0 / p,
                  1.0 / q, sorted_rows, key, out, grain=K.CHUNK)
    return torch.from_numpy(out)
