"""The part every graphsys loader shares: seeds in batches -> sampling -> zero-copy gathers -> a PyG batch.

:class:`SubgraphLoader` owns the pipeline (DESIGN.md, "the loader owns batching, streams,
prefetch depth and device transfer"); a loader subclasses it and says only what its seeds
are and what its batches hold:

* ``_num_items()``: how many seeds (nodes, edges) an epoch visits;
* ``_sampler_batch_sizes(sizes)``: the seed counts the sampler will be called with, for its
  CUDA-graph capture;
* ``_sample(input_id)``: one batch's sampler call (and whatever else is drawn with it, such as
  negative edges), returning a :class:`Sampled`;
* ``_assemble(sampled, x, y)``: the PyG ``Data`` / ``HeteroData`` of a sampled, gathered batch.

On a GPU two side streams form the pipeline: batch ``i + 1`` is sampled on one while batch
``i`` is gathered on the other (the sampler is latency-bound, the zero-copy gather
PCIe-bound, so they overlap), both while the model trains on an earlier batch on the current
stream. The sampling stream has the higher priority, so its short kernels are not queued
behind the model's. A host thread (:mod:`graphsys.loader.producer`) launches that work, so
the sampler's host wait per batch never holds up the training thread. With a CPU sampler the
same thread samples and gathers on the CPU.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch_geometric.data import Data, HeteroData

from graphsys.loader.gather import Table, check_table, gather_rows, num_rows
from graphsys.loader.producer import Producer
from graphsys.loader.timings import LoaderTimings, StageClock
from sampling import HeteroSamplerOutput, NeighborSampler, SamplerOutput
from zerocopy import UnifiedTensor, kernels

ZERO_COPY_GATHER_GROUP = 4
"""Batches per gather by default when a GPU loader reads its features zero-copy: a group's repeated
and nearby rows cut the gather stream's time per batch by about a third on the products preset
(benchmarks/README.md, "Whole loader"); a larger group holds more rows in flight, and a group's first
batch waits for the whole group's gather."""

Bound = tuple[torch.Tensor, int, int]
"""One batch of an epoch: ``(order, start, stop)``, the seeds at positions ``order[start:stop]``."""


