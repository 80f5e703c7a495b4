"""Disjoint subgraphs: every seed grows its own tree, and a node reached from two seeds is two
nodes of the batch (PyG's ``disjoint=True``; temporal sampling is always disjoint).

The draws are the implementations' own kernels (``draw``: the CPU's numba passes or the GPU's
Triton kernels, without their node -> local-id claims); what differs is the relabelling, keyed
by ``(tree, node)`` instead of by node. That key space (batch size x node count) is too large
for a direct map, so each node type keeps the keys it has seen sorted, and every hop looks the
hop's keys up by binary search (``torch.searchsorted``), dedups the unseen ones
(``torch.unique``) and numbers them in order of first appearance, edge type by edge type, slot
by slot, as the shared-tree path numbers its new nodes. Plain torch operations, so one code
path serves the CPU and the GPU; on a GPU they sync a few times per hop (``unique``, masks).

Trees are numbered by seed position, the seed types taken in the order the seeds were given
(PyG's ``batch``); with ``seed_time`` every tree carries its seed's time, and a temporal edge
type offers a frontier node only its edges no later than that time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sampling._typed import TypedCSR

#: ``draw(e, hop, frontier, row_time)`` -> ``(neighbour, edge, row)``: the filled slots of edge
#: type ``e`` at ``hop`` over the frontier's nodes (global ids), in slot order; ``row`` is the
#: position in ``frontier`` a slot was drawn for; ``row_time`` (or None) each row's time limit.
Draw = Callable[[int, int, torch.Tensor, "torch.Tensor | None"], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class _SeenKeys:
    """The ``(tree, node)`` keys one node type has in the batch, sorted, with their local ids."""

    def __init__(self, keys: torch.Tensor, local: torch.Tensor) -> None:
        self._set(keys, local)

    def _set(self, keys: torch.Tensor, local: torch.Tensor) -> None:
        self.keys, order = torch.sort(keys)
        self.local = local[order]

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        """Local id of each key, -1 where unseen. Cost: one binary search per key."""
        if self.keys.numel() == 0:
            return torch.full_like(keys, -1)
        at = torch.searchsorted(self.keys, keys).clamp_(max=self.keys.numel() - 1)
        return torch.where(self.keys[at] == keys, self.local[at], torch.full_like(keys, -1))

    def add(self, keys: torch.Tensor, local: torch.Tensor) -> None:
        self._set(torch.cat([self.keys, keys]), torch.cat([self.local, local]))


def sample_disjoint(
    g: TypedCSR,
    draw: Draw,
    seeds: Sequence[torch.Tensor],
    order: Sequence[int],
    seed_time: Sequence[torch.Tensor] | None = None,
):
    """Sample one tree per seed; returns ``g.output(...)`` with the ``batch`` vectors.

    Args:
        g: the graph (fanouts, types).
        draw: the implementation's draws (see :data:`Draw`).
        seeds: per node type (by position), int64 ids on the device the draws run on.
        order: node-type positions in the order the seeds were given: trees are numbered
            through the seeds of ``order[0]``, then ``order[1]``, ...
        seed_time: per node type, the time of each seed (temporal graphs), else None.

    Cost: per hop and edge type one draw; per hop and source node type a binary search of the
    hop's keys, one ``unique``, one sort of the seen keys; on a GPU a few host syncs per hop.
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
    hop_nodes = [[seeds[t]] for t in types]
    hop_trees = [[torch.arange(first_tree[t], first_tree[t] + seeds[t].numel(), device=device)] for t in types]
    seen = [_SeenKeys(hop_trees[t][0] * g.num_nodes[t] + seeds[t], torch.arange(seeds[t].numel(), device=device))
            for t in types]
    count = [s.numel() for s in seeds]
    lo = [0] * len(count)
    rows: list[list[torch.Tensor]] = [[] for _ in edges]
    cols: list[list[torch.Tensor]] = [[] for _ in edges]
    eids: list[list[torch.Tensor]] = [[] for _ in edges]
    edge_counts: list[list[int]] = [[] for _ in edges]
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    for hop in range(g.hops):
        drawn = []
        for e in edges:
            d = g.dst[e]
            frontier, trees = hop_nodes[d][-1], hop_trees[d][-1]
            if frontier.numel() == 0 or g.fanouts[e][hop] == 0:
                drawn.append((empty, empty, empty, empty))
                continue
            row_time = root_time[trees] if root_time is not None and g.time[e] is not None else None
            nbr, edge, row = draw(e, hop, frontier, row_time)
            drawn.append((nbr, edge, lo[d] + row, trees[row]))
        for s in types:
            group = g.sources(s)
            keys = torch.cat([drawn[e][3] * g.num_nodes[s] + drawn[e][0] for e in group]) if group else empty
            local = seen[s].lookup(keys)
            new = local < 0
            if bool(new.any()):
                new_keys = keys[new]
                unique, inverse = torch.unique(new_keys, return_inverse=True)
                first = torch.full((unique.numel(),), new_keys.numel(), dtype=torch.int64, device=device)
                first.scatter_reduce_(0, inverse, torch.arange(new_keys.numel(), device=device), reduce="amin")
                by_appearance = torch.argsort(first)
                rank = torch.empty_like(by_appearance)
                rank[by_appearance] = torch.arange(unique.numel(), device=device)
                local[new] = count[s] + rank[inverse]
                appended = unique[by_appearance]
                hop_nodes[s].append(appended % g.num_nodes[s])
                hop_trees[s].append(appended // g.num_nodes[s])
                seen[s].add(unique, count[s] + rank)
                count[s] += unique.numel()
            else:
                hop_nodes[s].append(empty)
                hop_trees[s].append(empty)
            start = 0
            for e in group:
                n = drawn[e][0].numel()
                rows[e].append(local[start : start + n])
                start += n
        for e in edges:
            cols[e].append(drawn[e][2])
            eids[e].append(drawn[e][1])
            edge_counts[e].append(int(drawn[e][0].numel()))
        lo = [sum(int(c.numel()) for c in hop_nodes[t][:-1]) for t in types]
    return g.output(
        [torch.cat(hop_nodes[t]) for t in types],
        [torch.cat(rows[e]) if rows[e] else empty for e in edges],
        [torch.cat(cols[e]) if cols[e] else empty for e in edges],
        [torch.cat(eids[e]) if eids[e] else empty for e in edges],
        [[int(c.numel()) for c in hop_nodes[t]] for t in types],
        edge_counts,
        batch=[torch.cat(hop_trees[t]) for t in types],
    )
