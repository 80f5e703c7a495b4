"""``NeighborSampler``: multi-hop neighbour sampling (uniform or weighted) whose kernels follow the CSR, on
homogeneous and heterogeneous graphs alike (a homogeneous graph is the one-type case).

Where ``indptr``/``indices`` live decides where the kernels run (DESIGN.md, Placement):

* ``"cuda"``: Triton kernels on that GPU read the CSR from GPU memory.
* ``"pinned"``: the same Triton kernels read the CSR from page-locked host memory over
  PCIe (UVA zero-copy); the graph is never copied to the GPU. Output on the current GPU.
* ``"cpu"``: numba kernels, parallel over the frontier, on the host.

Example:
    >>> import torch
    >>> from sampling import NeighborSampler
    >>> indptr = torch.tensor([0, 2, 4, 6])
    >>> indices = torch.tensor([1, 2, 0, 2, 0, 1], dtype=torch.int32)
    >>> out = NeighborSampler(indptr, indices, [1, 1], seed=0).sample(torch.tensor([0]))
    >>> out.num_sampled_nodes[0], len(out.num_sampled_edges)
    (1, 2)

A heterogeneous graph: one CSR over in-neighbours per edge type, ``num_nodes`` per node type::

    >>> cites, writes = ("paper", "cites", "paper"), ("author", "writes", "paper")
    >>> sampler = NeighborSampler(
    ...     {cites: torch.tensor([0, 1, 2]), writes: torch.tensor([0, 1, 1])},
    ...     {cites: torch.tensor([1, 0]), writes: torch.tensor([0])},
    ...     [2, 2], num_nodes={"paper": 2, "author": 1})
    >>> out = sampler.sample({"paper": torch.tensor([0])})
    >>> out.node["paper"].tolist(), out.node["author"].tolist(), out.num_sampled_nodes["author"]
    ([0, 1], [0], [0, 1, 0])
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch

from sampling._checks import check_range
from sampling._cpu_sampler import CpuNeighborSampler
from sampling._typed import typed_csr
from sampling.output import EdgeType, HeteroSamplerOutput, SamplerOutput
from zerocopy.placement import Placement, placement_of


class _Implementation(Protocol):
    """What :class:`NeighborSampler` asks of its CPU (numba) and GPU (Triton) implementations."""

    @property
    def device(self) -> torch.device:
        """Where the kernels run and the output lands."""
        ...

    def sample(self, seeds, seed: int, call: int) -> SamplerOutput | HeteroSamplerOutput:
        """Shared trees around ``seeds`` (checked, on :attr:`device`), draws keyed by ``(seed, call)``."""
        ...

    def sample_disjoint(self, seeds, order, seed_time, seed: int, call: int,
                        last: bool = False) -> SamplerOutput | HeteroSamplerOutput:
        """One tree per seed; ``seed_time`` per node type for a temporal graph, else None."""
        ...

    def capture(self, batch_sizes: list) -> None:
        """Capture the CUDA graphs of these batch sizes (a no-op where nothing is captured)."""
        ...


class NeighborSampler:
    """Neighbour sampling, ``fanouts[h]`` in-neighbours per node at hop ``h``, uniform or by edge weight.

    The graph is plain CSR tensors (homogeneous; :meth:`sample` takes a tensor of seeds and
    returns a :class:`sampling.SamplerOutput`) or dicts keyed by canonical edge type
    ``(src_type, relation, dst_type)`` with ``num_nodes`` per node type (heterogeneous;
    :meth:`sample` takes a dict node type -> seeds and returns a
    :class:`sampling.HeteroSamplerOutput`). Edge type ``(s, r, d)`` is a CSR over the
    in-neighbours of the type-``d`` nodes whose ``indices`` are ids of type-``s`` nodes. At
    hop ``h``, every edge type samples ``fanouts[(s, r, d)][h]`` neighbours for each type-``d``
    node that was new at hop ``h - 1`` (the seeds at hop 0); the type-``s`` nodes not seen
    before in the batch join ``node[s]`` in order of first appearance, the edge types taken
    in their order in ``indptr`` (the order PyG's ``hetero_neighbor_sample`` in pyg-lib
    gives them), and are type ``s``'s frontier at hop ``h + 1``.

    Without replacement a node of degree ``d`` gets ``min(k, d)`` distinct neighbours (all
    of them when ``d <= k``); with ``replace=True`` it gets ``k`` independent draws (none
    when ``d == 0``); a fanout of ``-1`` takes every neighbour. The output follows PyG's
    ``SamplerOutput`` (see :class:`sampling.SamplerOutput`) with global node and edge ids.

    Draws are a function of ``(seed, call number, hop, edge type, position)``: a sampler built (or
    :meth:`reseed`-ed) with the same seed returns the same sequence of outputs on the same
    device, whatever the thread count. Calls are serialised by a lock (a GPU call holds it
    until its one host sync, when its kernels are done), so threads may share a sampler, each
    on its own CUDA stream (two loaders' producer threads, say): every call takes the next
    call number and the node -> local-id map is never used by two calls at once.

    Args:
        indptr: int64 (or int32) CSR offsets, ``num_nodes + 1`` entries; or a dict edge type
            -> offsets with ``num_nodes[dst_type] + 1`` entries.
        indices: int32 or int64 in-neighbour ids, in the same placement as ``indptr``; or a
            dict edge type -> ids of ``src_type`` nodes (the same edge types as ``indptr``).
        fanouts: per-hop neighbour counts, each ``>= 0`` or ``-1`` for all; for a
            heterogeneous graph one list for every edge type or a dict edge type -> list
            (every edge type, the same number of hops).
        replace: sample with replacement.
        seed: seed of the draws.
        validate: check the CSR (one O(E) pass, a sync on GPU); off only for trusted input.
        cuda_graph: GPU placements: capture the launches of a call once per batch size and
            replay them (one graph launch instead of about 16; needs every fanout >= 0).
            Ignored on the CPU.
        num_nodes: node count per node type (a dict; its order is the output's order) for
            the dict form; leave it out for plain tensors.
        edge_weight: weighted sampling: float weights ``>= 0`` aligned with ``indices`` (a
            dict edge type -> weights for the dict form; edge types left out are sampled
            uniformly), in the CSR's placement. A neighbour is drawn with probability
            proportional to its edge's weight: without replacement a node gets
            ``min(k, number of neighbours of positive weight)`` distinct ones (successive
            weighted draws), with replacement ``k`` independent draws (none when every weight
            is 0); a fanout of -1 takes every neighbour of positive weight. Checked (one O(E)
            pass) whatever ``validate`` says. The sampler builds per-row alias tables once
            (8 bytes per edge, in the CSR's placement; float64 running sums too on the CPU
            when the edge type also has times), so a draw costs O(1).
        disjoint: every seed grows its own tree (PyG's ``disjoint=True``): nodes are not
            shared between seeds (a node reached from two seeds, or a repeated seed, is one
            node per tree) and the output's ``batch`` gives each node's tree (its seed's
            position; seed types counted in the order the seeds dict gives them). Costs more
            than shared trees: the relabelling hashes ``(tree, node)`` keys on the CPU and
            sorts them on a GPU (still one host sync per call without a fanout of -1).
        edge_time: temporal sampling: a time per edge aligned with ``indices``, non-decreasing
            within every row (``sampling.csr.sort_rows_by`` sorts them), in the CSR's placement;
            a dict edge type -> times for the dict form (edge types left out have no time limit).
            :meth:`sample` then takes ``seed_time`` and a tree only follows edges no later than
            its seed's time (a binary search per row). Implies ``disjoint``. Node times are
            edge times too: give each edge its source node's time.
        temporal_strategy: ``"uniform"`` draws among the edges no later than the seed's time,
            ``"last"`` among the latest ``k`` of them (all of them when the fanout is -1).

    Raises:
        TypeError: non-integer CSR arrays or fanouts, dicts mixed with tensors, an edge type
            that is not a triple of str.
        ValueError: empty fanouts, a fanout below -1, CSR arrays that disagree in size or
            placement or with ``num_nodes``, edge weights of the wrong length or placement,
            negative or not finite, an edge type naming a node type ``num_nodes``
            lacks, fanouts missing an edge type, naming an unknown one or with unequal hops.
        IndexError: a neighbour id outside ``[0, num_nodes)`` (of the edge type's source type).
    """

    def __init__(
        self,
        indptr: torch.Tensor | Mapping[EdgeType, torch.Tensor],
        indices: torch.Tensor | Mapping[EdgeType, torch.Tensor],
        fanouts: Sequence[int] | Mapping[EdgeType, Sequence[int]],
        *,
        replace: bool = False,
        seed: int = 0,
        validate: bool = True,
        cuda_graph: bool = False,
        num_nodes: Mapping[str, int] | None = None,
        edge_weight: torch.Tensor | Mapping[EdgeType, torch.Tensor] | None = None,
        disjoint: bool = False,
        edge_time: torch.Tensor | Mapping[EdgeType, torch.Tensor] | None = None,
        temporal_strategy: str = "uniform",
    ) -> None:
        if temporal_strategy not in ("uniform", "last"):
            raise ValueError(f"temporal_strategy={temporal_strategy!r}; expected 'uniform' or 'last'")
        self._graph = g = typed_csr(indptr, indices, fanouts, num_nodes, validate=bool(validate),
                                    edge_weight=edge_weight, edge_time=edge_time)
        self._placement = _common_placement(g.edge_types if g.hetero else None, g.indptr, g.indices)
        _check_beside(g, "edge_weight", g.weight, self._placement)
        _check_beside(g, "edge_time", g.time, self._placement)
        self._disjoint = bool(disjoint) or g.temporal  # temporal trees are disjoint, as in PyG
        self._last = temporal_strategy == "last"
        if self._disjoint and cuda_graph:
            raise ValueError("cuda_graph=True cannot capture disjoint sampling (its outputs are sized by a sync); "
                             "leave cuda_graph=False")
        self._replace = bool(replace)
        self._lock = threading.Lock()
        self.reseed(seed)
        # The implementations take the same two forms (one code path: homogeneous = one type).
        self._impl: _Implementation
        if self._placement.kind == "cpu":
            self._impl = _cpu_impl(g, self._replace)
        else:
            from sampling._gpu_sampler import GpuNeighborSampler

            graph, typed = _impl_arguments(g)
            self._impl = GpuNeighborSampler(*graph, self._replace, cuda_graph=cuda_graph, **typed)

    @property
    def placement(self) -> Placement:
        """Where the CSR lives: ``cpu``, ``pinned`` or ``cuda:k``."""
        return self._placement

    @property
    def device(self) -> torch.device:
        """Where the kernels run and the output lands (the current GPU for ``pinned``)."""
        return self._impl.device

    @property
    def csr(self) -> tuple[torch.Tensor, torch.Tensor] | dict[EdgeType, tuple[torch.Tensor, torch.Tensor]]:
        """The sampled graph: ``(indptr, indices)``, or a dict edge type -> that pair; no copy."""
        g = self._graph
        pairs = list(zip(g.indptr, g.indices, strict=True))
        return dict(zip(g.edge_types, pairs, strict=True)) if g.hetero else pairs[0]

    @property
    def fanouts(self) -> tuple[int, ...] | dict[EdgeType, tuple[int, ...]]:
        """Per-hop neighbour counts (a dict edge type -> counts for a heterogeneous graph)."""
        return self._graph.public_fanouts()

    @property
    def is_hetero(self) -> bool:
        """Whether the graph was given in the dict form (outputs are HeteroSamplerOutput)."""
        return self._graph.hetero

    @property
    def node_types(self) -> tuple[str, ...]:
        """Node types in output order (``("_N",)`` for a homogeneous graph)."""
        return self._graph.node_types

    @property
    def edge_types(self) -> tuple[EdgeType, ...]:
        """Edge types in sampling order (``(("_N", "_E", "_N"),)`` for a homogeneous graph)."""
        return self._graph.edge_types

    @property
    def is_temporal(self) -> bool:
        """Whether the graph has edge times (:meth:`sample` takes ``seed_time``)."""
        return self._graph.temporal

    @property
    def disjoint(self) -> bool:
        """Whether every seed grows its own tree (outputs carry ``batch``)."""
        return self._disjoint

    @property
    def replace(self) -> bool:
        """Whether neighbours are drawn with replacement."""
        return self._replace

    @property
    def num_nodes(self) -> int | dict[str, int]:
        """Node count of the CSR (a dict node type -> count for a heterogeneous graph)."""
        return self._graph.public_num_nodes()

    def reseed(self, seed: int) -> None:
        """Restart the sequence of draws from ``seed`` (the next call draws as a fresh sampler would)."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        with self._lock:
            self._seed = seed
            self._calls = 0

    def capture(self, batch_sizes: Sequence[int | Mapping[str, int]]) -> None:
        """With ``cuda_graph``, capture the CUDA graphs of these batch sizes now; otherwise nothing.

        :meth:`sample` captures a batch size the first time it sees it, and a capture fails
        when another thread of the process syncs the device meanwhile (a training loop reading
        its loss). For a heterogeneous graph a batch size is a dict node type -> seed count. Code
        that samples on one thread while others use the GPU captures the sizes it will use before
        starting them, as :class:`graphsys.loader.NodeLoader` does each epoch.
        Draws are unaffected: the graphs replay what direct launches do.

        Raises:
            TypeError: a batch size that is not an int (homogeneous) or a dict (heterogeneous).
        """
        hetero = self._graph.hetero
        sizes: list[int | dict[str, int]] = []
        for n in batch_sizes:
            if isinstance(n, Mapping) != hetero:
                expected = "a dict node type -> seed count" if hetero else "an int"
                raise TypeError(f"batch_sizes holds {n!r}; this sampler's batch sizes are each {expected}")
            sizes.append(dict(n) if isinstance(n, Mapping) else int(n))
        if self._placement.kind == "cpu":
            return
        with self._lock:
            self._impl.capture(sizes)

    def sample(
        self,
        seeds: torch.Tensor | Mapping[str, torch.Tensor],
        seed_time: torch.Tensor | Mapping[str, torch.Tensor] | None = None,
    ) -> SamplerOutput | HeteroSamplerOutput:
        """Sample the ``len(fanouts)``-hop subgraph around ``seeds``.

        Seeds are moved to :attr:`device` (one copy when they are elsewhere). Cost on CPU:
        per hop one parallel pass (pool threads) and one sequential pass, then a parallel
        compaction; allocates the outputs.
        Cost on GPU: about 16 kernel launches (4 per hop; one graph launch and 5 copies with
        ``cuda_graph``) and a single host sync at the end to read the per-hop counts; a
        fanout of -1 adds two syncs; outputs allocated on the GPU. A heterogeneous graph
        runs these passes per edge type (launches: about 3 per edge type and hop, see
        ``sampling._gpu_sampler``), still with one host sync.

        Args:
            seeds: 1-D integer tensor of node ids (repeats allowed; a repeat maps to its
                first position); for a heterogeneous graph a dict node type -> such a
                tensor (types left out have no seeds).
            seed_time: with ``edge_time`` (required then, refused otherwise): each seed's
                time, shaped as ``seeds`` (a dict with the same node types for the dict form).

        Returns:
            The sampled subgraph, on :attr:`device`: a :class:`SamplerOutput`, or a
            :class:`HeteroSamplerOutput` with every node and edge type as a key.

        Raises:
            TypeError: non-integer seeds, a dict for a homogeneous graph or a tensor for a
                heterogeneous one.
            ValueError: an unknown node type; ``seed_time`` missing for a temporal graph, given
                for another, or of another length than its seeds.
            IndexError: a seed outside ``[0, num_nodes)`` of its node type (on GPU found at
                the final sync).
        """
        g = self._graph
        typed = g.seeds_by_type(seeds)
        if self._placement.kind == "cpu":
            typed = [s.to("cpu", torch.int64) for s in typed]
        if self._placement.kind == "cpu" or self._disjoint:
            for t, ids in enumerate(typed):
                check_range(g.seed_name(t), ids, g.num_nodes[t], g.id_space(t))
        times = self._seed_times(seeds, typed, seed_time)
        if self._disjoint:
            order = [g.node_types.index(k) for k in seeds] if g.hetero else [0]
            with self._lock:
                call = self._calls
                self._calls += 1
                return self._impl.sample_disjoint(typed, order, times, self._seed, call, self._last)
        seeds = dict(zip(g.node_types, typed, strict=True)) if g.hetero else typed[0]
        with self._lock:
            call = self._calls
            self._calls += 1
            return self._impl.sample(seeds, self._seed, call)

    def _seed_times(self, seeds, typed: list[torch.Tensor], seed_time) -> list[torch.Tensor] | None:
        """``seed_time`` per node type (by position), checked against the seeds; None when not temporal."""
        g = self._graph
        if not g.temporal:
            if seed_time is not None:
                raise ValueError("seed_time is given but this sampler has no edge_time; leave seed_time out")
            return None
        if seed_time is None:
            raise ValueError("this sampler is temporal (edge_time): pass seed_time, the time of each seed")
        if g.hetero:
            if not isinstance(seed_time, Mapping) or set(seed_time) != set(seeds):
                raise ValueError(
                    f"seed_time must be a dict with the node types of seeds ({sorted(seeds)}), got "
                    f"{sorted(seed_time) if isinstance(seed_time, Mapping) else type(seed_time).__name__}"
                )
            given = {g.node_types.index(k): v for k, v in seed_time.items()}
        else:
            given = {0: seed_time}
        out = []
        for t, ids in enumerate(typed):
            value = given.get(t)
            value = torch.zeros(0, dtype=torch.int64) if value is None else torch.as_tensor(value)
            if value.dim() != 1 or value.numel() != ids.numel():
                name = f"seed_time[{g.node_types[t]!r}]" if g.hetero else "seed_time"
                raise ValueError(f"{name} has shape {tuple(value.shape)}; expected one time per seed, ({ids.numel()},)")
            out.append(value.to(ids.device))
        return out

    def __getstate__(self) -> dict:
        """The state a spawned DataLoader worker gets: a CPU sampler travels as its checked CSR
        (rebuilt on arrival, without its scratch buffers), with arrays that numpy or a file map
        owns copied once into torch-owned memory, since torch can move only those into shared
        memory. Cost: that copy, for such arrays, made at the first pickling and kept with the
        sampler."""
        if self._placement.kind == "cpu" and "_shareable_graph" not in self.__dict__:
            # Kept: each worker's pickle refers to the shared memory until the worker has read it.
            g = self._graph
            self._shareable_graph = dataclasses.replace(
                g, indptr=tuple(map(_shareable, g.indptr)), indices=tuple(map(_shareable, g.indices)),
                weight=tuple(None if w is None else _shareable(w) for w in g.weight),
                time=tuple(None if t is None else _shareable(t) for t in g.time))
        state = self.__dict__.copy()
        del state["_lock"]
        if self._placement.kind == "cpu":
            state["_graph"] = state.pop("_shareable_graph")
            del state["_impl"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        if "_impl" not in state:
            self._impl = _cpu_impl(self._graph, self._replace)

    def __repr__(self) -> str:
        g = self._graph
        if g.hetero:
            fanouts = {et: list(f) for et, f in zip(g.edge_types, g.fanouts, strict=True)}
            return (
                f"NeighborSampler(num_nodes={g.public_num_nodes()}, fanouts={fanouts}, "
                f"replace={self._replace}, placement={str(self._placement)!r})"
            )
        return (
            f"NeighborSampler(num_nodes={g.num_nodes[0]}, fanouts={list(g.fanouts[0])}, "
            f"replace={self._replace}, placement={str(self._placement)!r})"
        )


def _impl_arguments(g) -> tuple[tuple[Any, Any, Any], dict[str, Any]]:
    """The implementations' arguments for a checked graph: ``(indptr, indices, fanouts)`` as
    tensors or dicts, and ``num_nodes`` for the dict form, ``edge_weight`` / ``edge_time`` when given."""
    values: dict[str, Any] = {}
    for name, per_type in (("edge_weight", g.weight), ("edge_time", g.time)):
        if any(v is not None for v in per_type):
            if g.hetero:
                values[name] = {et: v for et, v in zip(g.edge_types, per_type, strict=True) if v is not None}
            else:
                values[name] = per_type[0]
    if g.hetero:
        graph = (dict(zip(g.edge_types, g.indptr, strict=True)), dict(zip(g.edge_types, g.indices, strict=True)),
                 g.public_fanouts())
        return graph, {"num_nodes": g.public_num_nodes(), **values}
    return (g.indptr[0], g.indices[0], g.fanouts[0]), values


def _check_beside(g, name: str, per_type, placement: Placement) -> None:
    """Per-edge arrays (weights, times) must be in the CSR's placement.

    Raises:
        ValueError: one elsewhere, naming its edge type and both placements.
    """
    for e, value in enumerate(per_type):
        if value is None:
            continue
        where = placement_of(value)
        if value.numel() == 0 and placement.kind == "pinned":
            continue  # an empty tensor cannot be page-locked; nothing will be read from it
        if where != placement:
            label = f"{name}[{g.edge_types[e]!r}]" if g.hetero else name
            raise ValueError(
                f"{label} is in placement {str(where)!r} but the CSR is in {str(placement)!r}; "
                "keep per-edge values beside the CSR (zerocopy.place)"
            )


def _cpu_impl(g, replace: bool) -> CpuNeighborSampler:
    graph, typed = _impl_arguments(g)
    return CpuNeighborSampler(*graph, replace, **typed)


def _shareable(t: torch.Tensor) -> torch.Tensor:
    """``t``, or a torch-owned copy when its memory belongs to numpy or a file map (such storage
    cannot be resized, so torch cannot move it into shared memory to pickle it for a worker)."""
    return t if t.untyped_storage().resizable() else t.clone()


def _common_placement(edge_types, indptrs, indices) -> Placement:
    """The one placement of every CSR array (``edge_types`` None for a homogeneous graph).

    Raises:
        ValueError: arrays in different placements, named with their edge types.
    """
    where: Placement | None = None
    for e, (p, i) in enumerate(zip(indptrs, indices, strict=True)):
        a, b = placement_of(p), placement_of(i)
        if i.numel() == 0 and a.kind == "pinned" and b.kind == "cpu":
            b = a  # an empty tensor cannot be page-locked; nothing will be read from it
        name = "" if edge_types is None else f"[{edge_types[e]!r}]"
        if a != b:
            raise ValueError(
                f"indptr{name} is in placement {str(a)!r} but indices{name} is in {str(b)!r}; "
                "put both in the same placement (zerocopy.place)"
            )
        if where is None:
            where = a
        elif a != where:
            raise ValueError(
                f"indptr{name} is in placement {str(a)!r} but indptr[{edge_types[0]!r}] is in {str(where)!r}; "
                "put every edge type's CSR in the same placement (zerocopy.place)"
            )
    assert where is not None, "typed_csr guarantees at least one edge type"
    return where
