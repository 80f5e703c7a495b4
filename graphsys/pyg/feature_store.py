"""A PyG ``FeatureStore`` whose tables are tensors or :class:`zerocopy.UnifiedTensor`s.

With the node ids on a GPU and the tables as UnifiedTensors in pinned host memory, a batch's
features are gathered by GPU threads straight from host memory (and the GPU cache), all
attributes of the batch launched before any is waited on.

Example:
    >>> import torch
    >>> from graphsys.pyg import UnifiedFeatureStore
    >>> store = UnifiedFeatureStore()
    >>> store.put_tensor(torch.arange(6.0).view(3, 2), group_name=None, attr_name="x", index=None)
    True
    >>> store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([2, 0])).tolist()
    [[4.0, 5.0], [0.0, 1.0]]
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch_geometric.data import Data, FeatureStore, HeteroData, TensorAttr

from graphsys.loader.gather import Table, check_table, gather_rows, num_rows
from zerocopy import PendingGather, UnifiedTensor


def _as_index(attr: TensorAttr, rows: int) -> torch.Tensor | None:
    """The row ids an attribute asks for as an integer tensor, or ``None`` for the whole table."""
    index = attr.index
    if index is None:
        return None
    if isinstance(index, slice):
        return torch.arange(rows)[index]
    if isinstance(index, (int, np.integer)):
        return torch.tensor([int(index)])
    if isinstance(index, np.ndarray):
        index = torch.from_numpy(index)
    elif not isinstance(index, torch.Tensor):
        index = torch.as_tensor(index)
    if index.dtype == torch.bool:
        if index.numel() != rows:
            raise IndexError(f"a boolean index for {attr.attr_name!r} must have {rows} entries, got {index.numel()}")
        return index.nonzero().view(-1)
    return index


def _bounds(name: str, index: torch.Tensor) -> tuple[int, int]:
    """(min, max) of an index, (0, -1) when empty. Cost: two reductions, a host sync on a GPU."""
    if index.is_floating_point() or index.dtype == torch.bool or index.is_complex():
        raise TypeError(f"{name} must hold integer node ids, got dtype {index.dtype}")
    if index.numel() == 0:
        return 0, -1
    return int(index.min()), int(index.max())


def _check_bounds(name: str, bounds: tuple[int, int], rows: int) -> None:
    lo, hi = bounds
    if lo < 0 or hi >= rows:
        culprit = lo if lo < 0 else hi
        raise IndexError(f"{name} holds node id {culprit}, outside [0, {rows}) for a table of {rows} rows")


class UnifiedFeatureStore(FeatureStore):
    """Node feature tables keyed by ``(group_name, attr_name)``, read in batches by row ids.

    Each table is a ``torch.Tensor`` or a :class:`zerocopy.UnifiedTensor`. Rows land on the
    device of the requested ids (see :mod:`graphsys.loader.gather`), so a GPU sampler's node
    ids pull features onto the GPU with no CPU gather. Tables are stored whole: ``put_tensor``
    takes ``index=None``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.__dict__["_tables"] = {}

    @classmethod
    def from_data(
        cls, data: Data | HeteroData, attrs: Iterable[str] = ("x", "y"), *, pin: bool = True
    ) -> UnifiedFeatureStore:
        """A store holding ``data``'s node attributes ``attrs``, each wrapped in a UnifiedTensor.

        Args:
            data: a homogeneous PyG ``Data`` (tables under ``group_name=None``) or a
                ``HeteroData`` (tables under ``group_name=node_type``, for the node types that
                have the attribute: featureless types are left out).
            attrs: node-level attribute names to copy over.
            pin: page-lock the tables in place (needs CUDA; ignored without it) so GPU threads
                can read them.

        Raises:
            KeyError: an attribute ``data`` does not have (for a ``HeteroData``: no node type has it).
        """
        store = cls()
        if isinstance(data, HeteroData):
            for name in attrs:
                found = [nt for nt in data.node_types if isinstance(getattr(data[nt], name, None), torch.Tensor)]
                if not found:
                    raise KeyError(f"no node type of data has a tensor attribute {name!r} "
                                   f"(node types {data.node_types})")
                for node_type in found:
                    table = UnifiedTensor(data[node_type][name], pin=pin)
                    store.put_tensor(table, group_name=node_type, attr_name=name, index=None)
            return store
        for name in attrs:
            value = getattr(data, name, None)
            if not isinstance(value, torch.Tensor):
                raise KeyError(f"data has no tensor attribute {name!r} (it has {sorted(data.keys())})")
            store.put_tensor(UnifiedTensor(value, pin=pin), group_name=None, attr_name=name, index=None)
        return store

    def _put_tensor(self, tensor, attr: TensorAttr) -> bool:
        if attr.index is not None:
            raise ValueError(
                f"UnifiedFeatureStore stores whole tables: put {attr.attr_name!r} with index=None, "
                f"got index={attr.index!r}"
            )
        if isinstance(tensor, np.ndarray):
            tensor = torch.from_numpy(tensor)
        self._tables[(attr.group_name, attr.attr_name)] = check_table(f"tensor for {attr.attr_name!r}", tensor)
        return True

    def _table(self, attr: TensorAttr) -> Table:
        """The table of ``attr``; a missing one is a ``KeyError`` naming the stored ones."""
        table = self._tables.get((attr.group_name, attr.attr_name))
        if table is None:
            raise KeyError(
                f"no tensor (group_name={attr.group_name!r}, attr_name={attr.attr_name!r}) in the store; "
                f"it holds {sorted(f'{group}/{name}' for group, name in self._tables)}"
            )
        return table

    def _get_tensor(self, attr: TensorAttr) -> torch.Tensor:
        """Rows ``attr.index`` of one table. Cost: one range check (a host sync for a GPU index)
        and one gather (see :func:`gather_rows`)."""
        table = self._table(attr)
        rows = num_rows(table)
        index = _as_index(attr, rows)
        if index is None:
            index = torch.arange(rows)
        if isinstance(table, UnifiedTensor):
            return table.gather(index)  # checked: gather_rows skips the check of a GPU index
        if isinstance(table, torch.Tensor):
            name = f"index of {attr.attr_name!r}"
            _check_bounds(name, _bounds(name, index), rows)
        return gather_rows(table, index)

    def _multi_get_tensor(self, attrs: list[TensorAttr]) -> list[torch.Tensor]:
        """Rows of several tables: every UnifiedTensor gather is started before any is waited on.

        Cost: one gather per attribute (UnifiedTensor gathers overlap on their side streams and
        check their ids when waited on); plain tensors add one range check per distinct index (a
        host sync for a GPU index).
        """
        resolved: dict[int, tuple[torch.Tensor, tuple[int, int] | None]] = {}
        pending: list[torch.Tensor | PendingGather] = []
        for attr in attrs:
            table = self._table(attr)
            rows = num_rows(table)
            reusable = isinstance(attr.index, torch.Tensor) and attr.index.dtype != torch.bool
            index, bounds = resolved.get(id(attr.index), (None, None)) if reusable else (None, None)
            if index is None:
                index = _as_index(attr, rows)
                index = torch.arange(rows) if index is None else index
            if isinstance(table, UnifiedTensor):
                pending.append(table.gather_async(index))
            else:
                name = f"index of {attr.attr_name!r}"
                bounds = bounds or _bounds(name, index)
                _check_bounds(name, bounds, rows)
                pending.append(gather_rows(table, index))
            if reusable:
                resolved[id(attr.index)] = (index, bounds)
        return [item if isinstance(item, torch.Tensor) else item.wait() for item in pending]

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        return self._tables.pop((attr.group_name, attr.attr_name), None) is not None

    def _get_tensor_size(self, attr: TensorAttr) -> tuple[int, ...] | None:
        table = self._tables.get((attr.group_name, attr.attr_name))
        return None if table is None else tuple(table.shape)

    def get_all_tensor_attrs(self) -> list[TensorAttr]:
        return [TensorAttr(group, name, None) for group, name in self._tables]

    def __repr__(self) -> str:
        names = ", ".join(
            f"{name if group is None else f'{group}/{name}'}: {tuple(t.shape)}"
            for (group, name), t in self._tables.items()
        )
        return f"{self.__class__.__name__}({names})"
