"""Host allocator setting for processes that train on the CPU: freed tensor memory is reused.

glibc serves every allocation above its mmap threshold (at most 32 MiB by default) with a fresh
``mmap`` and returns it with ``munmap`` when freed, so each large temporary of a layer (a
chunk's concatenated input, its aggregate, its output: 32 MB and more for 500 K rows of width
16) page-faults all of its pages in again, in every layer of every epoch. In the 1 M-node
synthetic benchmark (``bench_pipeline.py --part synthetic``) the kernel's share was a quarter
of all CPU time (37.6 s system, 108.9 s user). Raising the mmap and trim thresholds keeps freed
blocks in the heap for the next allocation of that size: a loop allocating tensors of 32 and
64 MB ran 2.0x faster (998 ms against 509 ms) with 3.1x fewer page faults. The cost is that the
process keeps its peak memory until it exits, which a training rank reaches every epoch anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations up to 1 GiB come from the heap. Chosen above every per-chunk tensor of the
#: benchmarks (the largest: a 1 M x 128 float input, 512 MB); beyond it glibc maps memory as usual.
THRESHOLD_BYTES = 1 << 30


def reuse_freed_host_memory(threshold_bytes: int = THRESHOLD_BYTES) -> bool:
    """Make glibc keep freed blocks up to ``threshold_bytes`` for reuse, for the rest of the process.

    Meant for processes that exist to train (the ranks :func:`graphsys.pipeline.train` starts,
    the ``graphsys pipeline`` command), not for a library call in someone else's process.
    Returns whether the setting took effect (False off glibc, e.g. macOS or musl).

    Cost: two ``mallopt`` calls, once per process.

    Raises:
        ValueError: ``threshold_bytes`` outside 1 .. 2**31 - 1 (what ``mallopt`` takes).
    """
    if not 0 < threshold_bytes < 2**31:
        raise ValueError(f"threshold_bytes must lie in 1 .. 2**31 - 1, got {threshold_bytes!r}")
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    gnu = getattr(libc, "gnu_get_libc_version", None)
    if mallopt is None or gnu is None:  # not glibc: its mallopt (if any) means something else
        return False
    value = ctypes.c_int(threshold_bytes)
    done = bool(mallopt(_M_MMAP_THRESHOLD, value)) and bool(mallopt(_M_TRIM_THRESHOLD, value))
    log.debug("glibc mmap/trim thresholds %s to %d bytes", "raised" if done else "left", threshold_bytes)
    return done
