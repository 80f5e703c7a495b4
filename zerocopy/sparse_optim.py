"""Sparse optimizers for :class:`zerocopy.HostEmbedding`: only the rows touched since ``zero_grad`` change.

A step reads each touched row and its optimizer state (zero-copy when they are pinned), computes
the update with torch on the gradient's device, and writes rows and state back (GPU threads
writing host memory for a pinned table). The state lives in the table's placement. Both
optimizers are lazy, as ``torch.optim.SparseAdam`` is: an untouched row and its state stay as
they are. Hyperparameters may be changed between steps through the attributes of the same names.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable

import torch

from zerocopy.learnable import HostEmbedding, RowStore


class _SparseOptimizer(ABC):
    """The step loop, the step counters and the checkpoint format shared by the sparse optimizers."""

    _state_names: tuple[str, ...] = ()

    def __init__(self, tables: HostEmbedding | Iterable[HostEmbedding]) -> None:
        tables = [tables] if isinstance(tables, HostEmbedding) else list(tables)
        for at, table in enumerate(tables):
            if not isinstance(table, HostEmbedding):
                raise TypeError(
                    f"tables[{at}] is a {type(table).__name__}, expected a zerocopy.HostEmbedding "
                    "(for a dict of tables pass dict.values())"
                )
        if len({id(t) for t in tables}) != len(tables):
            raise ValueError("tables lists one HostEmbedding twice; each table takes one optimizer state")
        self.tables = tables
        self.steps = [0] * len(tables)
        self._states = [self._new_state(t) for t in tables]

    def zero_grad(self) -> None:
        """Drop every table's gradients (the rows touched so far)."""
        for table in self.tables:
            table.zero_grad()

    @torch.no_grad()
    def step(self) -> None:
        """Update the rows of each table touched since :meth:`zero_grad`; a table with none is skipped
        (its step count too). Cost per touched table: see the optimizer's docstring; no host sync."""
        for at, table in enumerate(self.tables):
            grad = table.sparse_grad()
            if grad is None:
                continue
            self.steps[at] += 1
            rows, values = grad
            self._update(table, self._states[at], rows, values, self.steps[at])

    def state_dict(self) -> dict:
        """Hyperparameters, step counts and every state table (the tensors themselves, no copy).

        Only tensors, numbers and strings: loadable with ``torch.load(weights_only=True)``. Cost: a
        device sync for pinned state (GPU writes into host memory must land before it is read).
        """
        tables = []
        for step, state in zip(self.steps, self._states, strict=True):
            entry: dict = {"step": step}
            entry.update({name: store.settled() for name, store in zip(self._state_names, state, strict=True)})
            tables.append(entry)
        return {"hyperparameters": self._hyperparameters(), "tables": tables}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned, copying the state into place (exact resume).

        Raises:
            ValueError: another number of tables, or a state of another shape, naming it.
        """
        tables = state_dict["tables"]
        if len(tables) != len(self.tables):
            raise ValueError(f"state_dict holds {len(tables)} tables, this optimizer has {len(self.tables)}")
        for at, (entry, state) in enumerate(zip(tables, self._states, strict=True)):
            for name, store in zip(self._state_names, state, strict=True):
                value = entry[name]
                if tuple(value.shape) != tuple(store.data.shape):
                    raise ValueError(
                        f"tables[{at}][{name!r}] has shape {tuple(value.shape)}, expected {tuple(store.data.shape)}"
                    )
        for key, value in state_dict["hyperparameters"].items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        self._validate()
        for at, (entry, state) in enumerate(zip(tables, self._states, strict=True)):
            self.steps[at] = int(entry["step"])
            for name, store in zip(self._state_names, state, strict=True):
                store.load_(entry[name].to(store.data.dtype))

    def close(self) -> None:
        """Unpin the state tables (pinned placement). Idempotent."""
        for state in self._states:
            for store in state:
                store.close()

    @abstractmethod
    def _new_state(self, table: HostEmbedding) -> tuple[RowStore, ...]:
        """Zero-initialised state stores for ``table``, one per name in ``_state_names``."""

    @abstractmethod
    def _update(self, table: HostEmbedding, state: tuple[RowStore, ...], rows: torch.Tensor,
                grad: torch.Tensor, step: int) -> None:
        """Apply step ``step`` to ``rows`` (ascending, maybe padded) of ``table`` given their summed ``grad``."""

    @abstractmethod
    def _hyperparameters(self) -> dict:
        """The hyperparameters as a dict of attribute names to numbers or lists."""

    @abstractmethod
    def _validate(self) -> None:
        """Raise ValueError for a hyperparameter out of its range, naming it."""


def _check_positive(name: str, value: float, *, zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (0 <= value if zero else 0 < value)
    if not (ok and value < math.inf):
        raise ValueError(f"{name} must be a finite number {'>= 0' if zero else '> 0'}, got {value!r}")


class SparseRowAdagrad(_SparseOptimizer):
    """Row-wise Adagrad (one accumulator per row, as PyTorch-BigGraph's): for each touched row ``r``
    with summed gradient ``g``: ``G[r] += mean(g**2)``, ``w[r] -= lr * g / (sqrt(G[r]) + eps)``.

    State: 4 bytes per table row (float32), in the table's placement (490 MB for 122 M rows).
    Cost of a step per table, for ``m`` touched rows of ``dim`` columns (``m`` is the batch's id
    count on a GPU, padding included): reads ``m x dim`` table elements and ``m`` accumulators,
    writes as many (zero-copy for a pinned table: 2 gathers and 2 scatters, each a sort and one
    kernel), and about six elementwise kernels over ``m x dim`` float32; no host sync.

    Args:
        tables: the HostEmbedding(s) to update.
        lr: learning rate (0.01: ``torch.optim.Adagrad``'s default).
        eps: added to the root of the accumulator (1e-10: ``torch.optim.Adagrad``'s default).

    Example:
        >>> optimizer = SparseRowAdagrad([authors, institutions], lr=0.01)
        >>> loss.backward(); optimizer.step(); optimizer.zero_grad()
    """

    _state_names = ("sum",)

    def __init__(self, tables: HostEmbedding | Iterable[HostEmbedding], lr: float = 0.01, eps: float = 1e-10) -> None:
        self.lr, self.eps = lr, eps
        self._validate()
        super().__init__(tables)

    def _validate(self) -> None:
        _check_positive("lr", self.lr)
        _check_positive("eps", self.eps, zero=True)

    def _hyperparameters(self) -> dict:
        return {"lr": self.lr, "eps": self.eps}

    def _new_state(self, table: HostEmbedding) -> tuple[RowStore, ...]:
        return (table._store.like((table.num_rows,)),)

    def _update(self, table, state, rows, grad, step):  # noqa: ANN001
        (accumulators,) = state
        weights = table._store.read(rows).to(torch.float32)
        total = accumulators.read(rows).add_(grad.pow(2).mean(1))
        std = total.sqrt().add_(self.eps)
        weights.addcdiv_(grad, std.unsqueeze(1), value=-self.lr)
        table._store.write(rows, weights.to(table.dtype))
        accumulators.write(rows, total)


class SparseAdam(_SparseOptimizer):
    """Lazy Adam with per-element moments, as ``torch.optim.SparseAdam``: for the touched rows only,
    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2``,
    ``w -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``, ``t`` counting this table's steps.

    State: both moments, 8 bytes per table element (float32, ``[num_rows, 2, dim]``), in the table's
    placement: twice the table's size in float32. Cost of a step per table, for ``m`` touched rows
    (the batch's id count on a GPU, padding included): reads ``m x dim`` table elements and
    ``2 x m x dim`` moments, writes as many (zero-copy for a pinned table: 2 gathers and 2
    scatters, each a sort and one kernel), and about ten elementwise kernels; no host sync.

    Args:
        tables: the HostEmbedding(s) to update.
        lr: learning rate (1e-3: ``torch.optim.SparseAdam``'s default).
        betas: the moments' decay rates (``torch.optim.SparseAdam``'s defaults).
        eps: added to the root of the second moment (``torch.optim.SparseAdam``'s default).
    """

    _state_names = ("moments",)

    def __init__(
        self,
        tables: HostEmbedding | Iterable[HostEmbedding],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self._validate()
        super().__init__(tables)

    def _validate(self) -> None:
        _check_positive("lr", self.lr)
        _check_positive("eps", self.eps, zero=True)
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")

    def _hyperparameters(self) -> dict:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps}

    def _new_state(self, table: HostEmbedding) -> tuple[RowStore, ...]:
        return (table._store.like((table.num_rows, 2, table.dim)),)

    def _update(self, table, state, rows, grad, step):  # noqa: ANN001
        (moments,) = state
        beta1, beta2 = self.betas
        weights = table._store.read(rows).to(torch.float32)
        both = moments.read(rows)
        mean, square = both[:, 0], both[:, 1]
        mean.add_((grad - mean).mul_(1 - beta1))
        square.add_((grad * grad - square).mul_(1 - beta2))
        step_size = self.lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
        weights.add_(-step_size * mean.div(square.sqrt().add_(self.eps)))
        table._store.write(rows, weights.to(table.dtype))
        moments.write(rows, both)
