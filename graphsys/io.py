"""Atomic file writing: every file graphsys writes goes to a temporary name and is renamed into place,
so an interrupted run never leaves a half-written file where a good one was (DESIGN.md, Files)."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _unique_name(target: Path, suffix: str) -> Path:
    """A name beside ``target`` that nothing else uses (64 random bits)."""
    return target.parent / f".{target.name}.{secrets.token_hex(8)}{suffix}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it is renamed over ``path``.

    The caller creates the file (``open``, ``np.save``, ``torch.save``), so it gets the usual
    permissions of the user's umask (``tempfile.mkstemp`` makes files only their owner can read).
    On an exception the temporary file is removed and ``path`` is left as it was.

    Raises:
        FileNotFoundError: the body finished without writing the temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _unique_name(target, ".tmp")
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` whole.

    The directory is made with the usual permissions of the user's umask (``tempfile.mkdtemp``
    makes directories only their owner can enter). An existing ``path`` is moved aside first
    and removed only after the new one is in place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _unique_name(target, ".tmp")
        try:
            tmp.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
