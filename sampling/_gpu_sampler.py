"""The GPU path of :class:`sampling.NeighborSampler`: Triton kernels over CSRs in GPU memory
or in pinned host memory, read in place over PCIe (UVA).

One code path for every graph: a homogeneous graph is one node type and one edge type (16
launches for 3 hops, as in the class docstring). Per hop, every edge type
``(s, r, d)`` samples type ``d``'s frontier and claims in type ``s``'s node map; then per
node type ``s``, one prefix sum over the flags of the edge types with source ``s`` (in edge
type order) gives the new type-``s`` nodes their local ids.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
import triton

from sampling import _gpu_kernels as K
from sampling._cpu_kernels import REJECT_FACTOR
from sampling._cpu_sampler import alias_tables
from sampling._disjoint import SortRelabel, sample_disjoint
from sampling._rng import draw_key
from sampling._typed import typed_csr

# Frontier rows per program of the sampling kernel: 64 rows x 16 slots keeps a program at
# 1024 lanes; larger blocks leave SMs idle on the small first hop.
_BLOCK_ROWS = 64
# Elements per program of the element-wise kernels (flags, assignment, compaction).
_BLOCK = 1024
# Edges per chunk of the weighted kernel (one program per frontier row): most rows of a
# power-law graph fit one chunk of 64; longer rows loop.
_WEIGHTED_BLOCK = 64
# Alias draws a weighted row without replacement makes at once (every pair compared: 64 x 64
# per program); fanouts above half of it skip the rejection draws for the keyed method.
_MAX_ATTEMPTS = 64
# Captured graphs kept (one per batch size; an epoch's last batch is usually the second).
_MAX_GRAPHS = 4


def _grid(n: int, block: int) -> tuple[int]:
    return (max(1, triton.cdiv(n, block)),)


@dataclass(frozen=True)
class _Padded:
    """One call's results before the counts are read: padded buffers and the ``meta`` counts."""

    # [bounds per node type (hops + 2 each) | edges per hop per edge type (hops each) | bad-seed flag]
    meta: torch.Tensor
    nodes: list[torch.Tensor]  # per node type
    row: list[torch.Tensor]  # per edge type
    col: list[torch.Tensor]
    edge: list[torch.Tensor]


