"""Plain-text edge lists: one ``src dst [weight]`` per line, ``#`` comments, any whitespace.

Parsing is one compiled pass over the memory-mapped bytes (no Python loop per line), so a
file of hundreds of millions of edges reads at disk speed; the same pass records where a
malformed line is, so errors name the file and line number.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

import numba
import numpy as np
import torch

from graphsys.datasets.base import NodeDataset, physical_memory
from graphsys.graph import Graph

#: File suffixes that :func:`graphsys.datasets.load` reads as edge lists.
EDGE_LIST_SUFFIXES = (".edgelist", ".edges", ".el", ".txt", ".tsv")

_MAX_ID = 1 << 62
_MAX_WEIGHT = float(np.finfo(np.float32).max)
#: Bytes per parsing chunk at least: small enough to spread a file over every thread, large
#: enough that a small file is one chunk (chunk bookkeeping costs a few microseconds).
_CHUNK_BYTES = 1 << 20
_OK, _BAD_TOKEN, _TOO_FEW, _TOO_MANY, _MIXED, _TOO_BIG, _BAD_WEIGHT = 0, 1, 2, 3, 4, 5, 6
_MESSAGES = {
    _BAD_TOKEN: "expected 'src dst [weight]' with non-negative integer ids and a numeric weight",
    _TOO_FEW: "expected 'src dst [weight]', found a single column",
    _TOO_MANY: "expected 'src dst [weight]', found more than three columns",
    _MIXED: "some lines have a weight column and some do not",
    _TOO_BIG: f"node id does not fit (ids must be below 2**62 = {_MAX_ID})",
    _BAD_WEIGHT: f"weight does not fit float32 (its magnitude must be at most {_MAX_WEIGHT:.7g})",
}


@numba.njit(cache=True, inline="always")
def _is_space(c) -> bool:
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


@numba.njit(cache=True, inline="always")
def _ends_token(buf, i) -> bool:
    return i >= buf.shape[0] or _is_space(buf[i]) or buf[i] == 10 or buf[i] == 35


@numba.njit(cache=True)
def _next_line_start(buf, i):
    """The offset just after the first newline at or after ``i`` (or the end of ``buf``)."""
    n = buf.shape[0]
    while i < n and buf[i] != 10:
        i += 1
    return min(i + 1, n)


@numba.njit(parallel=True, cache=True)
def _count_newlines(buf, bounds):
    """Newlines in each chunk ``[bounds[c], bounds[c+1])``."""
    chunks = bounds.shape[0] - 1
    counts = np.zeros(chunks, dtype=np.int64)
    for c in numba.prange(chunks):
        k = 0
        for i in range(bounds[c], bounds[c + 1]):
            if buf[i] == 10:
                k += 1
        counts[c] = k
    return counts


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
def _parse_range(buf, lo, hi, src, dst, weight, out):
    """Parse the lines of ``buf[lo:hi]`` into ``src``/``dst``/``weight`` from slot ``out`` on.

    ``lo`` starts a line and ``hi`` ends one (just after a newline, or the end of the file).
    Returns (edges, weighted: -1 none / 0 / 1, error code, line of the error counted from 1
    at ``lo``, offset where that line starts, line of the first edge).
    """
    n = hi
    i = lo
    line = 0
    count = 0
    weighted = -1
    first_edge_line = 0
    while i <= n:  # i == n: a last line without newline (or an empty one, which adds nothing)
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
                        return count, weighted, _TOO_BIG, line, start, first_edge_line
                if i == first or not _ends_token(buf, i):
                    return count, weighted, _BAD_TOKEN, line, start, first_edge_line
                if ntok == 0:
                    s = v
                else:
                    d = v
            elif ntok == 2:
                w, i, ok = _parse_float(buf, i)
                if not ok or not _ends_token(buf, i):
                    return count, weighted, _BAD_TOKEN, line, start, first_edge_line
                if not abs(w) <= _MAX_WEIGHT:
                    return count, weighted, _BAD_WEIGHT, line, start, first_edge_line
            else:
                return count, weighted, _TOO_MANY, line, start, first_edge_line
            ntok += 1
        if ntok == 1:
            return count, weighted, _TOO_FEW, line, start, first_edge_line
        if ntok >= 2:
            has_weight = 1 if ntok == 3 else 0
            if weighted == -1:
                weighted = has_weight
                first_edge_line = line
            elif weighted != has_weight:
                return count, weighted, _MIXED, line, start, first_edge_line
            src[out + count] = s
            dst[out + count] = d
            weight[out + count] = w
            count += 1
        i += 1
    return count, weighted, _OK, line, 0, first_edge_line


@numba.njit(parallel=True, cache=True)
def _parse_chunks(buf, bounds, slots, src, dst, weight):
    """Parse every chunk in parallel; row ``c`` of the result is :func:`_parse_range`'s tuple."""
    chunks = bounds.shape[0] - 1
    result = np.zeros((chunks, 6), dtype=np.int64)
    for c in numba.prange(chunks):
        r = _parse_range(buf, bounds[c], bounds[c + 1], src, dst, weight, slots[c])
        for k in range(6):
            result[c, k] = r[k]
    return result


