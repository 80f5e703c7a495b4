"""``NeighborSampler``: uniform multi-hop neighbour sampling whose kernels follow the CSR.

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
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import torch

from sampling._checks import as_index_tensor, check_fanouts, check_range
from sampling._cpu_sampler import CpuNeighborSampler
from sampling.csr import check_csr
from sampling.output import SamplerOutput
from zerocopy.placement import Placement, placement_of


class NeighborSampler:
    """Uniform neighbour sampling, ``fanouts[h]`` in-neighbours per node at hop ``h``.

    Without replacement a node of degree ``d`` gets ``min(k, d)`` distinct neighbours (all
    of them when ``d <= k``); with ``replace=True`` it gets ``k`` independent draws (none
    when ``d == 0``); a fanout of ``-1`` takes every neighbour. The output follows PyG's
    ``SamplerOutput`` (see :class:`sampling.SamplerOutput`) with global node and edge ids.

    Draws are a function of ``(seed, call number, hop, position)``: a sampler built (or
    :meth:`reseed`-ed) with the same seed returns the same sequence of outputs on the same
    device, whatever the thread count. Calls are serialised by a lock (a GPU call holds it
    until its one host sync, when its kernels are done), so threads may share a sampler, each
    on its own CUDA stream (two loaders' producer threads, say): every call takes the next
    call number and the node -> local-id map is never used by two calls at once.

    Args:
        indptr: int64 (or int32) CSR offsets, ``num_nodes + 1`` entries.
        indices: int32 or int64 in-neighbour ids, in the same placement as ``indptr``.
        fanouts: per-hop neighbour counts, each ``>= 0`` or ``-1`` for all.
        replace: sample with replacement.
        seed: seed of the draws.
        validate: check the CSR (one O(E) pass, a sync on GPU); off only for trusted input.
        cuda_graph: GPU placements: capture the launches of a call once per batch size and
            replay them (one graph launch instead of about 16; needs every fanout >= 0).
            Ignored on the CPU.

    Raises:
        TypeError: non-integer CSR arrays or fanouts.
        ValueError: empty fanouts, a fanout below -1, CSR arrays that disagree in size or
            placement.
        IndexError: a neighbour id outside ``[0, num_nodes)``.
    """

    def __init__(
        self,
        indptr: torch.Tensor,
        indices: torch.Tensor,
        fanouts: Sequence[int],
        *,
        replace: bool = False,
        seed: int = 0,
        validate: bool = True,
        cuda_graph: bool = False,
    ) -> None:
        self._fanouts = check_fanouts(fanouts)
        self._num_nodes = check_csr(indptr, indices, full=validate)
        where, other = placement_of(indptr), placement_of(indices)
        if indices.numel() == 0 and where.kind == "pinned" and other.kind == "cpu":
            other = where  # an empty tensor cannot be page-locked; nothing will be read from it
        if where != other:
            raise ValueError(
                f"indptr is in placement {str(where)!r} but indices is in {str(other)!r}; "
                "put both in the same placement (zerocopy.place)"
            )
        self._placement = where
        self._replace = bool(replace)
        self._lock = threading.Lock()
        self.reseed(seed)
        if where.kind == "cpu":
            self._impl = CpuNeighborSampler(indptr.contiguous(), indices.contiguous(), self._fanouts, self._replace)
        else:
            from sampling._gpu_sampler import GpuNeighborSampler

            self._impl = GpuNeighborSampler(
                indptr.contiguous(), indices.contiguous(), self._fanouts, self._replace, cuda_graph=cuda_graph
            )

    @property
    def placement(self) -> Placement:
        """Where the CSR lives: ``cpu``, ``pinned`` or ``cuda:k``."""
        return self._placement

    @property
    def device(self) -> torch.device:
        """Where the kernels run and the output lands (the current GPU for ``pinned``)."""
        if self._placement.kind == "cpu":
            return torch.device("cpu")
        return self._impl.device

    @property
    def fanouts(self) -> tuple[int, ...]:
        """Per-hop neighbour counts."""
        return self._fanouts

    @property
    def replace(self) -> bool:
        """Whether neighbours are drawn with replacement."""
        return self._replace

    @property
    def num_nodes(self) -> int:
        """Node count of the CSR."""
        return self._num_nodes

    def reseed(self, seed: int) -> None:
        """Restart the sequence of draws from ``seed`` (the next call draws as a fresh sampler would)."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        with self._lock:
            self._seed = seed
            self._calls = 0

    def capture(self, batch_sizes: list[int]) -> None:
        """With ``cuda_graph``, capture the CUDA graphs of these batch sizes now; otherwise nothing.

        :meth:`sample` captures a batch size the first time it sees it, and a capture fails
        when another thread of the process syncs the device meanwhile (a training loop reading
        its loss). Code that samples on one thread while others use the GPU captures the sizes
        it will use before starting them, as :class:`graphsys.loader.NodeLoader` does each epoch.
        Draws are unaffected: the graphs replay what direct launches do.
        """
        if self._placement.kind == "cpu":
            return
        with self._lock:
            self._impl.capture([int(n) for n in batch_sizes])

    def sample(self, seeds: torch.Tensor) -> SamplerOutput:
        """Sample the ``len(fanouts)``-hop subgraph around ``seeds``.

        Seeds are moved to :attr:`device` (one copy when they are elsewhere). Cost on CPU:
        per hop one parallel pass (pool threads) and one sequential pass, then a parallel
        compaction; allocates the outputs.
        Cost on GPU: about 16 kernel launches (4 per hop; one graph launch and 5 copies with
        ``cuda_graph``) and a single host sync at the end to read the per-hop counts; a
        fanout of -1 adds two syncs; outputs allocated on the GPU.

        Args:
            seeds: 1-D integer tensor of node ids (repeats allowed; a repeat maps to its
                first position).

        Returns:
            The sampled subgraph, on :attr:`device`.

        Raises:
            TypeError: non-integer seeds.
            IndexError: a seed outside ``[0, num_nodes)`` (on GPU found at the final sync).
        """
        seeds = as_index_tensor("seeds", seeds)
        if self._placement.kind == "cpu":
            seeds = seeds.to("cpu", torch.int64)
            check_range("seeds", seeds, self._num_nodes)
        with self._lock:
            call = self._calls
            self._calls += 1
            return self._impl.sample(seeds, self._seed, call)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"NeighborSampler(num_nodes={self._num_nodes}, fanouts={list(self._fanouts)}, "
            f"replace={self._replace}, placement={str(self._placement)!r})"
        )
