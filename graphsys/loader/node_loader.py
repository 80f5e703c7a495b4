"""graphsys's own node loader: seeds -> sampling -> feature and label gather -> PyG ``Data``, on one device.

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
from typing import Callable, Iterator

import torch
from torch_geometric.data import Data

from graphsys.loader.gather import Table, check_ids, check_table, gather_rows, num_rows
from graphsys.loader.producer import Producer
from graphsys.loader.timings import LoaderTimings, StageClock
from sampling import NeighborSampler, SamplerOutput
from zerocopy import UnifiedTensor, kernels


ZERO_COPY_GATHER_GROUP = 4
"""Batches per gather by default when a GPU loader reads its features zero-copy. On the H200
(benchmarks/README.md, "Whole loader"), products preset: 4 batches per gather read a batch's rows in
2.7-2.8 ms of gather stream against 4.2-4.3 ms one batch at a time (36% of a group's rows repeat,
and the rest lie closer together: 69 GB/s of rows delivered, above the link's 55), and papers100M
epochs took 6.18 s against 7.44 s."""


@dataclass(frozen=True)
class _InFlight:
    """A sampled batch whose gathers may still be running on the gather stream (until ``done``)."""

    out: SamplerOutput
    input_id: torch.Tensor
    x: torch.Tensor
    y: "torch.Tensor | None"
    done: "torch.cuda.Event | None"


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

    Placement contract: batches land on ``sampler.device``. Features and labels may be GPU
    tensors, UnifiedTensors (zero-copy from pinned memory; GPU cache if enabled) or host
    tensors (gathered on the CPU and copied: slow, PyG's path).

    Args:
        sampler: the neighbour sampler; its CSR placement decides where everything runs.
        features: one row per node.
        labels: one row (or value) per node, or ``None`` for batches without ``y``.
        seeds: node ids to iterate over (1-D int tensor) or a boolean mask over the nodes.
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
        features: Table,
        labels: Table | None,
        seeds: torch.Tensor,
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
        num_nodes = sampler.num_nodes
        for name, table in (("features", features), ("labels", labels)):
            if table is None and name == "labels":
                continue
            check_table(name, table)
            if num_rows(table) != num_nodes:
                raise ValueError(f"{name} has {num_rows(table)} rows but the sampler's graph has {num_nodes} nodes")
        self.sampler = sampler
        self.features = features
        self.labels = labels
        self.device = sampler.device
        self.seeds = _as_seed_tensor(seeds, num_nodes).to(self.device)
        self.batch_size = _positive_int("batch_size", batch_size, 1)
        self.prefetch = _positive_int("prefetch", prefetch, 0)
        if gather_group is None:
            zero_copy = self.device.type == "cuda" and isinstance(features, UnifiedTensor) and features.is_pinned()
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
        self.sampler.capture(sorted({stop - start for _, start, stop in bounds}))
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
                out = self.sampler.sample(self.seeds[input_id])
                sampled = self._clock.mark()
                x = gather_rows(self.features, out.node)
                y = gather_rows(self.labels, out.node[: stop - start]) if self.labels is not None else None
                self._clock.add([(begin, sampled)], (sampled, self._clock.mark()))
                flights.append(_InFlight(out, input_id, x, y, None))
            return flights
        sample_stream, gather_stream = self._streams
        outs, input_ids, spans = [], [], []
        with torch.cuda.stream(sample_stream):
            for order, start, stop in group:
                input_ids.append(order[start:stop])
                begin = self._clock.mark()
                outs.append(self.sampler.sample(self.seeds[input_ids[-1]]))
                spans.append((begin, self._clock.mark()))
        gather_stream.wait_stream(sample_stream)
        with torch.cuda.stream(gather_stream):
            for out in outs:
                out.node.record_stream(gather_stream)
            gather_begin = self._clock.mark()
            xs = _gather_split(self.features, [out.node for out in outs])
            ys: list = [None] * len(outs)
            if self.labels is not None:
                ys = _gather_split(self.labels, [out.node[: ids.numel()] for out, ids in zip(outs, input_ids)])
            gathered = self._clock.mark()
            done = torch.cuda.Event()
            done.record()
        self._clock.add(spans, (gather_begin, gathered))
        return [_InFlight(*parts, done) for parts in zip(outs, input_ids, xs, ys)]

    def _hand_over(self, flight: _InFlight) -> Data:
        """The batch as a ``Data``, ordered after its production on the current stream.

        Cost on a GPU: one event wait on the device (no host sync), one ``record_stream`` per
        tensor, one stack.
        """
        out = flight.out
        if flight.done is not None:
            torch.cuda.current_stream(self.device).wait_event(flight.done)
        batch = Data(
            x=flight.x,
            edge_index=torch.stack([out.row, out.col]),
            n_id=out.node,
            e_id=out.edge,
            input_id=flight.input_id,
            batch_size=flight.input_id.numel(),
            num_sampled_nodes=list(out.num_sampled_nodes),
            num_sampled_edges=list(out.num_sampled_edges),
        )
        if flight.y is not None:
            batch.y = flight.y
        if flight.done is not None:
            current = torch.cuda.current_stream(self.device)
            for value in (flight.x, flight.y, out.node, out.row, out.col, out.edge):
                if value is not None:
                    value.record_stream(current)
        return batch

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(seeds={self.seeds.numel()}, batch_size={self.batch_size}, "
            f"device={self.device}, sampler={self.sampler!r})"
        )
