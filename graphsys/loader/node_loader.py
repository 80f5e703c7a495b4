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
from zerocopy import PendingGather, UnifiedTensor


@dataclass(frozen=True)
class _InFlight:
    """A sampled batch whose gathers may still be running on the gather stream."""

    out: SamplerOutput
    input_id: torch.Tensor
    x: "torch.Tensor | PendingGather"
    y: "torch.Tensor | PendingGather | None"
    done: "torch.cuda.Event | None"


def _start_gather(table: Table, index: torch.Tensor, stream: torch.cuda.Stream) -> "torch.Tensor | PendingGather":
    """Launch ``table[index]`` on ``stream`` (the current stream): a pending zero-copy gather for a
    UnifiedTensor, an ``index_select`` for a tensor. Cost: no host wait, no host allocation.

    The ids come from the sampler, so the UnifiedTensor's bounds check (a min/max read back into a
    fresh pinned buffer) is skipped, as :func:`graphsys.loader.gather.gather_rows` does; the kernel
    never reads outside the table whatever the ids."""
    if isinstance(table, UnifiedTensor):
        return table.gather_async(index, stream=stream, check=False)
    return gather_rows(table, index)


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
        prefetch: batches produced ahead, on a host thread. 1 samples and gathers the next
            batch while the model trains on this one; more helps only when batch times vary,
            at the cost of one more batch of memory each (on a GPU at most ``prefetch + 1``
            batches are being gathered at a time, however little the consumer does); 0
            produces each batch on the calling thread when it is asked for.
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
        produce = self._bounded_produce()
        if self.prefetch == 0:
            for bound in bounds:
                yield self._hand_over(produce(bound))
            return
        device = self.device if self.device.type == "cuda" else None
        with Producer(produce, bounds, self.prefetch, device) as flights:
            for flight in flights:
                yield self._hand_over(flight)

    def _bounded_produce(self) -> Callable[[tuple[torch.Tensor, int, int]], _InFlight]:
        """:meth:`_produce`, but first waiting until at most ``prefetch`` earlier batches still
        gather on the device.

        Handing a GPU batch over does not wait for its gathers, so a consumer that launches
        little work would otherwise let the host queue gathers (and their output memory) without
        bound, ahead of what the gather stream can do. Cost: an event wait on the thread that
        produces (the producer thread with ``prefetch > 0``), none on the CPU.
        """
        unfinished: deque = deque()

        def produce(bound: tuple[torch.Tensor, int, int]) -> _InFlight:
            while len(unfinished) > self.prefetch:
                unfinished.popleft().synchronize()
            flight = self._produce(bound)
            if flight.done is not None:
                unfinished.append(flight.done)
            return flight

        return produce

    def _produce(self, bound: tuple[torch.Tensor, int, int]) -> _InFlight:
        """Sample one batch, ``order[start:stop]`` of the seeds, and start its gathers.

        Cost on a GPU: the sampler's kernels on the sampling stream and its one host sync (the
        host waits for this batch's sampling only), then the feature and label gathers launched
        on the gather stream with no host wait. On the CPU: the stages run in turn.
        """
        order, start, stop = bound
        input_id = order[start:stop]
        if self._streams is None:
            begin = self._clock.mark()
            out = self.sampler.sample(self.seeds[input_id])
            sampled = self._clock.mark()
            x = gather_rows(self.features, out.node)
            y = gather_rows(self.labels, out.node[: stop - start]) if self.labels is not None else None
            self._clock.add((begin, sampled), (sampled, self._clock.mark()))
            return _InFlight(out, input_id, x, y, None)
        sample_stream, gather_stream = self._streams
        with torch.cuda.stream(sample_stream):
            begin = self._clock.mark()
            out = self.sampler.sample(self.seeds[input_id])
            sampled = self._clock.mark()
        gather_stream.wait_stream(sample_stream)
        with torch.cuda.stream(gather_stream):
            out.node.record_stream(gather_stream)
            gather_begin = self._clock.mark()
            x = _start_gather(self.features, out.node, gather_stream)
            y = None
            if self.labels is not None:
                y = _start_gather(self.labels, out.node[: stop - start], gather_stream)
            gathered = self._clock.mark()
            done = torch.cuda.Event()
            done.record()
        self._clock.add((begin, sampled), (gather_begin, gathered))
        return _InFlight(out, input_id, x, y, done)

    def _hand_over(self, flight: _InFlight) -> Data:
        """The batch as a ``Data``, ordered after its production on the current stream.

        Cost on a GPU: one event wait on the device (no host sync besides the UnifiedTensor's
        bounds check, long done by now), one ``record_stream`` per tensor, one stack.
        """
        out = flight.out
        if flight.done is not None:
            torch.cuda.current_stream(self.device).wait_event(flight.done)
        x = flight.x.wait() if isinstance(flight.x, PendingGather) else flight.x
        batch = Data(
            x=x,
            edge_index=torch.stack([out.row, out.col]),
            n_id=out.node,
            e_id=out.edge,
            input_id=flight.input_id,
            batch_size=flight.input_id.numel(),
            num_sampled_nodes=list(out.num_sampled_nodes),
            num_sampled_edges=list(out.num_sampled_edges),
        )
        if flight.y is not None:
            batch.y = flight.y.wait() if isinstance(flight.y, PendingGather) else flight.y
        if flight.done is not None:
            current = torch.cuda.current_stream(self.device)
            for value in (x, batch.y if flight.y is not None else None, out.node, out.row, out.col, out.edge):
                if value is not None:
                    value.record_stream(current)
        return batch

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(seeds={self.seeds.numel()}, batch_size={self.batch_size}, "
            f"device={self.device}, sampler={self.sampler!r})"
        )
