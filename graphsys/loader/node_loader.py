"""graphsys's own node loader: seeds -> sampling -> feature and label gather -> PyG ``Data``, on one device.

A heterogeneous graph is the same loader with a type dimension: the sampler has one CSR per
edge type, the seeds are of one node type, every node type with a feature table gets its own
gather (launched together, one per type and group of batches), and batches are PyG
``HeteroData``.

PyG's loaders bring the seeds to the CPU at every batch and gather features there. This one
keeps the whole path where the sampler runs: with a GPU sampler (CSR in GPU or pinned memory)
the seeds, the sampled subgraph, the zero-copy feature gather (through the UnifiedTensor's
cache) and the batch all stay on the GPU. Two side streams form the pipeline: batch ``i + 1``
is sampled on one while batch ``i`` is gathered on the other (the sampler is latency-bound,
the zero-copy gather PCIe-bound, so they overlap), both while the model trains on an earlier
batch on the current stream. The sampling stream has the higher priority, so its short
kernels are not queued behind the model's. A host thread (:mod:`graphsys.loader.producer`)
launches that work, so the sampler's one host wait per batch never holds up the training
thread. With a CPU sampler the same thread samples and gathers on the CPU.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Callable, Iterator

import torch
from torch_geometric.data import Data, HeteroData

from graphsys.loader.gather import Table, check_ids, check_table, gather_rows, num_rows
from graphsys.loader.producer import Producer
from graphsys.loader.timings import LoaderTimings, StageClock
from sampling import HeteroSamplerOutput, NeighborSampler, SamplerOutput
from zerocopy import UnifiedTensor, kernels


ZERO_COPY_GATHER_GROUP = 4
"""Batches per gather by default when a GPU loader reads its features zero-copy. On the H200
(benchmarks/README.md, "Whole loader"), products preset: 4 batches per gather read a batch's rows in
2.7-2.8 ms of gather stream against 4.2-4.3 ms one batch at a time (36% of a group's rows repeat,
and the rest lie closer together: 69 GB/s of rows delivered, above the link's 55), and papers100M
epochs took 6.18 s against 7.44 s."""


@dataclass(frozen=True)
class _InFlight:
    """A sampled batch whose gathers may still be running on the gather stream (until ``done``).

    ``x`` holds the gathered rows per feature table: the key ``None`` for a homogeneous graph,
    node types for a heterogeneous one (types without a table have no entry).
    """

    out: "SamplerOutput | HeteroSamplerOutput"
    input_id: torch.Tensor
    x: "dict[str | None, torch.Tensor]"
    y: "torch.Tensor | None"
    done: "torch.cuda.Event | None"


def _nodes(out: "SamplerOutput | HeteroSamplerOutput") -> "dict[str | None, torch.Tensor]":
    """The sampled node ids per feature-table key (``None`` for the one type of a homogeneous graph)."""
    return dict(out.node) if isinstance(out, HeteroSamplerOutput) else {None: out.node}


def _sampled_tensors(out: "SamplerOutput | HeteroSamplerOutput") -> list[torch.Tensor]:
    """Every tensor of a sampler output (for ``record_stream``)."""
    if isinstance(out, HeteroSamplerOutput):
        return [*out.node.values(), *out.row.values(), *out.col.values(), *out.edge.values()]
    return [out.node, out.row, out.col, out.edge]


def _gather_split(table: Table, indices: list[torch.Tensor]) -> list[torch.Tensor]:
    """``table[index]`` for each index, read in one gather over all of them (launched on the current
    stream, no host wait), returned as one view per index.

    One pass over several batches' ids touches host memory more densely than one pass per batch,
    which PCIe reads of a large pinned table reward (benchmarks/README.md, "density"); a row that
    several batches hold is read back to back (the ids are read sorted), the repeats mostly from the
    GPU's L2. The zero-copy kernel runs on a fraction of the SMs: the model trains beside it.
    """
    index = indices[0] if len(indices) == 1 else torch.cat(indices)
    rows = gather_rows(table, index, programs_per_sm=kernels.OVERLAP_PROGRAMS_PER_SM)
    return [rows] if len(indices) == 1 else list(rows.split([part.numel() for part in indices]))


def _as_seed_tensor(seeds: torch.Tensor, num_nodes: int) -> torch.Tensor:
    if not isinstance(seeds, torch.Tensor):
        raise TypeError(f"seeds must be a torch.Tensor of node ids or a boolean mask, got {type(seeds).__name__}")
    if seeds.dtype == torch.bool:
        if seeds.shape != (num_nodes,):
            raise ValueError(f"a boolean seeds mask must have shape ({num_nodes},), got {tuple(seeds.shape)}")
        return seeds.nonzero().view(-1)
    if seeds.dim() != 1:
        raise ValueError(f"seeds must be 1-D, got shape {tuple(seeds.shape)}")
    check_ids("seeds", seeds, num_nodes)
    return seeds.long()


def _seed_type(sampler: NeighborSampler, seeds) -> "tuple[str | None, torch.Tensor]":
    """The seeds' node type (None for a homogeneous sampler) and their ids or mask.

    Raises:
        TypeError: a ``(node_type, ids)`` pair for a homogeneous sampler or plain ids for a
            heterogeneous one.
        ValueError: a node type the sampler's graph does not have.
    """
    if not sampler.is_hetero:
        if isinstance(seeds, tuple):
            raise TypeError("seeds is a (node_type, ids) pair but the sampler's graph has one node type; "
                            "pass the ids alone")
        return None, seeds
    if not (isinstance(seeds, tuple) and len(seeds) == 2 and isinstance(seeds[0], str)):
        raise TypeError(f"the sampler's graph has node types {list(sampler.node_types)}: seeds must be a "
                        f"(node_type, ids_or_mask) pair, got {type(seeds).__name__}")
    node_type, ids = seeds
    if node_type not in sampler.node_types:
        raise ValueError(f"seeds name node type {node_type!r}, which the sampler's graph does not have; "
                         f"node types: {list(sampler.node_types)}")
    return node_type, ids


def _feature_tables(sampler: NeighborSampler, features) -> "dict[str | None, Table]":
    """The feature tables by key (``None`` for a homogeneous graph, else node types), checked.

    Raises:
        TypeError: a dict for a homogeneous sampler, a table for a heterogeneous one, or a
            table that is neither a tensor nor a UnifiedTensor.
        ValueError: an unknown node type, or a row count other than the type's node count.
    """
    if not sampler.is_hetero:
        if isinstance(features, Mapping):
            raise TypeError("features is a dict but the sampler's graph has one node type; pass one table")
        check_table("features", features)
        if num_rows(features) != sampler.num_nodes:
            raise ValueError(f"features has {num_rows(features)} rows but the sampler's graph has "
                             f"{sampler.num_nodes} nodes")
        return {None: features}
    if not isinstance(features, Mapping):
        raise TypeError(f"the sampler's graph has node types {list(sampler.node_types)}: features must be a dict "
                        f"node type -> table, got {type(features).__name__}")
    tables = {}
    for node_type, table in features.items():
        if node_type not in sampler.node_types:
            raise ValueError(f"features has a table for node type {node_type!r}, which the sampler's graph does "
                             f"not have; node types: {list(sampler.node_types)}")
        check_table(f"features[{node_type!r}]", table)
        if num_rows(table) != sampler.num_nodes[node_type]:
            raise ValueError(f"features[{node_type!r}] has {num_rows(table)} rows but node type {node_type!r} "
                             f"has {sampler.num_nodes[node_type]} nodes")
        tables[node_type] = table
    return tables


def _positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class NodeLoader:
    """Minibatches of sampled subgraphs around seed nodes, as PyG ``Data`` on the sampler's device.

    Every batch has ``x`` (features of all sampled nodes), ``y`` (labels of the seed nodes
    only: ``batch_size`` rows, so ``batch.y[:batch.batch_size]`` works as with PyG),
    ``edge_index`` (local ids, edges ordered by hop), ``n_id``, ``e_id`` (CSR positions),
    ``input_id`` (positions in ``seeds``), ``batch_size``, ``num_sampled_nodes`` and
    ``num_sampled_edges`` (so PyG's ``trim_to_layer`` works).

    For a heterogeneous sampler (built from dicts per edge type) every batch is a PyG
    ``HeteroData`` as PyG's loader yields it: per node type ``n_id``, ``num_sampled_nodes`` and
    ``x`` (types with a feature table), per edge type ``edge_index``, ``e_id`` and
    ``num_sampled_edges``, and on the seeds' type ``input_id``, ``batch_size`` and ``y``.

    Placement contract: batches land on ``sampler.device``. Features and labels may be GPU
    tensors, UnifiedTensors (zero-copy from pinned memory; GPU cache if enabled) or host
    tensors (gathered on the CPU and copied: slow, PyG's path).

    Args:
        sampler: the neighbour sampler; its CSR placement decides where everything runs.
        features: one row per node; for a heterogeneous sampler a dict node type -> table (node
            types left out, featureless ones, get no ``x``; a model embeds their ``n_id``).
        labels: one row (or value) per node, or ``None`` for batches without ``y``; for a
            heterogeneous sampler, one row per node of the seeds' type.
        seeds: node ids to iterate over (1-D int tensor) or a boolean mask over the nodes; for
            a heterogeneous sampler ``(node_type, ids_or_mask)``, as PyG's ``input_nodes``.
        batch_size: seeds per batch.
        shuffle: visit the seeds in a new random order each epoch.
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        prefetch: groups of batches (see ``gather_group``) produced ahead, on a host thread. 1
            samples and gathers the next group while the model trains on this one; more helps
            only when batch times vary, at the cost of one more group of memory each (on a GPU
            at most ``prefetch + 1`` groups are being gathered at a time, however little the
            consumer does); 0 produces each group on the calling thread when its first batch is
            asked for.
        gather_group: batches sampled in turn whose feature and label rows are then read in one
            gather. Zero-copy reads run faster per row the closer together the rows lie in host
            memory, and the group's ids are read sorted, so a row that several of its batches hold
            is read back to back, the repeats mostly from the GPU's L2; reading several batches at
            once therefore beats one at a time. It holds ``gather_group`` batches of rows per group
            in flight, and the first batch of a group waits for the whole group's gather. ``None``
            (the default): ``ZERO_COPY_GATHER_GROUP`` when the features are a pinned UnifiedTensor
            read by a GPU loader, else 1. The batches are the same whatever the group.
        seed: seed of the shuffling order (the sampler has its own seed).

    Example:
        >>> import torch
        >>> from sampling import NeighborSampler
        >>> from graphsys.loader import NodeLoader
        >>> indptr, indices = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 0], dtype=torch.int32)
        >>> loader = NodeLoader(NeighborSampler(indptr, indices, [2]), torch.randn(3, 4),
        ...                     torch.tensor([0, 1, 0]), torch.arange(3), batch_size=2, shuffle=False)
        >>> [batch.batch_size for batch in loader]
        [2, 1]

    Raises:
        TypeError: a sampler, table or seeds of the wrong type.
        ValueError: tables whose row count is not the sampler's node count, bad sizes.
        IndexError: a seed outside ``[0, num_nodes)``.
    """

    def __init__(
        self,
        sampler: NeighborSampler,
        features: "Table | Mapping[str, Table]",
        labels: Table | None,
        seeds: "torch.Tensor | tuple[str, torch.Tensor]",
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        prefetch: int = 1,
        gather_group: "int | None" = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(sampler, NeighborSampler):
            raise TypeError(f"sampler must be a sampling.NeighborSampler, got {type(sampler).__name__}")
        self._target, seeds = _seed_type(sampler, seeds)
        self._tables = _feature_tables(sampler, features)
        num_nodes = sampler.num_nodes[self._target] if sampler.is_hetero else sampler.num_nodes
        if labels is not None:
            check_table("labels", labels)
            if num_rows(labels) != num_nodes:
                of = f"node type {self._target!r}" if sampler.is_hetero else "the sampler's graph"
                raise ValueError(f"labels has {num_rows(labels)} rows but {of} has {num_nodes} nodes")
        self.sampler = sampler
        self.features = features
        self.labels = labels
        self.device = sampler.device
        self.seeds = _as_seed_tensor(seeds, num_nodes).to(self.device)
        self.batch_size = _positive_int("batch_size", batch_size, 1)
        self.prefetch = _positive_int("prefetch", prefetch, 0)
        if gather_group is None:
            zero_copy = self.device.type == "cuda" and any(
                isinstance(table, UnifiedTensor) and table.is_pinned() for table in self._tables.values())
            gather_group = ZERO_COPY_GATHER_GROUP if zero_copy else 1
        self.gather_group = _positive_int("gather_group", gather_group, 1)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self._streams = None
        if self.device.type == "cuda":
            # (sampling, gathering); a lower number is a higher priority
            self._streams = (torch.cuda.Stream(self.device, priority=-1), torch.cuda.Stream(self.device))
        self._clock = StageClock(self.device)

    def __len__(self) -> int:
        count = self.seeds.numel() / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def timings(self) -> LoaderTimings:
        """Sampling and gathering seconds so far. Cost on a GPU: a sync on the batches in flight."""
        return self._clock.read()

    def reset_timings(self) -> None:
        """Start the stage timings afresh."""
        self._clock.reset()

    def __iter__(self) -> Iterator[Data]:
        """One epoch of batches. Cost per batch on the calling thread: see :meth:`_hand_over`
        (with ``prefetch > 0``, :meth:`_produce` runs on the producer thread)."""
        count = self.seeds.numel()
        if self.shuffle:
            order = torch.randperm(count, generator=self._generator, device=self.device)
        else:
            order = torch.arange(count, device=self.device)
        starts = range(0, len(self) * self.batch_size, self.batch_size)
        bounds = [(order, start, min(start + self.batch_size, count)) for start in starts]
        if self._streams is not None:
            self._streams[0].wait_stream(torch.cuda.current_stream(self.device))
        # before the producer thread starts: a capture on it would fail when this thread syncs
        sizes = sorted({stop - start for _, start, stop in bounds})
        self.sampler.capture([{self._target: n} for n in sizes] if self._target is not None else sizes)
        groups = [bounds[at : at + self.gather_group] for at in range(0, len(bounds), self.gather_group)]
        produce = self._bounded_produce()
        if self.prefetch == 0:
            for group in groups:
                for flight in produce(group):
                    yield self._hand_over(flight)
            return
        device = self.device if self.device.type == "cuda" else None
        with Producer(produce, groups, self.prefetch, device) as produced:
            for flights in produced:
                for flight in flights:
                    yield self._hand_over(flight)

    def _bounded_produce(self) -> Callable[[list[tuple[torch.Tensor, int, int]]], list[_InFlight]]:
        """:meth:`_produce`, but first waiting until at most ``prefetch`` earlier groups still
        gather on the device.

        Handing a GPU batch over does not wait for its gathers, so a consumer that launches
        little work would otherwise let the host queue gathers (and their output memory) without
        bound, ahead of what the gather stream can do. Cost: an event wait on the thread that
        produces (the producer thread with ``prefetch > 0``), none on the CPU.
        """
        unfinished: deque = deque()

        def produce(group: list[tuple[torch.Tensor, int, int]]) -> list[_InFlight]:
            while len(unfinished) > self.prefetch:
                unfinished.popleft().synchronize()
            flights = self._produce(group)
            if flights[0].done is not None:
                unfinished.append(flights[0].done)
            return flights

        return produce

    def _produce(self, group: list[tuple[torch.Tensor, int, int]]) -> list[_InFlight]:
        """Sample the batches of ``group`` (each ``order[start:stop]`` of the seeds), then start
        the gathers of their feature rows (one launch) and label rows (one launch).

        Cost on a GPU: per batch, the sampler's kernels on the sampling stream and its one host
        sync (the host waits for that batch's sampling only); then the gathers launched on the
        gather stream with no host wait. On the CPU the stages run in turn, batch by batch.
        """
        if self._streams is None:
            flights = []
            for order, start, stop in group:
                input_id = order[start:stop]
                begin = self._clock.mark()
                out = self.sampler.sample(self._seed_arg(self.seeds[input_id]))
                sampled = self._clock.mark()
                nodes = _nodes(out)
                x = {key: gather_rows(table, nodes[key]) for key, table in self._tables.items()}
                y = gather_rows(self.labels, nodes[self._target][: stop - start]) if self.labels is not None else None
                self._clock.add([(begin, sampled)], (sampled, self._clock.mark()))
                flights.append(_InFlight(out, input_id, x, y, None))
            return flights
        sample_stream, gather_stream = self._streams
        outs, input_ids, spans = [], [], []
        with torch.cuda.stream(sample_stream):
            for order, start, stop in group:
                input_ids.append(order[start:stop])
                begin = self._clock.mark()
                outs.append(self.sampler.sample(self._seed_arg(self.seeds[input_ids[-1]])))
                spans.append((begin, self._clock.mark()))
        gather_stream.wait_stream(sample_stream)
        with torch.cuda.stream(gather_stream):
            nodes = [_nodes(out) for out in outs]
            for by_key in nodes:
                for ids in by_key.values():
                    ids.record_stream(gather_stream)
            gather_begin = self._clock.mark()
            # One gather per table over the whole group: per node type for a heterogeneous graph.
            rows = {key: _gather_split(table, [by_key[key] for by_key in nodes]) for key, table in self._tables.items()}
            xs = [{key: rows[key][i] for key in rows} for i in range(len(outs))]
            ys: list = [None] * len(outs)
            if self.labels is not None:
                ys = _gather_split(self.labels, [by_key[self._target][: ids.numel()]
                                                 for by_key, ids in zip(nodes, input_ids)])
            gathered = self._clock.mark()
            done = torch.cuda.Event()
            done.record()
        self._clock.add(spans, (gather_begin, gathered))
        return [_InFlight(*parts, done) for parts in zip(outs, input_ids, xs, ys)]

    def _seed_arg(self, ids: torch.Tensor) -> "torch.Tensor | dict[str, torch.Tensor]":
        """Seeds as the sampler takes them: ids, or a dict with the seeds' node type."""
        return ids if self._target is None else {self._target: ids}

    def _hand_over(self, flight: _InFlight) -> "Data | HeteroData":
        """The batch as a ``Data`` (a ``HeteroData`` for a heterogeneous graph), ordered after
        its production on the current stream.

        Cost on a GPU: one event wait on the device (no host sync), one ``record_stream`` per
        tensor, one stack per edge type.
        """
        out = flight.out
        if flight.done is not None:
            torch.cuda.current_stream(self.device).wait_event(flight.done)
        if self._target is None:
            batch = Data(
                x=flight.x[None],
                edge_index=torch.stack([out.row, out.col]),
                n_id=out.node,
                e_id=out.edge,
                input_id=flight.input_id,
                batch_size=flight.input_id.numel(),
                num_sampled_nodes=list(out.num_sampled_nodes),
                num_sampled_edges=list(out.num_sampled_edges),
            )
            seeds_store = batch
        else:
            batch = HeteroData()
            for node_type, ids in out.node.items():
                batch[node_type].n_id = ids
                batch[node_type].num_sampled_nodes = list(out.num_sampled_nodes[node_type])
                if node_type in flight.x:
                    batch[node_type].x = flight.x[node_type]
            for edge_type in out.row:
                batch[edge_type].edge_index = torch.stack([out.row[edge_type], out.col[edge_type]])
                batch[edge_type].e_id = out.edge[edge_type]
                batch[edge_type].num_sampled_edges = list(out.num_sampled_edges[edge_type])
            seeds_store = batch[self._target]
            seeds_store.input_id = flight.input_id
            seeds_store.batch_size = flight.input_id.numel()
        if flight.y is not None:
            seeds_store.y = flight.y
        if flight.done is not None:
            current = torch.cuda.current_stream(self.device)
            for value in (*flight.x.values(), flight.y, *_sampled_tensors(out)):
                if value is not None:
                    value.record_stream(current)
        return batch

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(seeds={self.seeds.numel()}, batch_size={self.batch_size}, "
            f"device={self.device}, sampler={self.sampler!r})"
        )
