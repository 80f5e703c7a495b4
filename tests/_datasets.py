"""Checks the dataset tests share: a generator's output on one thread against all threads, and a
dataset cache that refuses altered files and folders it did not write."""
from pathlib import Path

import numba
import pytest

from graphsys.datasets import load
from graphsys.io import CorruptFileError, OutputError


def on_one_and_all_threads(make):
    """``(make() on one numba thread, make() on NUMBA_NUM_THREADS)``; the thread count is restored."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = make()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = make()
    finally:
        numba.set_num_threads(before)
    return one, many


def flip_byte(path: Path) -> None:
    """Invert the third byte from the end of ``path``, in place."""
    with open(path, "r+b") as f:
        f.seek(-3, 2)
        byte = f.read(1)
        f.seek(-3, 2)
        f.write(bytes([byte[0] ^ 0xFF]))


def assert_cache_refuses_tampering(root: Path, name: str, file: str, *, scale: float, seed: int) -> None:
    """With a byte of ``file`` flipped, ``name``'s cached dataset under ``root`` fails its checksum;
    a folder of seed ``seed + 1`` holding a file of someone else's is refused and left as it was."""
    flip_byte(root / f"{name}_scale{scale}_seed{seed}" / file)
    with pytest.raises(CorruptFileError, match=rf"{file} does not match its checksum"):
        load(name, root=root, scale=scale, seed=seed)
    other = root / f"{name}_scale{scale}_seed{seed + 1}"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds files graphsys did not write"):
        load(name, root=root, scale=scale, seed=seed + 1)
    assert (other / "notes.txt").read_text() == "mine"
