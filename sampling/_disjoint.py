"""Disjoint subgraphs: every seed grows its own tree, and a node reached from two seeds is two
nodes of the batch (PyG's ``disjoint=True``; temporal sampling is always disjoint).

The draws are the implementations' own kernels (``draw``: the CPU's numba passes or the GPU's
Triton kernels, without their node -> local-id claims); what differs is the relabelling, keyed
by ``(tree, node)`` instead of by node, and numbered in order of first appearance, edge type
by edge type, slot by slot, as the shared-tree path numbers its new nodes. That key space
(batch size x node count) is too large for a direct map, so each implementation brings a
``Relabel`` per node type: on the CPU a hash table of ``(tree, node)`` keys
(``sampling._disjoint_kernels``), on a GPU :class:`SortRelabel` (a sort of the hop's keys and a
binary search of the keys seen before, in torch).

On a GPU nothing is read back between hops: every hop's slots and new nodes stay padded to
sizes known from the fanouts (``valid`` marks the filled slots, frontier sizes stay on the
device), and one host sync at the end reads every count before the outputs are compacted.
A fanout of -1 syncs in its draw (its slot count depends on the degrees).

Trees are numbered by seed position, the seed types taken in the order the seeds were given
(PyG's ``batch``); with ``seed_time`` every tree carries its seed's time, and a temporal edge
type offers a frontier node only its edges no later than that time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from sampling._typed import TypedCSR

#: ``draw(e, hop, frontier, trees, count, row_time, col_base)`` -> ``(neighbour, edge, col, tree, valid)``:
#: the slots of edge type ``e`` at ``hop`` over the first ``count`` (an int, or a 0-d tensor on the
#: device) nodes of ``frontier`` (global ids; ``trees`` theirs), in slot order; ``col`` is
#: ``col_base`` plus the position in ``frontier`` a slot was drawn for, ``tree`` that row's tree;
#: ``row_time`` (or None) each frontier row's time limit. ``valid`` is None when every returned
#: slot is filled, else a bool mask of the filled ones.
Draw = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None"]]


class Relabel(Protocol):
    """One node type's ``(tree, node)`` -> local id numbering during one call."""

    def hop(self, trees: torch.Tensor, nodes: torch.Tensor, valid: torch.Tensor | None):
        """``(local, new_nodes, new_trees, new_count)``: each slot's local id (-1 where not
        ``valid``) and the keys not seen before, numbered on from the count so far in order
        of first appearance (``new_*`` may be padded past ``new_count``, an int or a 0-d tensor)."""
        ...


class SortRelabel:
    """:class:`Relabel` by sorting, for a GPU: no host sync, every size known in advance.

    The keys seen so far are kept sorted (padded with a sentinel) with their local ids; a hop
    sorts its keys (stable), marks the first slot of every key that is neither seen nor a
    repeat, ranks those marks in slot order (a prefix sum) and merges the new keys in.
    Cost per hop: two sorts (the hop's keys, the seen keys) and about 20 element-wise or
    scan launches over them; the count stays on the device.
    """

    _SENTINEL = torch.iinfo(torch.int64).max

    def __init__(self, num_nodes: int, device: torch.device) -> None:
        self._n = max(num_nodes, 1)
        self._keys = torch.zeros(0, dtype=torch.int64, device=device)
        self._local = torch.zeros(0, dtype=torch.int64, device=device)
        self.count: int | torch.Tensor = 0

    def hop(self, trees: torch.Tensor, nodes: torch.Tensor, valid: torch.Tensor | None):
        n, dev = nodes.numel(), nodes.device
        key = trees * self._n + nodes
        if valid is not None:
            key = torch.where(valid, key, self._SENTINEL)
        if self._keys.numel():
            at = torch.searchsorted(self._keys, key).clamp_(max=self._keys.numel() - 1)
            seen = self._keys[at] == key
            seen_local = self._local[at]
        else:
            seen = torch.zeros(n, dtype=torch.bool, device=dev)
            seen_local = torch.zeros(n, dtype=torch.int64, device=dev)
        if valid is not None:
            seen &= valid
        ordered, perm = torch.sort(key, stable=True)
        start = torch.ones(n, dtype=torch.bool, device=dev)
        start[1:] = ordered[1:] != ordered[:-1]
        fresh = start & (ordered != self._SENTINEL) & ~seen[perm]
        flag = torch.empty(n, dtype=torch.int64, device=dev)
        flag[perm] = fresh.to(torch.int64)
        rank = torch.cumsum(flag, 0)
        first_local = self.count + rank - 1
        group = torch.cumsum(start, 0) - 1
        group_local = torch.zeros(n, dtype=torch.int64, device=dev)
        group_local.scatter_add_(0, group, torch.where(fresh, first_local[perm], 0))
        local = torch.empty(n, dtype=torch.int64, device=dev)
        local[perm] = group_local[group]
        local = torch.where(seen, seen_local, local)
        if valid is not None:
            local = torch.where(valid, local, -1)
        new = rank[-1] if n else torch.zeros((), dtype=torch.int64, device=dev)
        put = torch.where(flag.bool(), rank - 1, n)
        new_nodes = torch.zeros(n + 1, dtype=torch.int64, device=dev)
        new_trees = torch.zeros(n + 1, dtype=torch.int64, device=dev)
        new_nodes[put] = nodes
        new_trees[put] = trees
        self._keys, order = torch.sort(torch.cat([self._keys, torch.where(flag.bool(), key, self._SENTINEL)]))
        self._local = torch.cat([self._local, first_local])[order]
        self.count = self.count + new
        return local, new_nodes[:n], new_trees[:n], new