def _chunk_bounds(buf: np.ndarray, chunks: int) -> np.ndarray:
    """``chunks + 1`` offsets that split ``buf`` at line starts (fewer when lines are long)."""
    n = buf.shape[0]
    bounds = [0]
    for c in range(1, chunks):
        cut = _next_line_start(buf, max(bounds[-1], c * n // chunks))
        if bounds[-1] < cut < n:
            bounds.append(cut)
    bounds.append(n)
    return np.asarray(bounds, dtype=np.int64)


def read_edge_list(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Parse an edge-list file into ``(src, dst, weight or None)`` int64 / float32 numpy arrays.

    Cost: two compiled passes over the memory-mapped file, parallel over chunks of lines
    (one to count lines, one to parse); allocates three arrays sized by the line count and
    copies the parsed edges once into the result.

    Raises:
        FileNotFoundError: no such file.
        IsADirectoryError: ``path`` is a folder.
        ValueError: a malformed line (the message names the file, the line number and its text).
    """
    file = Path(path)
    if file.is_dir():
        raise IsADirectoryError(f"edge list {file} is a directory, expected a text file of 'src dst [weight]' lines")
    if not file.is_file():
        raise FileNotFoundError(f"edge list {file} not found")
    size = file.stat().st_size
    buf = np.asarray(np.memmap(file, dtype=np.uint8, mode="r")) if size else np.zeros(0, dtype=np.uint8)
    bounds = _chunk_bounds(buf, max(1, min(size // _CHUNK_BYTES, 8 * numba.get_num_threads())))
    newlines = _count_newlines(buf, bounds)
    slots = np.zeros(len(bounds), dtype=np.int64)
    np.cumsum(newlines + 1, out=slots[1:])
    src = np.empty(slots[-1], dtype=np.int64)
    dst = np.empty(slots[-1], dtype=np.int64)
    weight = np.empty(slots[-1], dtype=np.float32)
    result = _parse_chunks(buf, bounds, slots[:-1], src, dst, weight)
    lines_before = np.concatenate([[0], np.cumsum(newlines)])
    weighted = -1
    for c, (_count, chunk_weighted, code, line, start, first_edge_line) in enumerate(result.tolist()):
        if chunk_weighted != -1 and weighted != -1 and chunk_weighted != weighted:
            code, line = _MIXED, first_edge_line
            start = _line_start(buf, int(bounds[c]), line)
        if code != _OK:
            end = _next_line_start(buf, start)
            text = bytes(buf[start:end]).decode("utf-8", errors="replace").rstrip("\r\n")
            line_no = int(lines_before[c]) + line
            raise ValueError(f"{file}, line {line_no}: {_MESSAGES[code]}; got {text[:200]!r}")
        if weighted == -1:
            weighted = chunk_weighted
    parts = [(int(slots[c]), int(result[c, 0])) for c in range(len(result))]
    del buf
    return _gather(src, parts), _gather(dst, parts), (_gather(weight, parts) if weighted == 1 else None)


def _gather(array: np.ndarray, parts: list[tuple[int, int]]) -> np.ndarray:
    """The slices ``array[start : start + count]`` of every chunk, end to end."""
    return np.concatenate([array[start : start + count] for start, count in parts])


def _line_start(buf: np.ndarray, chunk_start: int, line: int) -> int:
    """Offset of line ``line`` (counted from 1) of the chunk starting at ``chunk_start``."""
    offset = chunk_start
    for _ in range(line - 1):
        offset = _next_line_start(buf, offset)
    return offset


#: Bytes every node costs however few edges it has: its CSR ``indptr`` entry and its label (int64 each).
_BYTES_PER_NODE = 16


def _line_of_id(file: Path, value: int) -> int | None:
    """The line number (from 1) of the first line holding ``value`` as a whole token, if found.

    Cost: a byte search over the memory-mapped file, then a newline count up to the hit
    (error path only).
    """
    if file.stat().st_size == 0:
        return None
    token = str(value).encode()
    spaces = b" \t\r\n\x0b\x0c"
    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        at = data.find(token)
        while at >= 0:
            end = at + len(token)
            before_ok = at == 0 or data[at - 1] in spaces
            after_ok = end >= len(data) or data[end] in spaces or data[end] == 35
            if before_ok and after_ok:
                buf = np.frombuffer(data, dtype=np.uint8, count=at)
                line = 1 + sum(int(np.count_nonzero(buf[i:i + (64 << 20)] == 10))
                               for i in range(0, at, 64 << 20))
                del buf
                return line
            at = data.find(token, at + 1)
    return None


def _check_fits_in_memory(file: Path, src: np.ndarray, dst: np.ndarray, num_nodes: int | None) -> None:
    """Refuse a node count whose per-node arrays alone exceed the machine's physical memory.

    Node ids are kept as given, so one id of 10**15 asks for 10**15 nodes (16 PB of ``indptr``
    and labels); numpy would fail deep inside the CSR build with a MemoryError, or the machine
    would swap. Cost: two reductions over the edge arrays.
    """
    memory = physical_memory()
    if memory is None:
        return
    largest = int(max(src.max(initial=-1), dst.max(initial=-1)))
    nodes = num_nodes if isinstance(num_nodes, (int, np.integer)) and not isinstance(num_nodes, bool) \
        else largest + 1
    need = _BYTES_PER_NODE * (int(nodes) + 1)
    if need <= memory:
        return
    have = f"this machine has {memory:,} bytes ({memory / 2**30:.1f} GiB) of memory"
    if num_nodes is not None and int(nodes) > largest + 1:
        raise ValueError(f"num_nodes = {int(nodes)} needs {need:,} bytes for the graph's per-node arrays "
                         f"({_BYTES_PER_NODE} bytes a node); {have}")
    line = _line_of_id(file, largest)
    where = f"{file}, line {line}" if line is not None else f"{file}"
    raise ValueError(
        f"{where}: node id {largest} makes a graph of {largest + 1:,} nodes (ids are kept as given), whose "
        f"per-node arrays need {need:,} bytes ({_BYTES_PER_NODE} bytes a node); {have}. "
        "Renumber the node ids to 0..N-1"
    )


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
        FileNotFoundError: no such file. IsADirectoryError: ``path`` is a folder.
        ValueError: a malformed line (file and line number in the message), or a node id (or
            ``num_nodes``) so large that the graph's per-node arrays would not fit in this
            machine's memory (checked before they are allocated).
        IndexError: an id ``>= num_nodes``.
    """
    src, dst, weight = read_edge_list(path)
    _check_fits_in_memory(Path(path), src, dst, num_nodes)
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
