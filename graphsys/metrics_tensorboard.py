"""Metrics records to TensorBoard scalars, for ``--tensorboard DIR``.

A metrics record is the dict one line of a JSON-lines metrics file holds (an epoch of
``graphsys pipeline``, a pool of ``graphsys embed``). :class:`TensorBoardWriter` writes every
number in it as a scalar at one step; nested dicts and lists are named by their path
(``comm_by_kind/halo``, ``per_rank/1/wait_s``); ``None`` (an epoch without evaluation), strings
and booleans are left out. Events go through ``torch.utils.tensorboard``, which needs the
``tensorboard`` package (``pip install 'graphsys[tensorboard]'``); without it the writer raises
:class:`TensorBoardUnavailable` before anything runs.

Event files are appended as a run goes, so that TensorBoard shows it live: unlike graphsys's
other outputs they are not written under a temporary name and renamed. Each writer adds an
event file of its own to ``DIR`` (``events.out.tfevents.<time>.<host>.<pid>.<n>``) and never
replaces or removes a file, so runs logged to one folder sit side by side.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

#: How to get TensorBoard support, in every error that lacks it.
INSTALL_HINT = "install it with: pip install 'graphsys[tensorboard]' (or pip install tensorboard)"


class TensorBoardUnavailable(ImportError):
    """The ``tensorboard`` package, which ``torch.utils.tensorboard`` writes through, is missing."""


def require_tensorboard(flag: str = "--tensorboard") -> None:
    """Fail fast, before a run starts, when TensorBoard logging cannot work.

    Cost: imports ``torch.utils.tensorboard`` (about a second the first time).

    Raises:
        TensorBoardUnavailable: ``tensorboard`` is not installed; the message names ``flag``
            and how to install it.
    """
    try:
        import torch.utils.tensorboard  # noqa: F401 - the import is the check
    except ImportError as err:
        raise TensorBoardUnavailable(f"{flag} needs the tensorboard package, which is not installed; "
                                     f"{INSTALL_HINT}") from err


def scalars(record: Mapping[str, object], prefix: str = "") -> dict[str, float]:
    """The numbers in ``record`` by tag: nested dicts and lists flattened into ``a/b/0`` paths.

    ``None``, strings and booleans are dropped; so are NaN and infinities (TensorBoard plots
    them as gaps or spikes that hide the curve), and so is any other type. Cost: one pass.
    """
    out: dict[str, float] = {}

    def visit(value: object, tag: str) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if isinstance(value, int | float):
            if math.isfinite(value):
                out[tag] = float(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                visit(item, f"{tag}/{key}" if tag else str(key))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                visit(item, f"{tag}/{i}" if tag else str(i))

    visit(dict(record), prefix.rstrip("/"))
    return out


class TensorBoardWriter:
    """Writes metrics records to an event file in ``log_dir`` (created if missing).

    Args:
        log_dir: the folder TensorBoard is pointed at (``tensorboard --logdir DIR``).
        prefix: put before every tag (``"embed"`` gives ``embed/loss``); empty: the record's keys.

    Raises:
        TensorBoardUnavailable: ``tensorboard`` is not installed.
        NotADirectoryError: ``log_dir`` is an existing file.

    Example:
        >>> with TensorBoardWriter("runs/cora") as tb:  # doctest: +SKIP
        ...     tb.write({"loss": 0.52, "val_acc": 0.78, "epoch_s": 0.4}, step=0)
    """

    def __init__(self, log_dir: str | os.PathLike, *, prefix: str = "") -> None:
        path = Path(log_dir)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"TensorBoard folder {path} is a file; pass a folder (new or earlier runs')")
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = path
        self.prefix = prefix
        self._writer: SummaryWriter | None = SummaryWriter(log_dir=str(path))

    def write(self, record: Mapping[str, object], step: int) -> int:
        """Add every number in ``record`` at ``step`` and flush; returns how many scalars.

        Cost: one event per scalar and one flush (a file write) per call.
        """
        if self._writer is None:
            raise RuntimeError(f"TensorBoardWriter for {self.log_dir} is closed")
        found = scalars(record, self.prefix)
        for tag, value in found.items():
            self._writer.add_scalar(tag, value, global_step=step)
        self._writer.flush()
        return len(found)

    def close(self) -> None:
        """Flush and close the event file. Idempotent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorBoardWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
