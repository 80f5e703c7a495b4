"""Row gathers from a feature or label table, wherever the table and the index live.

A table is a ``torch.Tensor`` (host or GPU memory) or a :class:`zerocopy.UnifiedTensor`
(rows in pinned host memory read by GPU threads, with an optional GPU cache). Placement
contract, the same for both: **the rows land on the index's device**, except that a GPU
table given a host index answers on its own GPU.
"""
from __future__ import annotations

import torch

from zerocopy import UnifiedTensor

Table = torch.Tensor | UnifiedTensor


def check_table(name: str, table: object) -> Table:
    """Return ``table`` if it is a tensor or a UnifiedTensor with at least one dimension.

    Raises:
        TypeError: anything else, naming ``name``.
    """
    if isinstance(table, UnifiedTensor):
        return table
    if isinstance(table, torch.Tensor):
        if table.dim() == 0:
            raise ValueError(f"{name} must have one row per node, got a 0-d tensor")
        return table
    raise TypeError(f"{name} must be a torch.Tensor or a zerocopy.UnifiedTensor, got {type(table).__name__}")


def num_rows(table: Table) -> int:
    """Row count of a table. Cost: none (metadata only)."""
    return int(table.shape[0])


def gather_rows(table: Table, index: torch.Tensor, *, programs_per_sm: float | None = None) -> torch.Tensor:
    """``table[index]`` with the placement contract of this module; ``programs_per_sm`` goes to a
    UnifiedTensor's zero-copy kernel (:meth:`zerocopy.UnifiedTensor.gather`).

    Cost by case: a UnifiedTensor with a GPU index: one gather kernel reading host memory
    over PCIe (cache hits from GPU memory), no host sync. Table and index on one device: one
    ``index_select``. A host tensor with a GPU index: the slow path PyG takes, a host sync to
    bring the index down, a CPU gather and a pageable host-to-GPU copy. A GPU tensor with a
    host index: one index copy up.

    The ids are not range-checked here (that would cost a sync on the GPU); callers pass ids
    from a sampler or check them first (:func:`check_ids`).
    """
    if isinstance(table, UnifiedTensor):
        # check=False: the range check reads min/max back to the host, a sync that would stall
        # the side-stream pipeline; ids come from the sampler, and the kernel never reads out of bounds.
        return table.gather(index, check=False, programs_per_sm=programs_per_sm)
    if table.device == index.device:
        return table.index_select(0, index)
    if table.is_cuda:
        return table.index_select(0, index.to(table.device))
    return table.index_select(0, index.cpu()).to(index.device)


def check_ids(name: str, index: torch.Tensor, num: int) -> None:
    """Raise ``IndexError`` unless every id of ``index`` lies in ``[0, num)``.

    Cost: one min and one max reduction, and a host sync when ``index`` is on a GPU.

    Raises:
        TypeError: a non-integer index. IndexError: an id out of range, naming it.
    """
    if index.is_floating_point() or index.dtype == torch.bool or index.is_complex():
        raise TypeError(f"{name} must hold integer node ids, got dtype {index.dtype}")
    if index.numel() == 0:
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < 0 or hi >= num:
        culprit = lo if lo < 0 else hi
        raise IndexError(f"{name} holds node id {culprit}, outside [0, {num}) for a table of {num} rows")
