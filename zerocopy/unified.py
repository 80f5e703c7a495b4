"""UnifiedTensor: a host table whose rows GPU threads gather over PCIe, with a GPU cache of hot rows.

Where the output lands: a CUDA index gives a CUDA tensor on the index's device, gathered by a GPU
kernel that reads page-locked host memory directly (no CPU gather, no staging copy, no CPU thread
besides the launching one busy); a CPU index gives a CPU tensor gathered by the CPU. Writes
(:meth:`UnifiedTensor.index_copy_`) mirror that: a CUDA index has GPU threads write the rows into
host memory (the scatter kernel, no staging copy), a CPU index writes with the CPU.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from zerocopy import kernels
from zerocopy.cache import CacheStats, RowCache
from zerocopy.hostmem import HOST_REGISTER_READ_ONLY, HostRegistration, release_with, shared_file_view
from zerocopy.pending import BoundsCheck, PendingGather, raise_out_of_range
from zerocopy.placement import Placement, placement_of
from zerocopy.shard import ShardedCache, plan_shards, resolve_group

_INDEX_DTYPES = (torch.int32, torch.int64)


class UnifiedTensor:
    """A tensor in host memory that GPUs index directly: ``u[cuda_ids]`` is gathered by GPU threads.

    The host tensor is page-locked in place with ``cudaHostRegister`` (portable: every GPU of the
    machine can read it; no copy, so a memory-mapped 57 GB table is never held twice). When the
    driver refuses (e.g. pages shared with another registration) a pinned copy is made instead.
    The pinning is undone by :meth:`close`, on leaving a ``with`` block, or when the object is
    collected. Without CUDA (or with ``pin=False``) the same API gathers on the CPU.

    A GPU gather sorts the ids so host memory is read in address order, reads each row from the
    128-byte line holding its first byte, and writes it to its requested position; with
    :meth:`enable_cache` the hottest rows come from GPU memory in the same launch.

    Args:
        tensor: the table, ``[num_rows, ...]`` (1-D too), any dtype (the kernel moves bytes).
            A non-contiguous tensor is copied once to make it contiguous.
        pin: page-lock the table so GPU kernels can read it; ``False`` keeps it pageable (CUDA
            indices then gather on the CPU and copy, one sync per call).

    Example:
        >>> x = UnifiedTensor(data.x)                      # was: x = data.x.to("cuda")
        >>> batch_x = x[batch.n_id.to("cuda")]              # a CUDA tensor, read over PCIe
    """

    def __init__(self, tensor: torch.Tensor, *, pin: bool = True) -> None:
        self._setup(tensor, pin, read_only=False)

    def _setup(self, tensor: torch.Tensor, pin: bool, read_only: bool) -> None:
        if isinstance(tensor, UnifiedTensor):
            tensor = tensor._host
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dim() == 0:
            raise ValueError("tensor must have at least one dimension (rows), got a 0-d tensor")
        if tensor.is_cuda:
            tensor = tensor.cpu()
        self._host = tensor.contiguous()
        self._read_only = read_only
        self._registration: HostRegistration | None = None
        self._finalizer: weakref.finalize | None = None
        self._cache: RowCache | None = None
        self._streams: dict[int, torch.cuda.Stream] = {}
        self._closed = False
        if pin and torch.cuda.is_available():
            if read_only:
                # A copy-on-write file map cannot be registered read-only (see shared_file_view).
                shared = shared_file_view(self._host)
                self._host = self._host if shared is None else shared
            self._registration = HostRegistration.acquire(self._host, read_only=read_only)
            if self._registration is not None:
                self._finalizer = weakref.finalize(self, release_with, self._registration, self._host)
            elif not self._host.is_pinned():
                self._host = self._host.pin_memory()

    @classmethod
    def from_numpy(cls, path_or_array: str | os.PathLike | np.ndarray, *, pin: bool = True) -> UnifiedTensor:
        """Wrap a ``.npy`` file memory-mapped read-only (or an in-memory array) without copying it.

        Pinning a memory map faults its pages in once; the table then lives in the page cache
        only, never in a second buffer.

        Raises:
            FileNotFoundError: when the path does not exist.
            ValueError: when the file is not a ``.npy`` array, naming the file.
            TypeError: for an array dtype torch cannot hold.
        """
        if isinstance(path_or_array, np.ndarray):
            array = path_or_array
        elif isinstance(path_or_array, (str, os.PathLike)):
            path = os.fspath(path_or_array)
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                raise
            except (ValueError, OSError, EOFError) as err:
                raise ValueError(f"{path}: not a readable .npy array ({err})") from err
            if not isinstance(array, np.ndarray):
                raise ValueError(f"{path}: holds several arrays (.npz); pass one .npy file")
        else:
            raise TypeError(f"path_or_array must be a path or numpy.ndarray, got {type(path_or_array).__name__}")
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        read_only = not array.flags.writeable
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                tensor = torch.from_numpy(array)
        except TypeError as err:
            raise TypeError(f"array dtype {array.dtype} cannot be wrapped as a tensor ({err})") from err
        unified = cls.__new__(cls)
        unified._setup(tensor, pin, read_only=read_only)
        return unified

    # ------------------------------------------------------------------ tensor-like surface
    @property
    def shape(self) -> torch.Size:
        """The table's shape ``[num_rows, ...]``."""
        return self._host.shape

    @property
    def dtype(self) -> torch.dtype:
        """The table's dtype (also the dtype of every gather)."""
        return self._host.dtype

    @property
    def device(self) -> torch.device:
        """Where the table lives: always the CPU (host memory); gathers land on the index's device."""
        return self._host.device

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._host.dim()

    @property
    def placement(self) -> Placement:
        """``"pinned"`` when GPUs can read the table, else ``"cpu"``."""
        return placement_of(self._host)

    @property
    def host(self) -> torch.Tensor:
        """The host tensor itself (no copy): page-locked while this object is open."""
        return self._host

    def dim(self) -> int:
        """Number of dimensions."""
        return self._host.dim()

    def size(self, dim: int | None = None) -> torch.Size | int:
        """The shape, or its extent along ``dim``."""
        return self._host.size() if dim is None else self._host.size(dim)

    def numel(self) -> int:
        """Number of elements in the table."""
        return self._host.numel()

    def is_pinned(self) -> bool:
        """Whether the table is page-locked (readable by GPU kernels)."""
        return torch.cuda.is_available() and self._host.is_pinned()

    @property
    def writable(self) -> bool:
        """Whether :meth:`index_copy_` and :meth:`copy_` may write (False for a read-only memory map)."""
        return not self._read_only

    def __len__(self) -> int:
        return self._host.shape[0]

    def __repr__(self) -> str:
        cached = f", cached_rows={self._cache.rows.numel()}" if self._cache is not None else ""
        return f"UnifiedTensor(shape={tuple(self.shape)}, dtype={self.dtype}, placement={self.placement}{cached})"

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``host.to(...)``: ``u.to("cuda")`` copies the whole table to the GPU, as for a tensor.

        Cost: one copy of the whole table unless the target is the host tensor's own device/dtype.
        """
        self._check_open()
        return self._host.to(*args, **kwargs)

    def cpu(self) -> torch.Tensor:
        """The host tensor (no copy)."""
        return self._host

    def index_select(self, dim: int, index: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """``torch.index_select``: ``dim`` 0 is :meth:`gather`; other dims use the host tensor."""
        if dim in (0, -self.ndim):
            return self.gather(index, out=out)
        self._check_open()
        if out is not None:
            return torch.index_select(self._host, dim, index, out=out)
        return torch.index_select(self._host, dim, index)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        """``torch.index_select(u, 0, idx)`` gathers; other torch functions see the host tensor."""
        kwargs = kwargs or {}
        # By name: torch_geometric replaces torch.index_select with a wrapper at import, and the
        # function that reaches here is then the original builtin, not torch.index_select.
        if getattr(func, "__name__", None) == "index_select" and args and isinstance(args[0], UnifiedTensor):
            return args[0].index_select(*args[1:], **kwargs)
        return func(*_unwrap(args), **_unwrap(kwargs))

    def __getitem__(self, key: Any) -> torch.Tensor:
        """``u[ids]`` is :meth:`gather`; an int gives one row; slices and ``...`` view the host tensor."""
        if isinstance(key, tuple):
            if not key:
                return self._host
            if not _is_index(key[0]):
                return self._host[key]
            rows = self[key[0]]
            produced = rows.dim() - (self.ndim - 1)  # dimensions the row index contributed
            return rows[(slice(None),) * produced + key[1:]]
        if isinstance(key, (slice, type(Ellipsis))) or key is None:
            self._check_open()
            return self._host[key]
        if isinstance(key, bool):
            raise TypeError("a bool is not a row id; index with an integer tensor of row ids")
        if isinstance(key, (int, np.integer)):
            return self.gather(torch.tensor(int(key)))
        if isinstance(key, (Sequence, np.ndarray)):
            key = torch.as_tensor(np.asarray(key))
        return self.gather(key)

    # ------------------------------------------------------------------ gathers
    def gather(
        self,
        idx: torch.Tensor,
        out: torch.Tensor | None = None,
        stream: torch.cuda.Stream | None = None,
        *,
        check: bool = True,
        programs_per_sm: float | None = None,
    ) -> torch.Tensor:
        """Rows ``idx`` of the table, shaped ``idx.shape + shape[1:]``, on ``idx.device``.

        A CUDA ``idx`` launches the zero-copy kernel on ``stream`` (default: the current stream).
        Cost: one min/max kernel and 16 B read back, a sort, one gather kernel; the host then waits
        for the min/max only (so the gather is already queued, but the wait includes the work
        queued before it on the stream), to raise IndexError in time. ``check=False`` skips the
        min/max and the wait: no host sync at all. A CPU ``idx`` gathers with torch's CPU threads.

        Args:
            idx: int32/int64 row ids, any shape, on the CPU or a GPU.
            out: optional destination of the right shape, dtype and device (contiguous).
            stream: CUDA stream to run on (CUDA ``idx`` only).
            check: raise IndexError for out-of-range CUDA ids (one host wait). With ``False`` such
                ids are still never read, and their rows come back zero-filled; for ids known to
                be valid, e.g. a sampler's output. CPU ids are always checked (no sync is needed).
            programs_per_sm: how many programs per SM the kernel keeps (a fraction leaves SMs to
                other work: ``zerocopy.kernels.OVERLAP_PROGRAMS_PER_SM`` suits a gather beside a
                model's training step); None: ``zerocopy.kernels.PROGRAMS_PER_SM``.

        Raises:
            IndexError: for an id that is negative or ``>= len(self)`` (nothing outside the table is read).
            TypeError: for a non-integer ``idx`` or an ``out`` of another dtype.
            ValueError: for an ``out`` of another shape or device.
            RuntimeError: after :meth:`close`.
        """
        self._check_open()
        idx = self._check_index(idx)
        if out is not None:
            self._check_out(out, idx)
        if self._collective_cache() is not None:
            return self._gather_sharded(idx, out)
        if idx.is_cuda:
            result, bounds = self._gather_cuda(idx, out, stream, check=check, programs_per_sm=programs_per_sm)
            if bounds is not None:
                bounds.check()
            return result
        return self._gather_cpu(idx, out)

    def gather_async(
        self,
        idx: torch.Tensor,
        stream: torch.cuda.Stream | None = None,
        *,
        check: bool = True,
        programs_per_sm: float | None = None,
    ) -> PendingGather:
        """Start :meth:`gather` on a side stream; the result comes from :meth:`PendingGather.wait`.

        The side stream (``stream`` or one owned by this tensor per GPU) first waits for the current
        stream, so ``idx`` may come straight from a sampler kernel. Cost: as :meth:`gather`, with no
        host wait here: the bounds check moves to ``wait()`` (``check=False``: no host wait
        anywhere, out-of-range rows zero-filled). A CPU ``idx`` gathers at once. While a model
        computes meanwhile, ``programs_per_sm=zerocopy.kernels.OVERLAP_PROGRAMS_PER_SM`` leaves it
        most SMs (see :meth:`gather`).
        """
        self._check_open()
        idx = self._check_index(idx)
        if not idx.is_cuda or self._collective_cache() is not None:  # a sharded gather syncs anyway
            return PendingGather(self.gather(idx))
        device = idx.device
        side = stream if stream is not None else self._side_stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        out, bounds = self._gather_cuda(idx, None, side, check=check, programs_per_sm=programs_per_sm)
        with torch.cuda.device(device):
            done = torch.cuda.Event()
            done.record(side)
        idx.record_stream(side)
        return PendingGather(out, done, bounds)

    # ------------------------------------------------------------------ writes
    def index_copy_(self, idx: torch.Tensor, source: torch.Tensor, *, check: bool = True) -> UnifiedTensor:
        """Write rows: ``self[idx[i]] = source[i]``, in place; returns ``self``.

        The write twin of :meth:`gather`. A CUDA ``idx`` (with ``source`` on the same GPU) has GPU
        threads write the rows straight into the page-locked table (the scatter kernel: rows in
        address order, no staging copy); a CPU ``idx`` writes with the CPU. Cached rows are
        written through, so later gathers see the new rows. An id named twice: one of its rows
        wins, which one is unspecified (as for ``torch.Tensor.index_copy_``).

        Cost (CUDA ``idx``, pinned table): with ``check``, one min/max kernel and a host wait for
        it *before* the write is queued (so nothing is written when an id is out of range); then
        a sort and one kernel, no further sync. ``check=False``: no host sync at all, and
        out-of-range ids are skipped. A table GPUs cannot write (pageable, or pinned read-only by
        the driver) costs a copy of ``idx`` and ``source`` to the host (a sync). A cache on
        another device than ``idx`` is updated by torch indexing there (a sync on a GPU).

        Args:
            idx: int32/int64 row ids, any shape, on the CPU or a GPU.
            source: ``idx.shape + shape[1:]``, the table's dtype, on ``idx.device``.
            check: raise IndexError for out-of-range CUDA ids (one host wait). CPU ids are always
                checked (no sync is needed).

        Raises:
            IndexError: for an id that is negative or ``>= len(self)``, before anything is written.
            TypeError: for a non-integer ``idx`` or a ``source`` of another dtype.
            ValueError: for a ``source`` of another shape or device.
            RuntimeError: for a read-only table (a read-only memory map), or after :meth:`close`.
        """
        self._check_open()
        self._check_writable()
        self._check_unsharded("index_copy_")
        idx = self._check_index(idx)
        self._check_rows(source, idx, "source")
        flat = idx.reshape(-1)
        if flat.numel() == 0:
            return self
        rows = source.reshape((flat.numel(),) + tuple(self.shape[1:]))
        if idx.is_cuda:
            self._scatter_cuda(flat, rows, check)
        else:
            lo, hi = torch.aminmax(flat)
            raise_out_of_range(int(lo), int(hi), len(self))
            self._write_host(flat, rows)
        return self

    def copy_(self, source: torch.Tensor) -> UnifiedTensor:
        """Overwrite the whole table with ``source`` (same shape and dtype, any device); returns ``self``.

        Cached rows are refreshed from the new table. Cost: a wait for the GPU work queued on the
        table (:meth:`synchronize`), one copy of the table into host memory (a sync when ``source``
        is on a GPU), one gather of the cached rows.

        Raises:
            TypeError: for a ``source`` of another dtype.
            ValueError: for a ``source`` of another shape.
            RuntimeError: for a read-only table, or after :meth:`close`.
        """
        self._check_open()
        self._check_writable()
        self._check_unsharded("copy_")
        if not isinstance(source, torch.Tensor):
            raise TypeError(f"source must be a torch.Tensor, got {type(source).__name__}")
        if source.dtype != self.dtype:
            raise TypeError(f"source has dtype {source.dtype}, expected the table's {self.dtype}")
        if tuple(source.shape) != tuple(self.shape):
            raise ValueError(f"source has shape {tuple(source.shape)}, expected the table's {tuple(self.shape)}")
        self.synchronize()
        self._host.copy_(source)
        cache = self._cache
        if cache is not None:
            if cache.device.type == "cuda":
                self._gather_cuda(cache.rows.to(cache.device), cache.data, None, use_cache=False, check=False)
            else:
                cache.data.copy_(self._host.index_select(0, cache.rows))
        return self

    def synchronize(self) -> None:
        """Wait until the GPU work queued on this table (gathers, writes by GPU threads) is done, so
        the CPU may read or overwrite :attr:`host`; GPU writes into host memory are asynchronous.

        Cost: a device sync of each GPU that used the table (every GPU when the table was pinned by
        copy, whose users are not tracked); nothing without CUDA or for a pageable table.
        """
        if not self.is_pinned():
            return
        if self._registration is not None:
            devices = sorted(self._registration.devices)
        else:
            devices = list(range(torch.cuda.device_count()))
        for device in devices:
            torch.cuda.synchronize(device)

    # ------------------------------------------------------------------ cache
    def enable_cache(
        self,
        budget_bytes: int,
        ranking: torch.Tensor | None = None,
        device: str | torch.device | None = None,
        *,
        shards: bool | dist.ProcessGroup | None = None,
    ) -> None:
        """Hold the hottest rows on ``device`` within ``budget_bytes``; gathers then mix cache and host.

        ``budget_bytes`` covers the cached rows plus a 4-byte slot per table row. ``ranking`` is a
        score per row (node degree, or :func:`zerocopy.visit_ranking` counts from presampled
        epochs); None means the rows are already ordered hottest first. ``device`` defaults to the
        current GPU (the CPU without one). Replaces any earlier cache and zeroes the statistics.
        Writes through :meth:`index_copy_` and :meth:`copy_` reach the cache too (write-through);
        writes to :attr:`host` directly reach the uncached rows only.

        ``shards`` (``True``: the default process group, or a group; one process per GPU) splits the
        cache over the group's ranks instead of replicating it: ``budget_bytes`` is then each rank's
        budget, the ranks together hold ``world x`` as many distinct rows (the whole table when it
        fits), each row on the rank whose ``ranking`` (its own visit counts) is highest for it
        (:mod:`zerocopy.shard`). A gather then reads this rank's shard locally, other ranks' shards
        through them (a collective: every rank gathers once per step, see :meth:`local_reads` for a
        rank gathering alone) and the rest from the host; :meth:`cache_stats` counts each tier. A
        sharded cache is read-only (writes raise until :meth:`disable_cache`).

        Cost: one sort of the ranking on its device, one gather of the cached rows (zero-copy when the
        table is pinned), ``budget_bytes`` of device memory. With ``shards``, collective: an
        all-reduce of the rankings and an all-gather of the candidates' scores besides.

        Raises:
            ValueError: for a budget below the slot map plus one row, or a ranking of the wrong length.
            TypeError: for a non-int budget or a non-real ranking, or a ``shards`` not True or a group.
            RuntimeError: ``shards`` without an initialized torch.distributed.
        """
        self._check_open()
        target = _cache_device(device)
        row_bytes = self._row_width() * self._host.element_size()
        count = RowCache.rows_for_budget(budget_bytes, len(self), row_bytes)
        self._cache = None
        if shards is not None:
            group = resolve_group(shards)
            route, rows, total = plan_shards(ranking, len(self), count, group)
            self._cache = ShardedCache(rows, self._read_rows(rows, target), len(self), target, route=route,
                                       group=group, total_rows=total)
            return
        rows = RowCache.hottest(ranking, len(self), count)
        self._cache = RowCache(rows, self._read_rows(rows, target), len(self), target)

    def _read_rows(self, rows: torch.Tensor, target: torch.device) -> torch.Tensor:
        """Rows ``rows`` (CPU ids) of the host table, copied onto ``target`` past any cache."""
        if target.type == "cuda":
            return self._gather_cuda(rows.to(target), None, None, use_cache=False)[0]
        return self._host.index_select(0, rows)

    @contextlib.contextmanager
    def local_reads(self) -> Iterator[UnifiedTensor]:
        """Within the block, a sharded cache's gathers need no other rank: peer rows come from the host.

        For work one rank does alone (evaluation on rank 0) while the others do not gather; a
        no-op without a sharded cache. Cost: none.
        """
        cache = self._cache
        if not isinstance(cache, ShardedCache):
            yield self
            return
        was, cache.collective = cache.collective, False
        try:
            yield self
        finally:
            cache.collective = was

    def disable_cache(self) -> None:
        """Drop the cache and free its device memory."""
        self._cache = None

    @property
    def has_cache(self) -> bool:
        """Whether a row cache is enabled (then :meth:`cache_stats` has counts)."""
        return self._cache is not None

    def cache_stats(self) -> CacheStats:
        """Hit statistics since :meth:`enable_cache` or :meth:`reset_cache_stats`.

        Cost: a sync of the cache's device (side streams included) and a 16 B read back.

        Raises:
            RuntimeError: when no cache is enabled.
        """
        cache = self._require_cache()
        if cache.device.type == "cuda":
            torch.cuda.synchronize(cache.device)
        return cache.stats()

    def reset_cache_stats(self) -> None:
        """Zero the hit counters (queued on the current stream; no sync)."""
        self._require_cache().reset_stats()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Unpin the table (after the GPUs that read it finish) and drop the cache. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._cache = None
        self._streams.clear()
        if self._finalizer is not None:
            self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def __enter__(self) -> UnifiedTensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this UnifiedTensor is closed; wrap the table again to gather from it")

    def _check_writable(self) -> None:
        if self._read_only:
            raise RuntimeError(
                "this UnifiedTensor wraps read-only memory (a read-only memory map); "
                "wrap a writable copy (np.load(mmap_mode='r+') or a tensor) to write rows"
            )

    def _collective_cache(self) -> ShardedCache | None:
        cache = self._cache
        return cache if isinstance(cache, ShardedCache) and cache.collective else None

    def _check_unsharded(self, name: str) -> None:
        if isinstance(self._cache, ShardedCache):
            raise RuntimeError(
                f"{name} on a table with a sharded cache: the other ranks' copies would go stale; "
                "call disable_cache() first"
            )

    def _gather_sharded(self, idx: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        """:meth:`gather` through a sharded cache (see :meth:`ShardedCache.gather` for the cost)."""
        cache = self._collective_cache()
        assert cache is not None
        if idx.device != cache.device:
            raise ValueError(f"idx is on {idx.device}, but this rank's shard is on {cache.device}; gather there")
        flat = idx.reshape(-1).to(torch.int64)
        if cache.device.type == "cuda":
            def near(ids: torch.Tensor) -> torch.Tensor:
                return self._gather_cuda(ids, None, None, check=False)[0]
        else:
            def near(ids: torch.Tensor) -> torch.Tensor:
                return cache.lookup_cpu(ids, self._host)
        result = cache.gather(flat, near).view(tuple(idx.shape) + tuple(self.shape[1:]))
        if out is not None:
            out.copy_(result)
            return out
        return result

    def _require_cache(self) -> RowCache:
        if self._cache is None:
            raise RuntimeError("no cache is enabled; call enable_cache(budget_bytes, ranking) first")
        return self._cache

    def _row_width(self) -> int:
        return math.prod(self._host.shape[1:])

    def _check_index(self, idx: Any) -> torch.Tensor:
        if not isinstance(idx, torch.Tensor):
            raise TypeError(f"idx must be a torch.Tensor of row ids, got {type(idx).__name__}")
        if idx.dtype == torch.bool:
            raise TypeError("idx is a bool mask; pass row ids (mask.nonzero().squeeze(1)) as int32 or int64")
        if idx.dtype not in _INDEX_DTYPES:
            raise TypeError(f"idx must have dtype int32 or int64, got {idx.dtype}")
        return idx

    def _check_out(self, out: torch.Tensor, idx: torch.Tensor) -> None:
        self._check_rows(out, idx, "out", contiguous=True)

    def _check_rows(self, rows: Any, idx: torch.Tensor, name: str, *, contiguous: bool = False) -> None:
        """``rows`` must be ``idx.shape + shape[1:]`` of the table's dtype on ``idx.device``."""
        if not isinstance(rows, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(rows).__name__}")
        shape = tuple(idx.shape) + tuple(self.shape[1:])
        if rows.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {rows.dtype}, expected the table's {self.dtype}")
        strided = contiguous and not rows.is_contiguous()
        if tuple(rows.shape) != shape or rows.device != idx.device or strided:
            must = "be contiguous with" if contiguous else "have"
            raise ValueError(
                f"{name} must {must} shape {shape} on {idx.device}, got shape {tuple(rows.shape)} "
                f"on {rows.device}" + (f" (contiguous={rows.is_contiguous()})" if contiguous else "")
            )

    def _gather_cpu(self, idx: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        flat = idx.reshape(-1)
        if flat.numel():
            lo, hi = torch.aminmax(flat)
            raise_out_of_range(int(lo), int(hi), len(self))
        cache = self._cache if self._cache is not None and self._cache.device.type == "cpu" else None
        if cache is not None:
            rows = cache.lookup_cpu(flat.to(torch.int64), self._host)
        else:
            rows = self._host.index_select(0, flat)
        result = rows.view(tuple(idx.shape) + tuple(self.shape[1:]))
        if out is not None:
            out.copy_(result)
            return out
        return result

    def _gather_cuda(
        self,
        idx: torch.Tensor,
        out: torch.Tensor | None,
        stream: torch.cuda.Stream | None,
        *,
        use_cache: bool = True,
        check: bool = True,
        programs_per_sm: float | None = None,
    ) -> tuple[torch.Tensor, BoundsCheck | None]:
        device = idx.device
        shape = tuple(idx.shape) + tuple(self.shape[1:])
        with torch.cuda.device(device), torch.cuda.stream(stream or torch.cuda.current_stream(device)):
            if out is None:
                out = torch.empty(shape, dtype=self.dtype, device=device)
            flat = idx.reshape(-1)
            if flat.numel() == 0:
                return out, None
            bounds = BoundsCheck(flat, len(self)) if check else None
            if out.numel() == 0:  # zero-width rows: nothing to read, but the ids are checked as on the CPU
                return out, bounds
            if not (self.is_pinned() and kernels.available()):
                out.copy_(self._gather_pageable(flat).view(shape))
                return out, bounds
            if self._registration is not None:
                self._registration.devices.add(device.index)
            cache = self._cache if use_cache else None
            if cache is not None and cache.device != device:
                cache = None
            width = self._row_width()
            kernels.gather_rows(
                self._host.view(len(self), width),
                flat,
                out.view(-1, width),
                slot_map=cache.slot_map if cache is not None else None,
                cache=cache.data.view(-1, width) if cache is not None else None,
                counts=cache.counts if cache is not None else None,
                programs_per_sm=programs_per_sm,
            )
            return out, bounds

    def _gather_pageable(self, flat: torch.Tensor) -> torch.Tensor:
        """Rows of a table GPUs cannot read, gathered on the CPU; out-of-range ids give zero rows.

        Cost: a host sync to bring ``flat`` down, a CPU gather (the copy up is the caller's).
        """
        ids = flat.cpu()
        valid = (ids >= 0) & (ids < len(self))
        rows = torch.zeros((ids.numel(),) + tuple(self.shape[1:]), dtype=self.dtype)
        if len(self):
            rows[valid] = self._host.index_select(0, ids[valid])
        return rows

    def _gpu_writable(self) -> bool:
        """Whether GPU threads may write the host table (pinned, and not registered read-only)."""
        registration = self._registration
        read_only = registration is not None and bool(registration.flags & HOST_REGISTER_READ_ONLY)
        return self.is_pinned() and not read_only and kernels.available()

    def _scatter_cuda(self, flat: torch.Tensor, rows: torch.Tensor, check: bool) -> None:
        """Write ``rows`` at CUDA ids ``flat`` (see :meth:`index_copy_` for the cost)."""
        device = flat.device
        with torch.cuda.device(device):
            if check:
                BoundsCheck(flat, len(self)).check()  # before the write: nothing written on an error
            cache = self._cache
            if not self._gpu_writable() or self._row_width() == 0:
                ids = flat.cpu()
                valid = (ids >= 0) & (ids < len(self))
                self._write_host(ids[valid], rows.cpu()[valid])
                return
            if self._registration is not None:
                self._registration.devices.add(device.index)
            width = self._row_width()
            through = cache if cache is not None and cache.device == device else None
            kernels.scatter_rows(
                self._host.view(len(self), width),
                flat,
                rows.contiguous().view(-1, width),
                slot_map=through.slot_map if through is not None else None,
                cache=through.data.view(-1, width) if through is not None else None,
            )
            if cache is not None and not through:
                cache.write_rows(flat, rows)

    def _write_host(self, ids: torch.Tensor, rows: torch.Tensor) -> None:
        """CPU write of valid CPU ``ids``, then the cache's copy of any cached ones."""
        ids = ids.to(torch.int64)
        self._host.index_copy_(0, ids, rows)
        if self._cache is not None:
            self._cache.write_rows(ids, rows)

    def _side_stream(self, device: torch.device) -> torch.cuda.Stream:
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index not in self._streams:
            self._streams[index] = torch.cuda.Stream(device=index)
        return self._streams[index]


def _cache_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    target = Placement.parse(device)
    if target.kind == "pinned":
        raise ValueError("device='pinned' is host memory; a cache lives on 'cuda', 'cuda:k' or 'cpu'")
    if target.kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(target)!r} needs CUDA and torch.cuda.is_available() is False; use 'cpu'")
    return target.device


def _is_index(key: Any) -> bool:
    return isinstance(key, (torch.Tensor, int, np.integer, np.ndarray, list)) and not isinstance(key, bool)


def _unwrap(value: Any) -> Any:
    if isinstance(value, UnifiedTensor):
        return value.host
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value