@dataclass(frozen=True)
class Sampled:
    """One batch as its loader's ``_sample`` leaves it: the sampled subgraph and what goes with it.

    Attributes:
        out: the sampler's output (the loader may have filtered its edges).
        input_id: positions of the batch's seeds in the loader's seeds.
        label_nodes: ids into the label table of the rows the batch carries as ``y`` (None: no ``y``).
        extra: the loader's own per-batch tensors on the device (``edge_label_index``, ...), kept
            alive on the consuming stream with the rest of the batch.
    """

    out: SamplerOutput | HeteroSamplerOutput
    input_id: torch.Tensor
    label_nodes: torch.Tensor | None = None
    extra: Mapping[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class _InFlight:
    """A sampled batch whose gathers may still be running on the gather stream (until ``done``).

    ``x`` holds the gathered rows per feature table: the key ``None`` for a homogeneous graph,
    node types for a heterogeneous one (types without a table have no entry).
    """

    sampled: Sampled
    x: dict[str | None, torch.Tensor]
    y: torch.Tensor | None
    done: torch.cuda.Event | None


def sampled_nodes(out: SamplerOutput | HeteroSamplerOutput) -> dict[str | None, torch.Tensor]:
    """The sampled node ids per feature-table key (``None`` for the one type of a homogeneous graph)."""
    return dict(out.node) if isinstance(out, HeteroSamplerOutput) else {None: out.node}


def subgraph_batch(out: SamplerOutput | HeteroSamplerOutput, x: dict[str | None, torch.Tensor]) -> Data | HeteroData:
    """The sampled subgraph as a PyG batch, before a loader adds its seeds' fields: a ``Data`` with
    ``x`` (``None`` without a table), ``edge_index``, ``n_id``, ``e_id``, ``num_sampled_nodes`` and
    ``num_sampled_edges``; for a heterogeneous output a ``HeteroData`` with those per node type
    (``x`` on the types with a table) and per edge type. Cost: one stack per edge type."""
    if not isinstance(out, HeteroSamplerOutput):
        return Data(x=x.get(None), edge_index=torch.stack([out.row, out.col]), n_id=out.node, e_id=out.edge,
                    num_sampled_nodes=list(out.num_sampled_nodes), num_sampled_edges=list(out.num_sampled_edges))
    batch = HeteroData()
    for node_type, ids in out.node.items():
        batch[node_type].n_id = ids
        batch[node_type].num_sampled_nodes = list(out.num_sampled_nodes[node_type])
        if node_type in x:
            batch[node_type].x = x[node_type]
    for edge_type in out.row:
        batch[edge_type].edge_index = torch.stack([out.row[edge_type], out.col[edge_type]])
        batch[edge_type].e_id = out.edge[edge_type]
        batch[edge_type].num_sampled_edges = list(out.num_sampled_edges[edge_type])
    return batch


def _sampled_tensors(out: SamplerOutput | HeteroSamplerOutput) -> list[torch.Tensor]:
    """Every tensor of a sampler output (for ``record_stream``)."""
    if isinstance(out, HeteroSamplerOutput):
        return [*out.node.values(), *out.row.values(), *out.col.values(), *out.edge.values()]
    return [out.node, out.row, out.col, out.edge]


def _gather_split(table: Table, indices: list[torch.Tensor], programs_per_sm: float | None) -> list[torch.Tensor]:
    """``table[index]`` for each index, read in one gather over all of them (launched on the current
    stream, no host wait), returned as one view per index.

    One pass over several batches' ids touches host memory more densely than one pass per batch,
    which PCIe reads of a large pinned table reward (benchmarks/README.md, "density"); a row that
    several batches hold is read back to back (the ids are read sorted), the repeats mostly from the
    GPU's L2. On a GPU the zero-copy kernel runs on a fraction of the SMs (``programs_per_sm``): the
    model trains beside it.
    """
    index = indices[0] if len(indices) == 1 else torch.cat(indices)
    rows = gather_rows(table, index, programs_per_sm=programs_per_sm)
    return [rows] if len(indices) == 1 else list(rows.split([part.numel() for part in indices]))


def feature_tables(sampler: NeighborSampler, features) -> dict[str | None, Table]:
    """The feature tables by key (``None`` for a homogeneous graph, else node types), checked; none
    for a homogeneous graph whose ``features`` is None (its batches have ``x = None``).

    Raises:
        TypeError: a dict for a homogeneous sampler, a table for a heterogeneous one, or a
            table that is neither a tensor nor a UnifiedTensor.
        ValueError: an unknown node type, or a row count other than the type's node count.
    """
    if not sampler.is_hetero:
        if features is None:  # featureless: a model embeds the batch's ``n_id``
            return {}
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


def typed_seeds(sampler: NeighborSampler, seeds, *, kind: str, alone: str) -> tuple:
    """The seeds' type (None for a homogeneous sampler) and the seeds themselves.

    A heterogeneous sampler takes a ``(type, seeds)`` pair, as PyG's ``input_nodes`` and
    ``edge_label_index`` do: ``kind`` "node" (a type is a node type, a str) or "edge" (a type is
    a canonical edge type, a triple); ``alone`` names the seeds in messages ("ids", "edge_index").

    Raises:
        TypeError: a sampler that is not a ``NeighborSampler``, a pair for a homogeneous
            sampler, or plain seeds for a heterogeneous one.
        ValueError: a type the sampler's graph does not have.
    """
    if not isinstance(sampler, NeighborSampler):
        raise TypeError(f"sampler must be a sampling.NeighborSampler, got {type(sampler).__name__}")
    if not sampler.is_hetero:
        if isinstance(seeds, tuple):
            raise TypeError(f"seeds are a ({kind}_type, {alone}) pair but the sampler's graph has one {kind} type; "
                            f"pass the {alone} alone")
        return None, seeds
    types = sampler.node_types if kind == "node" else sampler.edge_types
    key = str if kind == "node" else tuple
    if not (isinstance(seeds, tuple) and len(seeds) == 2 and isinstance(seeds[0], key)):
        raise TypeError(f"the sampler's graph has {kind} types {list(types)}: seeds must be a "
                        f"({kind}_type, {alone}) pair, got {type(seeds).__name__}")
    seed_type = seeds[0] if kind == "node" else tuple(seeds[0])
    if seed_type not in types:
        raise ValueError(f"seeds name {kind} type {seed_type!r}, which the sampler's graph does not have; "
                         f"{kind} types: {list(types)}")
    return seed_type, seeds[1]


def positive_int(name: str, value: object, minimum: int) -> int:
    """``value`` if it is an int ``>= minimum`` (not a bool), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class SubgraphLoader(ABC):
    """Batches of seeds -> one sampler call each -> feature and label gathers -> PyG batches, on
    ``sampler.device``; the shared pipeline of :class:`~graphsys.loader.NodeLoader` and
    :class:`~graphsys.loader.LinkLoader` (see the module docstring for what a subclass adds).

    Args:
        sampler: the neighbour sampler; its CSR placement decides where everything runs.
        features: one row per node; for a heterogeneous sampler a dict node type -> table.
        labels: rows gathered for :attr:`Sampled.label_nodes`, or ``None``.
        label_type: the node type ``labels`` has a row per node of (None for a homogeneous graph).
        batch_size, shuffle, drop_last, prefetch, gather_group, seed: as :class:`~graphsys.loader.NodeLoader`
            documents them.

    Raises:
        TypeError: a sampler or table of the wrong type.
        ValueError: tables whose row count is not the node count, bad sizes.
    """

    def __init__(self, sampler: NeighborSampler, features, labels: Table | None, *, label_type: str | None,
                 batch_size: int, shuffle: bool, drop_last: bool, prefetch: int, gather_group: int | None,
                 seed: int) -> None:
        if not isinstance(sampler, NeighborSampler):
            raise TypeError(f"sampler must be a sampling.NeighborSampler, got {type(sampler).__name__}")
        self._tables = feature_tables(sampler, features)
        if labels is not None:
            check_table("labels", labels)
            num_nodes = sampler.num_nodes[label_type] if sampler.is_hetero else sampler.num_nodes
            if num_rows(labels) != num_nodes:
                of = f"node type {label_type!r}" if sampler.is_hetero else "the sampler's graph"
                raise ValueError(f"labels has {num_rows(labels)} rows but {of} has {num_nodes} nodes")
        self.sampler = sampler
        self.features = features
        self.labels = labels
        self.device = sampler.device
        self.batch_size = positive_int("batch_size", batch_size, 1)
        self.prefetch = positive_int("prefetch", prefetch, 0)
        if gather_group is None:
            zero_copy = self.device.type == "cuda" and any(
                isinstance(table, UnifiedTensor) and table.is_pinned() for table in self._tables.values())
            gather_group = ZERO_COPY_GATHER_GROUP if zero_copy else 1
        self.gather_group = positive_int("gather_group", gather_group, 1)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self._streams = None
        if self.device.type == "cuda":
            # (sampling, gathering); a lower number is a higher priority
            self._streams = (torch.cuda.Stream(self.device, priority=-1), torch.cuda.Stream(self.device))
        self._clock = StageClock(self.device)

    # ------------------------------------------------------------------ what a loader adds
    @abstractmethod
    def _num_items(self) -> int:
        """Seeds an epoch visits."""

    @abstractmethod
    def _sampler_batch_sizes(self, sizes: list[int]) -> list:
        """The sampler's batch sizes (as ``NeighborSampler.capture`` takes them) for these batch sizes."""

    @abstractmethod
    def _sample(self, input_id: torch.Tensor) -> Sampled:
        """Sample the batch of the seeds at positions ``input_id`` (on the current stream)."""

    @abstractmethod
    def _assemble(self, sampled: Sampled, x: dict[str | None, torch.Tensor],
                  y: torch.Tensor | None) -> Data | HeteroData:
        """The batch of ``sampled`` with its gathered rows (on the consuming stream)."""

    # ------------------------------------------------------------------ the pipeline
    def __len__(self) -> int:
        count = self._num_items() / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def timings(self) -> LoaderTimings:
        """Sampling and gathering seconds so far. Cost on a GPU: a sync on the batches in flight."""
        return self._clock.read()

    def reset_timings(self) -> None:
        """Start the stage timings afresh."""
        self._clock.reset()

    def __iter__(self) -> Iterator[Data | HeteroData]:
        """One epoch of batches. Cost per batch on the calling thread: see :meth:`_hand_over`
        (with ``prefetch > 0``, :meth:`_produce` runs on the producer thread)."""
        count = self._num_items()
        if self.shuffle:
            order = torch.randperm(count, generator=self._generator, device=self.device)
        else:
            order = torch.arange(count, device=self.device)
        starts = range(0, len(self) * self.batch_size, self.batch_size)
        bounds = [(order, start, min(start + self.batch_size, count)) for start in starts]
        if self._streams is not None:
            self._streams[0].wait_stream(torch.cuda.current_stream(self.device))
        # before the producer thread starts: a capture on it would fail when this thread syncs
        self.sampler.capture(self._sampler_batch_sizes(sorted({stop - start for _, start, stop in bounds})))
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

    def _bounded_produce(self) -> Callable[[list[Bound]], list[_InFlight]]:
        """:meth:`_produce`, but first waiting until at most ``prefetch`` earlier groups still
        gather on the device.

        Handing a GPU batch over does not wait for its gathers, so a consumer that launches
        little work would otherwise let the host queue gathers (and their output memory) without
        bound, ahead of what the gather stream can do. Cost: an event wait on the thread that
        produces (the producer thread with ``prefetch > 0``), none on the CPU.
        """
        unfinished: deque = deque()

        def produce(group: list[Bound]) -> list[_InFlight]:
            while len(unfinished) > self.prefetch:
                unfinished.popleft().synchronize()
            flights = self._produce(group)
            if flights[0].done is not None:
                unfinished.append(flights[0].done)
            return flights

        return produce

    def _sample_timed(self, bound: Bound) -> tuple[Sampled, tuple]:
        order, start, stop = bound
        begin = self._clock.mark()
        sampled = self._sample(order[start:stop])
        return sampled, (begin, self._clock.mark())

    def _gather(self, group: list[Sampled]) -> tuple[list[dict], list]:
        """The feature rows (one gather per table over the whole group: per node type for a
        heterogeneous graph) and the label rows (one gather) of a group's batches."""
        programs_per_sm = kernels.OVERLAP_PROGRAMS_PER_SM if self._streams is not None else None
        nodes = [sampled_nodes(sampled.out) for sampled in group]
        rows = {key: _gather_split(table, [by_key[key] for by_key in nodes], programs_per_sm)
                for key, table in self._tables.items()}
        xs = [{key: rows[key][i] for key in rows} for i in range(len(group))]
        ys: list = [None] * len(group)
        if self.labels is not None:
            ys = _gather_split(self.labels, [sampled.label_nodes for sampled in group], programs_per_sm)
        return xs, ys

    def _produce(self, group: list[Bound]) -> list[_InFlight]:
        """Sample the batches of ``group``, then start the gathers of their feature rows (one
        launch per table) and label rows (one launch).

        Cost on a GPU: per batch, the sampler's kernels on the sampling stream and its host sync
        (the host waits for that batch's sampling only); then the gathers launched on the gather
        stream with no host wait. On the CPU the stages run in turn, batch by batch.
        """
        if self._streams is None:
            flights = []
            for bound in group:
                sampled, span = self._sample_timed(bound)
                xs, ys = self._gather([sampled])
                self._clock.add([span], (span[1], self._clock.mark()))
                flights.append(_InFlight(sampled, xs[0], ys[0], None))
            return flights
        sample_stream, gather_stream = self._streams
        with torch.cuda.stream(sample_stream):
            sampled, spans = zip(*[self._sample_timed(bound) for bound in group], strict=True)
        gather_stream.wait_stream(sample_stream)
        with torch.cuda.stream(gather_stream):
            for batch in sampled:
                for ids in sampled_nodes(batch.out).values():
                    ids.record_stream(gather_stream)
                if batch.label_nodes is not None:
                    batch.label_nodes.record_stream(gather_stream)
            gather_begin = self._clock.mark()
            xs, ys = self._gather(list(sampled))
            gathered = self._clock.mark()
            done = torch.cuda.Event()
            done.record()
        self._clock.add(list(spans), (gather_begin, gathered))
        return [_InFlight(*parts, done) for parts in zip(sampled, xs, ys, strict=True)]

    def _hand_over(self, flight: _InFlight) -> Data | HeteroData:
        """The batch, ordered after its production on the current stream.

        Cost on a GPU: one event wait on the device (no host sync), one ``record_stream`` per
        tensor, and what :meth:`_assemble` launches.
        """
        if flight.done is not None:
            torch.cuda.current_stream(self.device).wait_event(flight.done)
        batch = self._assemble(flight.sampled, flight.x, flight.y)
        if flight.done is not None:
            current = torch.cuda.current_stream(self.device)
            sampled = flight.sampled
            for value in (*flight.x.values(), flight.y, sampled.input_id, *sampled.extra.values(),
                          *_sampled_tensors(sampled.out)):
                if value is not None:
                    value.record_stream(current)
        return batch

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(seeds={self._num_items()}, batch_size={self.batch_size}, "
            f"device={self.device}, sampler={self.sampler!r})"
        )
