"""HostEmbedding: a learnable table of rows that may not fit the GPU, read and updated zero-copy.

The table lives in one placement: ``"pinned"`` (page-locked host memory, so a 122 M x 128 table
never has to fit the GPU), ``"cuda"`` or ``"cpu"``. A forward pass gathers the batch's rows (for a
pinned table: GPU threads read host memory, :meth:`zerocopy.UnifiedTensor.gather`); the backward
pass sums the gradient of each touched row once and hands it to a sparse optimizer
(:class:`zerocopy.SparseRowAdagrad`, :class:`zerocopy.SparseAdam`), which updates only those rows
on the GPU and has GPU threads write them back into host memory (the scatter kernel,
:meth:`zerocopy.UnifiedTensor.index_copy_`). The table is never copied whole.

Sync-free on a GPU: the batch's unique rows are found by a sort, not ``torch.unique`` (whose
output size needs a host read), so the unique-row arrays keep the batch's length and are padded
with the id ``num_rows``; padding rows are never read (they gather as zeros) nor written. On the
CPU the padding is cut off. The math is the same torch code in every placement; only the moving
of rows differs, and that moves bits exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from zerocopy import kernels
from zerocopy.pending import BoundsCheck, raise_out_of_range
from zerocopy.placement import Placement
from zerocopy.unified import UnifiedTensor

INIT_CHUNK_ELEMENTS = 1 << 24
"""Random draws per chunk when a table is initialised: a 64 MB float32 scratch buffer on the CPU.
Every placement draws the same chunks from one CPU generator, so one seed gives one table
everywhere; changing this constant changes the tables a seed gives."""

_INDEX_DTYPES = (torch.int32, torch.int64)
_TABLE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class RowStore:
    """One table of rows (an embedding table or an optimizer's state) in one placement.

    ``"pinned"`` and ``"cpu"`` keep it in a :class:`UnifiedTensor` (pinned in place or pageable),
    so reads and writes go through its gather and write path (and through its cache, when one is
    enabled: writes are written through). ``"cuda"`` keeps a device tensor moved by the same
    Triton kernels directly. Reads of out-of-range ids give zero rows, writes to them are skipped.

    Args:
        data: the table ``[num_rows, ...]`` (CPU for pinned/cpu, the GPU for cuda); not copied.
        placement: where it lives.
    """

    def __init__(self, data: torch.Tensor, placement: Placement) -> None:
        self.placement = placement
        if placement.kind == "cuda":
            self.unified: UnifiedTensor | None = None
            self.data = data
        else:
            self.unified = UnifiedTensor(data, pin=placement.kind == "pinned")
            self.data = self.unified.host

    def on_kernels(self) -> RowStore:
        """The same memory moved by the Triton kernels directly, as a ``"cuda"`` store is (for
        CPU memory under ``TRITON_INTERPRET=1``, which is how the kernels' path is tested)."""
        store = RowStore.__new__(RowStore)
        store.placement, store.unified, store.data = self.placement, None, self.data
        return store

    def like(self, shape: tuple[int, ...]) -> RowStore:
        """A zero-filled float32 store of ``shape`` in this store's placement and mode.

        Cost: allocates ``shape`` (pinned in place for a pinned store)."""
        store = RowStore(torch.zeros(shape, dtype=torch.float32, device=self.data.device), self.placement)
        return store if self.unified is not None or self.placement.kind == "cuda" else store.on_kernels()

    @property
    def trims(self) -> bool:
        """Whether unique-row arrays for this store are cut to their length (CPU ids and a
        :class:`UnifiedTensor`, whose CPU path checks every id) instead of padded."""
        return self.unified is not None

    def read(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows ``ids`` (ascending), on ``ids.device``. Cost: one gather (a sort and one kernel for
        a pinned table, one kernel for a GPU one), no host sync."""
        if self.unified is not None:
            return self.unified.gather(ids, check=False)
        width = math.prod(self.data.shape[1:])
        out = torch.empty((ids.numel(),) + tuple(self.data.shape[1:]), dtype=self.data.dtype, device=ids.device)
        kernels.gather_rows(self.data.view(-1, width), ids, out.view(-1, width), sort=False)
        return out

    def write(self, ids: torch.Tensor, rows: torch.Tensor) -> None:
        """``self[ids] = rows`` for unique ascending ``ids``. Cost: one scatter (a sort and one
        kernel for a pinned table, one kernel for a GPU one), no host sync."""
        if self.unified is not None:
            self.unified.index_copy_(ids, rows, check=False)
            return
        width = math.prod(self.data.shape[1:])
        kernels.scatter_rows(self.data.view(-1, width), ids, rows.contiguous().view(-1, width), sort=False)

    def settled(self) -> torch.Tensor:
        """The whole table, after the GPU writes queued on it (for a pinned table) are done, so
        the CPU may read it. Cost: a device sync for a pinned table, nothing otherwise."""
        if self.unified is not None:
            self.unified.synchronize()
        return self.data

    def load_(self, source: torch.Tensor) -> None:
        """Overwrite the whole table from ``source`` (cached rows refreshed). Cost: one table copy."""
        if self.unified is not None:
            self.unified.copy_(source.to(self.data.dtype))
        else:
            self.data.copy_(source)

    def close(self) -> None:
        """Unpin (pinned stores). Idempotent."""
        if self.unified is not None:
            self.unified.close()


@dataclass(frozen=True)
class UniqueRows:
    """The unique rows of a batch of ids, found by one sort (no host sync on a GPU).

    Attributes:
        rows: ascending unique ids, padded to the batch's length with ``num_rows`` (cut to the
            unique count when trimmed). Ids that were out of range appear as -1 or ``num_rows``.
        inverse: int64 ``[n]``: the entry of ``rows`` each id of the batch is.
        order: int64 ``[n]``: the batch positions in sorted order (duplicates adjacent).
        counts: int64 ``[len(rows)]``: how many batch ids each entry stands for (0 for padding).
    """

    rows: torch.Tensor
    inverse: torch.Tensor
    order: torch.Tensor
    counts: torch.Tensor

    @classmethod
    def of(cls, ids: torch.Tensor, num_rows: int, *, trim: bool) -> UniqueRows:
        """The unique rows of 1-D ``ids``. Cost: one radix sort and six small kernels on
        ``ids.device``; with ``trim`` one read of the unique count (free on the CPU)."""
        n = ids.numel()
        keys, order = kernels.sorted_order(ids, num_rows)
        first = torch.ones(n, dtype=torch.bool, device=ids.device)
        first[1:] = keys[1:] != keys[:-1]
        group = torch.cumsum(first, 0) - 1
        rows = torch.full((n,), num_rows, dtype=keys.dtype, device=ids.device)
        rows.scatter_(0, group, keys)  # duplicates write the same value
        counts = torch.zeros(n, dtype=torch.int64, device=ids.device).index_add_(0, group, torch.ones_like(group))
        inverse = torch.empty(n, dtype=torch.int64, device=ids.device).scatter_(0, order, group)
        if trim and n:
            unique = int(group[-1]) + 1
            rows, counts = rows[:unique], counts[:unique]
        return cls(rows, inverse, order, counts)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Per-row sums of ``values`` ``[n, dim]`` (batch order), ``[len(rows), dim]``, each summed in
        sorted order (deterministic: no atomics). Cost: one index_select and one segment sum."""
        return torch.segment_reduce(values.index_select(0, self.order), "sum", lengths=self.counts, axis=0, unsafe=True)


class HostEmbedding(nn.Module):
    """A learnable ``[num_rows, dim]`` table whose batch rows are gathered and updated sparsely.

    ``forward(ids)`` returns ``table[ids]`` on ``ids.device``; its backward sums the gradient of
    each touched row once (duplicates summed) and keeps it for a sparse optimizer
    (:class:`zerocopy.SparseRowAdagrad`, :class:`zerocopy.SparseAdam`), which updates only those
    rows. The table has no ``nn.Parameter``: dense optimizers over ``model.parameters()`` never see
    it, and ``module.to()`` does not move it (its placement is fixed here).

    Placement: ``"pinned"`` (page-locked host memory, read and written by GPU threads; needs CUDA;
    ids on any GPU), ``"cuda"`` / ``"cuda:k"`` (GPU memory; ids on that GPU) or ``"cpu"`` (ids on
    the CPU; CUDA ids are served through a copy and a sync). For a pinned table, a GPU cache of its
    hottest rows may be enabled on :attr:`weight` (or shared with :func:`zerocopy.share_cache`):
    updates are written through to it.

    Args:
        num_rows: rows of the table (>= 1).
        dim: columns (>= 1).
        placement: ``"pinned"``, ``"cuda"``, ``"cuda:k"`` or ``"cpu"``.
        dtype: float32, float16 or bfloat16 (updates are computed in float32 and rounded).
        init_std: rows start as ``N(0, init_std**2)`` (1.0 as ``torch.nn.Embedding``); 0 gives zeros
            without drawing.
        seed: the initialisation's seed: one seed gives one table in every placement.
        check_ids: raise IndexError for out-of-range CUDA ids (one host wait per forward); with
            False such ids gather zero rows and are never updated. CPU ids are always checked.

    Example:
        >>> authors = HostEmbedding(122_383_112, 64, placement="pinned", seed=0)
        >>> optimizer = SparseRowAdagrad([authors], lr=0.01)
        >>> x = authors(batch["author"].n_id.cuda())       # [n, 64] on the GPU
        >>> loss = model(x, ...); loss.backward()
        >>> optimizer.step(); optimizer.zero_grad()          # the touched rows only
    """

    def __init__(
        self,
        num_rows: int,
        dim: int,
        *,
        placement: str | torch.device | Placement = "pinned",
        dtype: torch.dtype = torch.float32,
        init_std: float = 1.0,
        seed: int = 0,
        check_ids: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("num_rows", num_rows), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if dtype not in _TABLE_DTYPES:
            raise TypeError(f"dtype must be torch.float32, torch.float16 or torch.bfloat16, got {dtype}")
        if not (isinstance(init_std, (int, float)) and 0 <= init_std < math.inf):
            raise ValueError(f"init_std must be a finite number >= 0, got {init_std!r}")
        target = Placement.parse(placement)
        if target.kind != "cpu" and not torch.cuda.is_available():
            raise RuntimeError(
                f"placement {str(target)!r} needs CUDA and torch.cuda.is_available() is False; use placement='cpu'"
            )
        self.num_rows, self.dim, self.dtype, self.check_ids = num_rows, dim, dtype, check_ids
        self._store = RowStore(_initial_table(num_rows, dim, dtype, float(init_std), seed, target), target)
        self._handle = torch.empty(0, requires_grad=True)  # gives the lookup a place in the autograd graph
        self._grads: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def placement(self) -> Placement:
        """Where the table lives."""
        return self._store.placement

    @property
    def weight(self) -> UnifiedTensor | torch.Tensor:
        """The table itself (no copy): a :class:`UnifiedTensor` for pinned/cpu, a tensor for cuda.
        Write to it only through ``UnifiedTensor.index_copy_``/``copy_``, which keep its cache
        coherent; call ``weight.synchronize()`` before reading ``weight.host`` after GPU steps."""
        return self._store.unified if self._store.unified is not None else self._store.data

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows ``ids`` of the table, shaped ``ids.shape + (dim,)``, on ``ids.device``, differentiable.

        Cost (CUDA ids, pinned table): one sort and six small kernels to find the unique rows, one
        zero-copy gather of those rows (a sort and a kernel), one index_select to expand them; with
        ``check_ids`` one host wait for the ids' min/max (queued before the gather), else no host
        sync. Backward: one index_select and one segment sum, no host sync; the summed gradient
        (``len(ids)`` x ``dim`` float32 on ``ids.device``) is held until :meth:`zero_grad`.

        Raises:
            TypeError: ``ids`` not an int32/int64 tensor.
            ValueError: CUDA table and ``ids`` on another device.
            IndexError: an id outside ``[0, num_rows)``, naming it.
        """
        ids = self._checked(ids)
        checked = ids.is_cuda and self.check_ids and ids.numel() > 0
        bounds = BoundsCheck(ids.reshape(-1), self.num_rows, "ids") if checked else None
        out = _Lookup.apply(self._handle, ids, self)
        if bounds is not None:
            bounds.check()
        return out

    def sparse_grad(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(rows, grad)``: the ascending unique rows touched since :meth:`zero_grad` and the sum
        of their gradients (float32 ``[len(rows), dim]``); None when nothing was touched. On a GPU
        ``rows`` is padded with the out-of-range id ``num_rows`` (zero gradient), which reads and
        writes of the table skip. Cost: nothing after one backward; after several, one merge of
        their rows (as :meth:`forward` finds unique rows), no host sync."""
        if not self._grads:
            return None
        if len(self._grads) > 1:
            rows = torch.cat([r for r, _ in self._grads])
            unique = UniqueRows.of(rows, self.num_rows, trim=self._store.trims and not rows.is_cuda)
            self._grads = [(unique.rows, unique.sum(torch.cat([g for _, g in self._grads])))]
        return self._grads[0]

    def add_sparse_grad(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """Add ``grad`` (float32 ``[len(rows), dim]``) to the gradient of ``rows`` (in range, repeats
        summed), as a backward through those rows would: how data-parallel training puts the
        gradients of every process's batches on each copy of the table before the optimizer step.
        Cost: one unique-rows pass over ``rows`` (as :meth:`forward`'s) and one segment sum.

        Raises:
            ValueError: ``grad`` not ``[len(rows), dim]``, or on another device than ``rows``.
        """
        if grad.shape != (rows.numel(), self.dim) or grad.device != rows.device:
            raise ValueError(f"grad must be [{rows.numel()}, {self.dim}] on {rows.device}, got "
                             f"{list(grad.shape)} on {grad.device}")
        if rows.numel() == 0:
            return
        unique = UniqueRows.of(rows, self.num_rows, trim=self._store.trims and not rows.is_cuda)
        self._grads.append((unique.rows, unique.sum(grad.float())))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients kept since the last call (and any of submodules' parameters)."""
        self._grads = []
        super().zero_grad(set_to_none)

    def close(self) -> None:
        """Unpin the table (pinned placement); the module cannot be used afterwards. Idempotent."""
        self._store.close()

    def extra_repr(self) -> str:
        return f"{self.num_rows}, {self.dim}, placement={self.placement}, dtype={self.dtype}"

    # ------------------------------------------------------------------ checkpoints
    # state_dict() holds the table itself under "weight" (no copy; a pinned table is first waited
    # for, so the GPU's writes are in host memory); load_state_dict() copies into it in place.
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "weight"] = self._store.settled()  # the table itself, not a copy

    def _load_from_state_dict(
        self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
        missing_keys: list, unexpected_keys: list, error_msgs: list,
    ) -> None:
        key = prefix + "weight"
        if key not in state_dict:
            missing_keys.append(key)
            return
        value = state_dict[key]
        is_tensor = isinstance(value, torch.Tensor)
        if not is_tensor or tuple(value.shape) != (self.num_rows, self.dim) or value.dtype != self.dtype:
            got = f"shape {tuple(value.shape)} dtype {value.dtype}" if is_tensor else type(value).__name__
            error_msgs.append(f"{key}: expected shape {(self.num_rows, self.dim)} dtype {self.dtype}, got {got}")
            return
        self._store.load_(value)

    # ------------------------------------------------------------------ internals
    def _checked(self, ids: object) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"ids must be a torch.Tensor of row ids, got {type(ids).__name__}")
        if ids.dtype not in _INDEX_DTYPES:
            raise TypeError(f"ids must have dtype int32 or int64, got {ids.dtype}")
        if self.placement.kind == "cuda" and ids.device != self._store.data.device:
            raise ValueError(f"ids are on {ids.device}, the table on {self._store.data.device}: move ids there")
        if not ids.is_cuda and ids.numel():
            lo, hi = torch.aminmax(ids)
            raise_out_of_range(int(lo), int(hi), self.num_rows, "ids")
        return ids


class _Lookup(torch.autograd.Function):
    """Gather of a HostEmbedding's rows whose backward stores the summed row gradients on the table."""

    @staticmethod
    def forward(ctx, handle: torch.Tensor, ids: torch.Tensor, table: HostEmbedding) -> torch.Tensor:  # noqa: ANN001
        ctx.table = table
        shape = tuple(ids.shape) + (table.dim,)
        if ids.numel() == 0:
            ctx.unique = None
            return torch.empty(shape, dtype=table.dtype, device=ids.device)
        ctx.unique = UniqueRows.of(ids.reshape(-1), table.num_rows, trim=table._store.trims and not ids.is_cuda)
        return table._store.read(ctx.unique.rows).index_select(0, ctx.unique.inverse).view(shape)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[None, None, None]:  # noqa: ANN001
        unique: UniqueRows | None = ctx.unique
        if unique is not None:
            grad = grad_out.reshape(-1, ctx.table.dim).to(torch.float32)
            ctx.table._grads.append((unique.rows, unique.sum(grad)))
        return None, None, None


def _initial_table(
    num_rows: int, dim: int, dtype: torch.dtype, std: float, seed: int, placement: Placement
) -> torch.Tensor:
    """``N(0, std**2)`` rows drawn in ``INIT_CHUNK_ELEMENTS`` chunks from one CPU generator, written
    where the table lives (host memory for pinned/cpu). Cost: one CPU draw per element (about
    10 s for 50 M x 64 on one core; none for ``std == 0``) and, for cuda, one copy per chunk."""
    device = placement.device if placement.kind == "cuda" else torch.device("cpu")
    if std == 0:
        return torch.zeros(num_rows, dim, dtype=dtype, device=device)
    table = torch.empty(num_rows, dim, dtype=dtype, device=device)
    generator = torch.Generator().manual_seed(seed)
    step = max(1, INIT_CHUNK_ELEMENTS // dim)
    for start in range(0, num_rows, step):
        rows = min(step, num_rows - start)
        chunk = torch.empty(rows, dim).normal_(0.0, std, generator=generator)
        table[start : start + rows].copy_(chunk)
    return table