def sample_disjoint(
    g: TypedCSR,
    draw: Draw,
    relabel: Sequence[Relabel],
    seeds: Sequence[torch.Tensor],
    order: Sequence[int],
    seed_time: Sequence[torch.Tensor] | None = None,
    bad: torch.Tensor | None = None,
):
    """Sample one tree per seed; returns ``g.output(...)`` with the ``batch`` vectors.

    Args:
        g: the graph (fanouts, types).
        draw: the implementation's draws (see :data:`Draw`).
        relabel: per node type, a fresh :class:`Relabel` of this call.
        seeds: per node type (by position), int64 ids on the device the draws run on.
        order: node-type positions in the order the seeds were given: trees are numbered
            through the seeds of ``order[0]``, then ``order[1]``, ...
        seed_time: per node type, the time of each seed (temporal graphs), else None.
        bad: a device flag the draws set on a neighbour outside its node type; read with
            the counts (IndexError when set).

    Cost: per hop and edge type one draw, per hop and source node type one relabelling;
    with padded draws (a GPU) one host sync at the end, then a compaction per edge type.
    """
    types, edges = range(len(g.node_types)), range(len(g.edge_types))
    device = seeds[0].device
    first_tree, at = [0] * len(seeds), 0
    for t in order:
        first_tree[t] = at
        at += seeds[t].numel()
    root_time = None
    if seed_time is not None:
        root_time = torch.cat([seed_time[t] for t in order]) if order else torch.zeros(0, device=device)
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    frontier = list(seeds)
    frontier_trees = [torch.arange(first_tree[t], first_tree[t] + seeds[t].numel(), device=device) for t in types]
    for t in types:
        relabel[t].hop(frontier_trees[t], seeds[t], None)
    frontier_count: list[int | torch.Tensor] = [s.numel() for s in seeds]
    count: list[int | torch.Tensor] = list(frontier_count)
    lo: list[int | torch.Tensor] = [0] * len(seeds)
    hop_nodes = [[s] for s in seeds]
    hop_trees = [[tr] for tr in frontier_trees]
    hop_count = [[c] for c in frontier_count]
    parts: list[list[tuple]] = [[] for _ in edges]  # per edge type and hop: (row, col, edge, valid)
    for hop in range(g.hops):
        drawn: list[tuple] = []
        for e in edges:
            d = g.dst[e]
            if frontier[d].numel() == 0 or g.fanouts[e][hop] == 0:
                drawn.append((empty, empty, empty, empty, None))
                continue
            row_time = None
            if root_time is not None and g.time[e] is not None:
                row_time = _gather(root_time, frontier_trees[d])
            drawn.append(draw(e, hop, frontier[d], frontier_trees[d], frontier_count[d], row_time, lo[d]))
        for s in types:
            group = [e for e in g.sources(s) if drawn[e][0].numel()]
            if not group:
                frontier[s], frontier_trees[s], frontier_count[s] = empty, empty, 0
                for e in g.sources(s):
                    parts[e].append((empty, empty, empty, None))
                continue
            valid = None
            if any(drawn[e][4] is not None for e in group):
                valid = _joined([drawn[e][4] if drawn[e][4] is not None
                                 else torch.ones_like(drawn[e][0], dtype=torch.bool) for e in group])
            local, new_nodes, new_trees, new = relabel[s].hop(_joined([drawn[e][3] for e in group]),
                                                              _joined([drawn[e][0] for e in group]), valid)
            frontier[s], frontier_trees[s], frontier_count[s] = new_nodes, new_trees, new
            start = 0
            for e in g.sources(s):
                nbr, edge, col, _, valid_e = drawn[e]
                n = nbr.numel()
                parts[e].append((local[start : start + n], col, edge, valid_e))
                start += n
        for t in types:
            hop_nodes[t].append(frontier[t])
            hop_trees[t].append(frontier_trees[t])
            hop_count[t].append(frontier_count[t])
        lo = list(count)
        count = [c + f for c, f in zip(count, frontier_count, strict=True)]
    return _assemble(g, hop_nodes, hop_trees, hop_count, parts, bad)


