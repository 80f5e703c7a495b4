"""Plain-text edge lists: one ``src dst [weight]`` per line, ``#`` comments, any whitespace.

Parsing is one compiled pass over the memory-mapped bytes (no Python loop per line), so a
file of hundreds of millions of edges reads at disk speed; the same pass records where a
malformed line is, so errors name the file and line number.
"""
from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np
import torch

from graphsys.datasets.base import NodeDataset
from graphsys.graph import Graph

#: File suffixes that :func:`graphsys.datasets.load` reads as edge lists.
EDGE_LIST_SUFFIXES = (".edgelist", ".edges", ".el", ".txt", ".tsv")

_MAX_ID = 1 << 62
_OK, _BAD_TOKEN, _TOO_FEW, _TOO_MANY, _MIXED, _TOO_BIG = 0, 1, 2, 3, 4, 5
_MESSAGES = {
    _BAD_TOKEN: "expected 'src dst [weight]' with non-negative integer ids and a numeric weight",
    _TOO_FEW: "expected 'src dst [weight]', found a single column",
    _TOO_MANY: "expected 'src dst [weight]', found more than three columns",
    _MIXED: "some lines have a weight column and some do not",
    _TOO_BIG: f"node id does not fit (ids must be below 2**62 = {_MAX_ID})",
}


@numba.njit(cache=True, inline="always")
def _is_space(c) -> bool:
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


@numba.njit(cache=True, inline="always")
def _ends_token(buf, i) -> bool:
    return i >= buf.shape[0] or _is_space(buf[i]) or buf[i] == 10 or buf[i] == 35


@numba.njit(cache=True)
def _count_lines(buf) -> int:
    n = 1
    for c in buf:
        if c == 10:
            n += 1
    return n


@numba.njit(cache=True)
def _parse_float(buf, i):
    """Parse ``[+-]digits[.digits][(e|E)[+-]digits]`` at ``i``; returns (value, end, ok)."""
    n = buf.shape[0]
    sign = 1.0
    if i < n and (buf[i] == 43 or buf[i] == 45):
        sign = -1.0 if buf[i] == 45 else 1.0
        i += 1
    mant = 0.0
    digits = 0
    while i < n and 48 <= buf[i] <= 57:
        mant = mant * 10.0 + (buf[i] - 48)
        digits += 1
        i += 1
    scale = 0
    if i < n and buf[i] == 46:
        i += 1
        while i < n and 48 <= buf[i] <= 57:
            mant = mant * 10.0 + (buf[i] - 48)
            scale -= 1
            digits += 1
            i += 1
    if digits == 0:
        return 0.0, i, False
    if i < n and (buf[i] == 101 or buf[i] == 69):
        i += 1
        esign = 1
        if i < n and (buf[i] == 43 or buf[i] == 45):
            esign = -1 if buf[i] == 45 else 1
            i += 1
        e = 0
        edigits = 0
        while i < n and 48 <= buf[i] <= 57:
            e = min(e * 10 + (buf[i] - 48), 10000)
            edigits += 1
            i += 1
        if edigits == 0:
            return 0.0, i, False
        scale += esign * e
    return sign * mant * 10.0 ** scale, i, True


@numba.njit(cache=True)
def _parse(buf, src, dst, weight):
    """Fill ``src``/``dst``/``weight``; returns (edges, weighted, error code, line, line start offset)."""
    n = buf.shape[0]
    i = 0
    line = 0
    count = 0
    weighted = -1
    while i <= n:
        line += 1
        start = i
        ntok = 0
        s = 0
        d = 0
        w = 1.0
        while True:
            while i < n and _is_space(buf[i]):
                i += 1
            if i >= n or buf[i] == 10:
                break
            if buf[i] == 35:
                while i < n and buf[i] != 10:
                    i += 1
                break
            if ntok < 2:
                v = 0
                first = i
                while i < n and 48 <= buf[i] <= 57:
                    v = v * 10 + (buf[i] - 48)
                    i += 1
                    if v >= _MAX_ID:
                        return count, weighted, _TOO_BIG, line, start
                if i == first or not _ends_token(buf, i):
                    return count, weighted, _BAD_TOKEN, line, start
                if ntok == 0:
                    s = v
                else:
                    d = v
            elif ntok == 2:
                w, i, ok = _parse_float(buf, i)
                if not ok or not _ends_token(buf, i):
                    return count, weighted, _BAD_TOKEN, line, start
            else:
                return count, weighted, _TOO_MANY, line, start
            ntok += 1
        if ntok == 1:
            return count, weighted, _TOO_FEW, line, start
        if ntok >= 2:
            has_weight = 1 if ntok == 3 else 0
            if weighted == -1:
                weighted = has_weight
            elif weighted != has_weight:
                return count, weighted, _MIXED, line, start
            src[count] = s
            dst[count] = d
            weight[count] = w
            count += 1
        i += 1
    return count, weighted, _OK, line, 0


def read_edge_list(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Parse an edge-list file into ``(src, dst, weight or None)`` int64 / float32 numpy arrays.

    Cost: one compiled pass over the memory-mapped file; allocates three arrays sized by its
    line count.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line (the message names the file, the line number and its text).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"edge list {file} not found")
    size = file.stat().st_size
    buf = np.memmap(file, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
    lines = _count_lines(buf)
    src = np.empty(lines, dtype=np.int64)
    dst = np.empty(lines, dtype=np.int64)
    weight = np.empty(lines, dtype=np.float32)
    count, weighted, code, line, start = _parse(np.asarray(buf), src, dst, weight)
    if code != _OK:
        end = start
        while end < size and buf[end] != 10:
            end += 1
        text = bytes(buf[start:end]).decode("utf-8", errors="replace").rstrip("\r")
        raise ValueError(f"{file}, line {line}: {_MESSAGES[code]}; got {text[:200]!r}")
    del buf
    return src[:count].copy(), dst[:count].copy(), (weight[:count].copy() if weighted == 1 else None)


def load_edge_list(
    path: str | os.PathLike,
    *,
    undirected: bool = False,
    num_nodes: int | None = None,
) -> NodeDataset:
    """Load an edge list as a featureless, unlabelled :class:`NodeDataset`.

    Node ids are kept as they are in the file (so ``num_nodes`` is ``max id + 1`` unless
    given); an edge ``src dst`` is a message from ``src`` to ``dst``. A third column becomes
    ``graph.edge_weight``.

    Args:
        path: the text file.
        undirected: store every edge both ways (repeated edges and self loops dropped).
        num_nodes: node count when the file's largest id is not the last node.

    Raises:
        ValueError: a malformed line (file and line number in the message).
        IndexError: an id ``>= num_nodes``.
    """
    src, dst, weight = read_edge_list(path)
    graph = Graph.from_coo(
        src, dst, num_nodes, edge_weight=weight, symmetrize=undirected, drop_self_loops=undirected
    )
    empty = torch.zeros(0, dtype=torch.int64)
    return NodeDataset(
        name=str(path),
        graph=graph,
        x=None,
        y=torch.full((graph.num_nodes,), -1, dtype=torch.int64),
        train_idx=empty,
        val_idx=empty.clone(),
        test_idx=empty.clone(),
        num_classes=0,
    )