class GpuNeighborSampler:
    """Samples on a GPU with one node -> local-id array per node type (int32, 4 bytes per node).

    Cost per call, for a graph of T node types and E edge types (1 and 1 when homogeneous:
    16 launches for 3 hops): T seed launches; per hop E sample, E flag, one prefix sum per
    node type that is a source, E assign launches; then per edge type a prefix sum and a
    compaction and per node type a clearing launch; one host sync reads every count. Each
    fanout of -1 adds two launches and two host syncs for its edge type and hop. With
    ``cuda_graph`` the launches are captured once per batch shape (seed count per type) and
    replayed: one graph launch, the seed copies and the output copies per call. Allocates
    padded per-hop workspace and outputs on the GPU (through torch's caching allocator, or
    the graph's private pool).

    Args:
        indptr, indices: the CSR (tensors, or dicts per edge type), all on one GPU or all in
            pinned host memory; assumed checked.
        fanouts, replace: as for NeighborSampler.
        cuda_graph: capture and replay CUDA graphs (needs every fanout >= 0).
        device: where kernels run; the CSR's GPU, else the current one. The CPU is accepted
            under ``TRITON_INTERPRET=1`` (tests run the kernels' logic there).
        num_nodes: node count per node type for the dict form.
    """

    def __init__(self, indptr, indices, fanouts, replace: bool, cuda_graph: bool = False,
                 device: torch.device | None = None, *, num_nodes=None, edge_weight=None, edge_time=None) -> None:
        self._graph = g = typed_csr(indptr, indices, fanouts, num_nodes, validate=None, edge_weight=edge_weight,
                                    edge_time=edge_time)
        if device is None:
            first = g.indptr[0]
            device = first.device if first.is_cuda else torch.device("cuda", torch.cuda.current_device())
        if cuda_graph and min(min(f) for f in g.fanouts) < 0:
            raise ValueError(
                f"cuda_graph=True needs every fanout >= 0 (a -1 hop syncs), got fanouts {_shown(g.public_fanouts())}"
            )
        self.device = device
        self._replace = replace
        self._cuda_graph = cuda_graph
        self._indptr = [p.contiguous() for p in g.indptr]
        self._indices = [i.contiguous() for i in g.indices]
        self._weight = [None if w is None else w.contiguous() for w in g.weight]
        # Per weighted edge type, the rows' alias tables (8 bytes per edge), built once on the
        # host and placed beside the CSR (GPU memory or pinned).
        self._alias = [None if w is None else _beside(alias_tables(p, w), p) for p, w in zip(g.indptr, g.weight,
                                                                                              strict=True)]
        self._time = [None if t is None else t.contiguous() for t in g.time]
        # One map for all node types, a view per type (a homogeneous graph: one view of all of it).
        self._node_map = torch.full((max(sum(g.num_nodes), 1),), K.EMPTY, dtype=torch.int32, device=device)
        at = [0]
        for n in g.num_nodes:
            at.append(at[-1] + n)
        self._maps = [self._node_map[at[t] : at[t + 1]] for t in range(len(g.node_types))]
        # Per (edge type, hop) Philox seeds at e * hops + hop, written by the host before each
        # call and read by the kernels (pinned, so a replayed graph sees new values without a copy).
        keys = torch.zeros(max(len(g.edge_types) * g.hops, 1), dtype=torch.int64)
        self._keys = keys.pin_memory() if device.type == "cuda" else keys
        self._groups = [g.sources(t) for t in range(len(g.node_types))]
        # Passed for kernel arguments an edge type does not use (weights, times; never read).
        self._placeholder = torch.zeros(1, dtype=torch.int64, device=device)
        self._graphs: OrderedDict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, list[torch.Tensor], _Padded]]
        self._graphs = OrderedDict()

    def _slot_sizes(self, n0: list[int]) -> list[list[int]] | None:
        """Slots per edge type and hop when every fanout is >= 0 (frontiers capped at each
        type's node count), else None."""
        g = self._graph
        if min(min(f) for f in g.fanouts) < 0:
            return None
        sizes: list[list[int]] = [[] for _ in g.edge_types]
        rows = list(n0)
        for hop in range(g.hops):
            for e in range(len(g.edge_types)):
                sizes[e].append(rows[g.dst[e]] * g.fanouts[e][hop])
            rows = [min(sum(sizes[e][hop] for e in self._groups[t]), g.num_nodes[t]) for t in range(len(rows))]
        return sizes

    def _launch(self, seeds: list[torch.Tensor]) -> _Padded:
        """Every kernel of one call; no host sync unless a fanout is -1."""
        g, dev = self._graph, self.device
        hops, num_types, num_edges = g.hops, len(g.node_types), len(g.edge_types)
        meta = torch.zeros(num_types * (hops + 2) + num_edges * hops + 1, dtype=torch.int64, device=dev)
        bounds = [meta[t * (hops + 2) : (t + 1) * (hops + 2)] for t in range(num_types)]
        at = num_types * (hops + 2)
        edge_counts = [meta[at + e * hops : at + (e + 1) * hops] for e in range(num_edges)]
        bad = meta[-1:]
        n0 = [s.numel() for s in seeds]
        sizes = self._slot_sizes(n0)
        nodes = []
        for t in range(num_types):
            new = g.num_nodes[t] if sizes is None else min(sum(sum(sizes[e]) for e in self._groups[t]), g.num_nodes[t])
            nodes.append(torch.empty(max(n0[t] + new, 1), dtype=torch.int64, device=dev))
            if n0[t]:
                K.seed_kernel[_grid(n0[t], _BLOCK)](
                    seeds[t], n0[t], g.num_nodes[t], self._maps[t], nodes[t], bounds[t], bad, BLOCK=_BLOCK
                )
        if sizes is not None:  # one workspace per edge type for every hop: no concatenation at the end
            workspace = [[torch.empty(sum(sz), dtype=torch.int64, device=dev) for _ in range(3)]
                         + [torch.empty(sum(sz), dtype=torch.int32, device=dev)] for sz in sizes]
        parts: list[list[list[torch.Tensor]]] = [[] for _ in range(num_edges)]
        start, rows = [0] * num_edges, list(n0)
        for hop in range(hops):
            hop_slots: list[list[torch.Tensor]] = []
            for e in range(num_edges):
                fanout, num_rows = g.fanouts[e][hop], rows[g.dst[e]]
                claim_base = sum(hop_slots[f][0].numel() for f in self._groups[g.src[e]] if f < e)
                if sizes is not None:
                    slots = [w[start[e] : start[e] + sizes[e][hop]] for w in workspace[e]]
                    start[e] += sizes[e][hop]
                    self._sample_hop(e, hop, fanout, num_rows, bounds, edge_counts, nodes, slots, claim_base, bad)
                elif fanout < 0:
                    slots = self._sample_all(e, hop, bounds, edge_counts, nodes, claim_base, bad)
                else:
                    slots = [torch.empty(num_rows * fanout, dtype=dt, device=dev)
                             for dt in (torch.int64,) * 3 + (torch.int32,)]
                    self._sample_hop(e, hop, fanout, num_rows, bounds, edge_counts, nodes, slots, claim_base, bad)
                hop_slots.append(slots)
                parts[e].append(slots)
            for t in range(num_types):
                self._relabel(t, hop, [hop_slots[e][0] for e in self._groups[t]], bounds[t], nodes[t])
            rows = [min(sum(hop_slots[e][0].numel() for e in self._groups[t]), g.num_nodes[t])
                    for t in range(num_types)]
        rows_out, cols_out, edges_out = [], [], []
        for e in range(num_edges):
            if sizes is not None:
                slot_nbr, slot_edge, slot_col, valid = workspace[e]
            else:
                slot_nbr, slot_edge, slot_col, valid = (torch.cat([p[i] for p in parts[e]]) for i in range(4))
            num_slots = slot_nbr.numel()
            pos = torch.cumsum(valid, 0)
            row, col, edge = (torch.empty(num_slots, dtype=torch.int64, device=dev) for _ in range(3))
            if num_slots:
                K.compact_kernel[_grid(num_slots, _BLOCK)](
                    slot_nbr, slot_edge, slot_col, pos, num_slots, self._maps[g.src[e]], row, col, edge, BLOCK=_BLOCK
                )
            rows_out.append(row)
            cols_out.append(col)
            edges_out.append(edge)
        for t in range(num_types):
            K.clear_kernel[_grid(nodes[t].numel(), _BLOCK)](
                nodes[t], bounds[t][hops + 1 :], g.num_nodes[t], self._maps[t], BLOCK=_BLOCK
            )
        return _Padded(meta, nodes, rows_out, cols_out, edges_out)

    def _sample_hop(self, e, hop, fanout, num_rows, bounds, edge_counts, nodes, slots, claim_base, bad,
                    claim: bool = True, row_time: torch.Tensor | None = None, last: bool = False) -> None:
        """Sample edge type ``e`` at hop ``hop`` over at most ``num_rows`` frontier rows into ``slots``
        (weighted when it has weights; ``row_time`` per row limits a temporal edge type)."""
        if num_rows * fanout == 0:
            return
        g = self._graph
        s, d = g.src[e], g.dst[e]
        time, row_time, temporal = self._times(e, row_time)
        if self._weight[e] is not None:
            f_pad = triton.next_power_of_2(fanout)
            K.weighted_kernel[(num_rows,)](
                self._indptr[e], self._indices[e], self._weight[e], self._alias[e], nodes[d], bounds[d], hop,
                g.num_nodes[d], g.num_nodes[s], self._maps[s], claim_base, *slots, edge_counts[e],
                self._keys[e * g.hops :], bad, time, row_time, FANOUT=fanout, F_PAD=f_pad,
                A_PAD=max(f_pad, triton.next_power_of_2(min(4 * fanout, _MAX_ATTEMPTS))), REPLACE=self._replace,
                BLOCK=_WEIGHTED_BLOCK, REJECT_FACTOR=REJECT_FACTOR if fanout <= _MAX_ATTEMPTS // 2 else 0,
                CLAIM=claim, TEMPORAL=temporal, LAST=last,
            )
            return
        K.sample_kernel[_grid(num_rows, _BLOCK_ROWS)](
            self._indptr[e], self._indices[e], nodes[d], bounds[d], hop, g.num_nodes[d], g.num_nodes[s], num_rows,
            self._maps[s], claim_base, *slots, edge_counts[e], self._keys[e * g.hops :], bad, time, row_time,
            FANOUT=fanout, F_PAD=triton.next_power_of_2(fanout), REPLACE=self._replace, BLOCK_N=_BLOCK_ROWS,
            CLAIM=claim, TEMPORAL=temporal, LAST=last,
        )

    def _times(self, e: int, row_time: torch.Tensor | None):
        """The kernels' ``time``, ``row_time`` and ``TEMPORAL`` arguments for edge type ``e``
        (a placeholder when the edge type has no times or the call none)."""
        time = self._time[e]
        if time is None or row_time is None:
            return self._placeholder, self._placeholder, False
        return time, row_time.to(time.dtype), True

    def _sample_all(self, e, hop, bounds, edge_counts, nodes, claim_base, bad, claim: bool = True,
                    row_time: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Fanout -1: two host syncs (frontier size, then total degree), every neighbour (no
        later than ``row_time`` on a temporal edge type; of positive weight on a weighted one)."""
        g, dev = self._graph, self.device
        s, d = g.src[e], g.dst[e]
        f_lo, f_hi = bounds[d][hop : hop + 2].tolist()
        num_rows = f_hi - f_lo
        offsets = torch.zeros(num_rows + 1, dtype=torch.int64, device=dev)
        time, row_time, temporal = self._times(e, row_time)
        if num_rows:
            K.degree_kernel[_grid(num_rows, _BLOCK)](
                self._indptr[e], nodes[d], f_lo, num_rows, g.num_nodes[d], offsets[1:], time, row_time, BLOCK=_BLOCK,
                TEMPORAL=temporal,
            )
        torch.cumsum(offsets, 0, out=offsets)
        num_slots = int(offsets[-1])
        slots = [torch.empty(num_slots, dtype=dt, device=dev) for dt in (torch.int64,) * 3 + (torch.int32,)]
        weight = self._weight[e]
        if num_slots:
            K.all_kernel[(num_rows,)](
                self._indptr[e], self._indices[e], nodes[d], f_lo, g.num_nodes[d], g.num_nodes[s], offsets,
                self._maps[s], claim_base, *slots, bad, self._placeholder if weight is None else weight, BLOCK=256,
                CLAIM=claim, WEIGHTED=weight is not None,
            )
        if weight is None:
            edge_counts[e][hop] = num_slots
        else:  # edges of weight 0 left their slots empty
            edge_counts[e][hop] = slots[3].sum()
        return slots

    def _relabel(self, t: int, hop: int, group: list[torch.Tensor], bounds: torch.Tensor, nodes: torch.Tensor) -> None:
        """Give node type ``t``'s new nodes of the hop local ids in order of (edge type, slot)
        and set ``bounds[hop + 2]``; ``group`` holds the hop's neighbour slots of the edge
        types with source ``t``, in order."""
        total = sum(slot_nbr.numel() for slot_nbr in group)
        if total == 0:
            bounds[hop + 2 : hop + 3].copy_(bounds[hop + 1 : hop + 2])
            return
        flags = torch.empty(total, dtype=torch.int32, device=self.device)
        base = 0
        for slot_nbr in group:
            if slot_nbr.numel():
                K.first_kernel[_grid(slot_nbr.numel(), _BLOCK)](
                    slot_nbr, slot_nbr.numel(), self._maps[t], base, flags[base:], BLOCK=_BLOCK
                )
            base += slot_nbr.numel()
        rank = torch.cumsum(flags, 0, dtype=torch.int32)
        base = 0
        for slot_nbr in group:
            if slot_nbr.numel():
                K.assign_kernel[_grid(slot_nbr.numel(), _BLOCK)](
                    slot_nbr, slot_nbr.numel(), flags[base:], rank[base:], bounds, hop, self._maps[t], nodes,
                    BLOCK=_BLOCK,
                )
            base += slot_nbr.numel()

    def _replay(self, seeds: list[torch.Tensor]) -> _Padded:
        """Replay (capturing on first sight) the graph of this batch shape."""
        shape = tuple(s.numel() for s in seeds)
        entry = self._graphs.get(shape)
        if entry is None:
            static_seeds = [s.clone() for s in seeds]
            self._launch(static_seeds).meta.tolist()  # compile every kernel outside the capture
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                padded = self._launch(static_seeds)
            entry = (graph, static_seeds, padded)
            self._graphs[shape] = entry
            if len(self._graphs) > _MAX_GRAPHS:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(shape)
        graph, static_seeds, padded = entry
        for static, s in zip(static_seeds, seeds, strict=True):
            static.copy_(s)
        graph.replay()
        return padded

    def capture(self, batch_sizes: list) -> None:
        """Capture the graphs of these batch sizes now (with ``cuda_graph``; otherwise nothing).

        A batch size is an int (homogeneous) or a dict node type -> seed count. A capture
        fails when any other thread of the process syncs the device meanwhile, so a caller
        with other threads on the GPU captures before starting them.
        """
        if not self._cuda_graph:
            return
        g = self._graph
        with torch.cuda.device(self.device):
            for size in batch_sizes:
                counts = [int(size.get(t, 0)) for t in g.node_types] if g.hetero else [int(size)]
                if sum(counts) > 0 and tuple(counts) not in self._graphs:
                    seeds = [torch.arange(n, device=self.device) % max(g.num_nodes[t], 1) for t, n in enumerate(counts)]
                    self._replay(seeds)

    def sample(self, seeds, seed: int, call: int):
        """Sample around ``seeds`` (integer tensors per type; range checked at the final sync)."""
        # Triton launches on the current GPU: make it the sampler's.
        with torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            return self._sample(seeds, seed, call)

    def sample_disjoint(self, seeds, order, seed_time, seed: int, call: int, last: bool = False):
        """One tree per seed (see :mod:`sampling._disjoint`): seeds and ``seed_time`` per node
        type (on the device, in range), ``order`` the seed types' order; ``last`` keeps the
        latest neighbours of a temporal edge type. Cost: per hop and edge type one sampling
        launch over the padded frontier (three and two syncs for a fanout of -1), per hop and
        node type the sort-based relabelling (``SortRelabel``, no sync); one host sync at the
        end reads every count and the bad-neighbour flag."""
        with torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            g = self._graph
            self._write_keys(seed, call)
            bad = torch.zeros(1, dtype=torch.int64, device=self.device)

            def draw(e, hop, frontier, trees, count, row_time, col_base):
                nbr, edge, row, valid = self._draw(e, hop, frontier, count, row_time, last, bad)
                return nbr, edge, col_base + row, trees[row], valid

            seeds = [s.to(self.device, torch.int64).contiguous() for s in seeds]
            if seed_time is not None:
                seed_time = [None if t is None else t.to(self.device) for t in seed_time]
            relabel = [SortRelabel(n, self.device) for n in g.num_nodes]
            return sample_disjoint(g, draw, relabel, seeds, order, seed_time, bad=bad)

    def _draw(self, e: int, hop: int, frontier: torch.Tensor, count, row_time, last: bool, bad: torch.Tensor):
        """Edge type ``e``'s slots over the first ``count`` (a 0-d device tensor or an int) rows of
        ``frontier`` (global ids, on the device, padded past ``count``): neighbour, edge id,
        frontier position and ``valid`` per slot (the disjoint path's draws; no claims, no sync
        unless the fanout is -1)."""
        g, dev = self._graph, self.device
        n, fanout, hops = frontier.numel(), g.fanouts[e][hop], g.hops
        bounds = torch.zeros(hops + 2, dtype=torch.int64, device=dev)
        bounds[hop + 1 :] = count
        counts = [torch.zeros(hops, dtype=torch.int64, device=dev) for _ in g.edge_types]
        nodes, per_type = [frontier] * len(g.node_types), [bounds] * len(g.node_types)
        if fanout >= 0:
            slots = [torch.empty(n * fanout, dtype=dt, device=dev) for dt in (torch.int64,) * 3 + (torch.int32,)]
            self._sample_hop(e, hop, fanout, n, per_type, counts, nodes, slots, 0, bad, claim=False,
                             row_time=row_time, last=last)
        else:
            slots = self._sample_all(e, hop, per_type, counts, nodes, 0, bad, claim=False, row_time=row_time)
        nbr, edge, col, valid = slots
        return nbr, edge, col, valid.bool()

    def _write_keys(self, seed: int, call: int) -> None:
        """The per (edge type, hop) Philox seeds of one call, into the pinned array the kernels read."""
        g = self._graph
        keys = [int(draw_key(seed, call, hop, e)) & 0x7FFFFFFF
                for e in range(len(g.edge_types)) for hop in range(g.hops)]
        self._keys[: len(keys)].copy_(torch.tensor(keys, dtype=torch.int64))  # one host op, not one per key

    def _sample(self, seeds, seed: int, call: int):
        g = self._graph
        # The seed kernel reads seeds[i] at offset i: a strided view (a column of a pair tensor)
        # must be made contiguous, or the kernel reads other elements and past the view's end.
        seeds = [s.to(self.device, torch.int64, non_blocking=True).contiguous() for s in g.seeds_by_type(seeds)]
        hops, num_types, num_edges = g.hops, len(g.node_types), len(g.edge_types)
        self._write_keys(seed, call)
        padded = self._replay(seeds) if self._cuda_graph else self._launch(seeds)
        counts = padded.meta.tolist()  # the one host sync of a call without fanout -1
        if counts[-1]:
            for t, ids in enumerate(seeds):
                outside = ((ids < 0) | (ids >= g.num_nodes[t])).nonzero()
                if outside.numel():
                    at = int(outside[0, 0])
                    raise IndexError(
                        f"{g.seed_name(t)}[{at}] = {int(ids[at])} is not a node id of {g.id_space(t)}; "
                        f"expected ids in [0, {g.num_nodes[t]})"
                    )
            raise IndexError(g.neighbour_error())
        at = num_types * (hops + 2)
        bounds = [counts[t * (hops + 2) : (t + 1) * (hops + 2)] for t in range(num_types)]
        edge_counts = [counts[at + e * hops : at + (e + 1) * hops] for e in range(num_edges)]
        nodes = [padded.nodes[t][: bounds[t][hops + 1]] for t in range(num_types)]
        edges = [(padded.row[e][: sum(c)], padded.col[e][: sum(c)], padded.edge[e][: sum(c)])
                 for e, c in enumerate(edge_counts)]
        if self._cuda_graph:  # the graph's buffers are overwritten by the next replay: one copy out of all of them
            pieces = nodes + [x for triple in edges for x in triple]
            copied = torch.cat(pieces).split([p.numel() for p in pieces])
            nodes = list(copied[:num_types])
            edges = [copied[num_types + 3 * e : num_types + 3 * e + 3] for e in range(num_edges)]
        return g.output(
            nodes, [r for r, _, _ in edges], [c for _, c, _ in edges], [x for _, _, x in edges],
            [[b[h + 1] - b[h] for h in range(hops + 1)] for b in bounds], edge_counts,
        )


def _beside(table: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``table`` (host memory) in the placement of ``like``: its GPU, or pinned host memory."""
    if like.is_cuda:
        return table.to(like.device)
    return table.pin_memory() if like.is_pinned() else table


def _shown(fanouts) -> str:
    """Fanouts as errors show them: a list, or a dict edge type -> list."""
    if isinstance(fanouts, dict):
        return str({et: list(f) for et, f in fanouts.items()})
    return str(list(fanouts))