# Host tensors are joined and gathered through numpy: torch's intra-op threads (set_num_threads
# above 1) made these copies 15 times slower on 2 shared, loaded cores (a 900 K-entry cat took
# 15 ms against numpy's 1 ms), and numpy's single thread is memory-bound anyway.
def _cat(pieces: list[torch.Tensor]) -> torch.Tensor:
    """The pieces end to end. Cost: one copy."""
    if pieces[0].device.type == "cpu":
        return torch.from_numpy(np.concatenate([p.numpy() for p in pieces]))
    return torch.cat(pieces)


def _gather(values: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """``values[at]``. Cost: one gather."""
    if values.device.type == "cpu":
        return torch.from_numpy(values.numpy()[at.numpy()])
    return values[at]


def _joined(pieces: list[torch.Tensor]) -> torch.Tensor:
    """The pieces end to end (the one piece itself, without a copy)."""
    return pieces[0] if len(pieces) == 1 else _cat(pieces)


def _assemble(g: TypedCSR, hop_nodes, hop_trees, hop_count, parts, bad: torch.Tensor | None):
    """The output from per-hop pieces: counts read in one host sync where any is on the device,
    then padded pieces trimmed (nodes) and compacted (edges, by their ``valid`` masks)."""
    pending: list[torch.Tensor] = []

    def later(x) -> int | None:
        if isinstance(x, torch.Tensor):
            pending.append(x.reshape(()))
            return None
        return int(x)

    node_counts = [[later(c) for c in hc] for hc in hop_count]
    edge_counts = [[later(p[0].numel() if p[3] is None else p[3].sum()) for p in per_hop] for per_hop in parts]
    if bad is not None:
        pending.append(bad.reshape(()).to(torch.int64))
    values = iter(torch.stack(pending).tolist() if pending else [])  # the one host sync of a padded call
    nodes_per_hop: list[list[int]] = [[c if c is not None else next(values) for c in hc] for hc in node_counts]
    edges_per_hop: list[list[int]] = [[c if c is not None else next(values) for c in ec] for ec in edge_counts]
    if bad is not None and next(values):
        raise IndexError(g.neighbour_error())
    types, edges = range(len(g.node_types)), range(len(g.edge_types))
    nodes = [_cat([v[:c] for v, c in zip(hop_nodes[t], nodes_per_hop[t], strict=True)]) for t in types]
    batch = [_cat([v[:c] for v, c in zip(hop_trees[t], nodes_per_hop[t], strict=True)]) for t in types]
    rows: list[torch.Tensor] = []
    cols: list[torch.Tensor] = []
    eids: list[torch.Tensor] = []
    for e in edges:
        pieces = [_compact(p, c) for p, c in zip(parts[e], edges_per_hop[e], strict=True)]
        for out, i in ((rows, 0), (cols, 1), (eids, 2)):
            out.append(_cat([p[i] for p in pieces]) if pieces else torch.zeros(0, dtype=torch.int64,
                                                                                     device=nodes[0].device))
    return g.output(nodes, rows, cols, eids, nodes_per_hop, edges_per_hop, batch=batch)


def _compact(piece, n: int):
    """``(row, col, edge)`` of one hop's slots, the filled ones only (``n`` of them)."""
    row, col, edge, valid = piece
    if valid is None:
        return row, col, edge
    stacked = torch.stack([row, col, edge])
    put = torch.where(valid, torch.cumsum(valid, 0) - 1, n)
    out = torch.empty(3, n + 1, dtype=torch.int64, device=row.device)
    out.scatter_(1, put.expand(3, -1), stacked)
    return out[0, :n], out[1, :n], out[2, :n]
