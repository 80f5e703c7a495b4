"""Split a nogil numba kernel over a range across a shared pool of Python threads.

Why not numba's ``prange``: its OpenMP workers spin after every parallel region, and on
cores shared with a training loop or other jobs the spinning took the cores from the
sampler's sequential passes (2-core machine under load: 4 M sampled edges/s with ``prange``
against 16 M with sleeping workers). Pool threads block when idle. The pool is shared and
thread-safe, so several samplers may run at once from different threads.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0
_lock = threading.Lock()


def _executor(threads: int) -> ThreadPoolExecutor:
    """The shared pool, rebuilt when too small or after a fork (a forked child, such as a
    DataLoader worker, inherits the pool object but not its threads)."""
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_size < threads or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sampling")
            _pool_size, _pool_pid = threads, os.getpid()
        return _pool


def thread_count() -> int:
    """Threads a split may use: ``numba.get_num_threads()`` once numba's threading layer runs
    (after ``numba.set_num_threads``, or any ``parallel=True`` kernel), else the configured
    ``NUMBA_NUM_THREADS`` capped by the CPUs this process may run on.

    Asking numba before its layer runs would start it, and starting its OpenMP layer inside a
    forked DataLoader worker raises the worker's OpenMP thread count from torch's 1 back to the
    machine's; PyG's ``index_select`` in the same worker then deadlocked in libgomp.
    Cost: a few attribute reads.
    """
    from numba.np.ufunc import parallel

    if parallel._is_initialized:
        return numba.get_num_threads()
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    # numba.config sets its NUMBA_* names at import from the environment, out of mypy's sight.
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cpus))  # type: ignore[attr-defined]


def run_split(kernel, total: int, *args, grain: int = 256) -> None:
    """Run ``kernel(lo, hi, *args)`` over ``[0, total)`` in ``2 * threads`` parts.

    ``threads`` is :func:`thread_count` (set with ``numba.set_num_threads`` or
    ``NUMBA_NUM_THREADS``); parts never go below ``grain`` items. Cost: one task hand-off
    per part (tens of microseconds); the calling thread waits.
    """
    threads = thread_count()
    parts = min(2 * threads, -(-total // grain))
    if threads <= 1 or parts <= 1:
        kernel(0, total, *args)
        return
    bounds = [total * i // parts for i in range(parts + 1)]
    pool = _executor(threads)
    futures = [pool.submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(parts)]
    for future in futures:
        future.result()
