"""Page-locking host memory in place with ``cudaHostRegister``, so GPUs read it over PCIe.

Registering pins the pages an existing tensor already occupies: no copy, no second buffer, so a
57 GB table (or a memory-mapped ``.npy`` file) is never held twice. The registration is portable
(every GPU of the machine may read it) and mapped (it has a device address; with unified virtual
addressing that address equals the host pointer, which is what Triton's launcher resolves through
``cuPointerGetAttribute``). Memory that cannot be registered (CUDA absent, an address range that
shares pages with another registration, a mapping the driver refuses) is reported by returning
None, and the caller falls back to a pinned copy.

The same memory may be wrapped more than once (two UnifiedTensors over one table): a range the
driver holds registered for this module is shared by reference count (:meth:`HostRegistration.acquire`),
so closing one wrapper never unpins memory another one's GPU reads still use.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import threading
import warnings

import numpy as np
import torch

logger = logging.getLogger(__name__)

HOST_REGISTER_PORTABLE = 1
"""cudaHostRegisterPortable: the pinning is seen by every CUDA context, i.e. every GPU."""
HOST_REGISTER_MAPPED = 2
"""cudaHostRegisterMapped: the range gets a device address, so kernels may dereference it."""
HOST_REGISTER_READ_ONLY = 8
"""cudaHostRegisterReadOnly: GPUs only read; needed to pin a read-only mapping such as np.load(mmap_mode="r")."""


class HostRegistration:
    """One registered host address range; :meth:`release` unregisters it (idempotent, thread-safe).

    Example:
        >>> reg = HostRegistration.register(table)        # doctest: +SKIP
        >>> ...                                            # GPUs read table over PCIe
        >>> reg.release()                                  # doctest: +SKIP
    """

    def __init__(self, ptr: int, nbytes: int, flags: int) -> None:
        self.ptr = ptr
        self.nbytes = nbytes
        self.flags = flags
        self.devices: set[int] = set()
        self._refs = 1
        self._released = False

    @classmethod
    def acquire(cls, tensor: torch.Tensor, *, read_only: bool = False) -> HostRegistration | None:
        """A reference to a registration covering ``tensor``'s bytes; each reference is given back
        with one :meth:`release`.

        An existing registration of this module that holds the whole range (the same table
        wrapped again, or a view of it) is shared; otherwise the range is registered afresh
        (:meth:`register`). None when the memory is page-locked some other way (torch's pinned
        allocator: its owner keeps it pinned) or cannot be registered.

        Cost: a scan of the live registrations; a new one costs what :meth:`register` does.
        """
        ptr, nbytes = tensor.data_ptr(), tensor.numel() * tensor.element_size()
        with _registry_lock:
            for live in _live:
                if live.ptr <= ptr and ptr + nbytes <= live.ptr + live.nbytes:
                    live._refs += 1
                    return live
            if tensor.is_pinned():
                return None
            registration = cls.register(tensor, read_only=read_only)
            if registration is not None:
                _live.append(registration)
            return registration

    @classmethod
    def register(cls, tensor: torch.Tensor, *, read_only: bool = False) -> HostRegistration | None:
        """Page-lock the memory of contiguous CPU ``tensor`` in place; None when the driver refuses.

        Cost: one driver call that pins every page (0.41 s for 10.24 GB of resident pages on the
        H200 machine; pages of a memory map not yet resident are read in first); no copy, no
        extra host memory (RSS grew 0.4 MB there).

        Args:
            tensor: a contiguous CPU tensor (a view is fine: only its own bytes are registered).
            read_only: the memory is mapped read-only (try the read-only flag first).
        """
        if tensor.device.type != "cpu" or not tensor.is_contiguous():
            raise ValueError(
                f"tensor must be a contiguous CPU tensor to register in place, got device={tensor.device} "
                f"contiguous={tensor.is_contiguous()}"
            )
        if not torch.cuda.is_available() or tensor.numel() == 0:
            return None
        base = HOST_REGISTER_PORTABLE | HOST_REGISTER_MAPPED
        attempts = [base | HOST_REGISTER_READ_ONLY, base] if read_only else [base, base | HOST_REGISTER_READ_ONLY]
        cudart = torch.cuda.cudart()
        ptr, nbytes = tensor.data_ptr(), tensor.numel() * tensor.element_size()
        for flags in attempts:
            err = cudart.cudaHostRegister(ptr, nbytes, flags)
            if err == cudart.cudaError.success:
                return cls(ptr, nbytes, flags)
            logger.debug(
                "cudaHostRegister(%#x, %d, flags=%d) failed: %s", ptr, nbytes, flags, cudart.cudaGetErrorString(err)
            )
            # A failed runtime call stays the thread's "last error", which torch's next kernel-launch
            # check would raise as its own failure; read it here to reset it.
            _reset_last_error()
        logger.info("could not page-lock %d bytes at %#x in place; falling back to a pinned copy", nbytes, ptr)
        return None

    @property
    def released(self) -> bool:
        """Whether :meth:`release` has run."""
        return self._released

    def release(self) -> None:
        """Give back one reference; the last waits for the GPUs that read the range, then unregisters
        it. Calls after that do nothing. Cost of the last: a device sync per GPU used."""
        with _registry_lock:
            if self._released:
                return
            self._refs -= 1
            if self._refs > 0:
                return
            self._released = True
            if self in _live:
                _live.remove(self)
            self._unregister()

    def _unregister(self) -> None:
        for device in sorted(self.devices):
            torch.cuda.synchronize(device)
        cudart = torch.cuda.cudart()
        err = cudart.cudaHostUnregister(self.ptr)
        if err != cudart.cudaError.success:
            logger.warning("cudaHostUnregister(%#x) failed: %s", self.ptr, cudart.cudaGetErrorString(err))


_registry_lock = threading.Lock()
_live: list[HostRegistration] = []
"""Registrations made by :meth:`HostRegistration.acquire` and not yet released by every holder."""


def shared_file_view(tensor: torch.Tensor) -> torch.Tensor | None:
    """The same bytes as ``tensor`` through a read-only shared mapping of its file, when ``tensor``
    lies in a private (copy-on-write) file mapping none of whose pages were written; else None.

    A cached dataset opens its tables copy-on-write (``np.load(mmap_mode="c")``), so that writing
    to them never touches the file. Registering such a mapping read-only does not return (Linux
    6.18 on the H200 machine, ``benchmarks/bench_pinning.py``: not done after 45 s for 1 GB)
    while a read-only shared mapping of the same file registers at ~29 GB/s. Pages written since
    the file was mapped live only in the private mapping, so then the answer is None.

    Cost: one read of ``/proc/self/smaps`` (a page-table walk per mapping) and one ``mmap``.
    """
    if tensor.device.type != "cpu" or not tensor.is_contiguous() or tensor.numel() == 0:
        return None
    ptr, nbytes = tensor.data_ptr(), tensor.numel() * tensor.element_size()
    try:
        with open("/proc/self/smaps") as smaps:
            lines = smaps.read().splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines):
        fields = line.split(maxsplit=5)
        if len(fields) < 5 or "-" not in fields[0] or ":" not in fields[3]:
            continue  # not a mapping's header line
        start, end = (int(a, 16) for a in fields[0].split("-"))
        if not start <= ptr < end:
            continue
        path = fields[5] if len(fields) == 6 else ""
        if ptr + nbytes > end or fields[1][3] != "p" or not path.startswith("/") or path.endswith("(deleted)"):
            return None
        for detail in lines[i + 1:]:
            if detail.startswith("Anonymous:"):
                if int(detail.split()[1]) != 0:
                    return None  # pages written since mapping: the file no longer holds them
                break
        offset = int(fields[2], 16) + ptr - start
        try:
            mapped = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
        except (OSError, ValueError):
            return None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(mapped).view(tensor.dtype).view(tensor.shape)
    return None


@functools.lru_cache(maxsize=1)
def _cudart() -> ctypes.CDLL | None:
    """The CUDA runtime library torch loaded (the same instance, so its per-thread error state)."""
    try:
        lib = ctypes.CDLL(None)
        lib.cudaGetLastError  # noqa: B018 - present when torch loaded libcudart globally
        return lib
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libcudart.so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _reset_last_error() -> None:
    """Reset the CUDA runtime's last error of this thread (cudaGetLastError), if the runtime is found."""
    lib = _cudart()
    if lib is None:
        logger.warning("libcudart not found: a failed cudaHostRegister may surface in torch's next CUDA call")
        return
    lib.cudaGetLastError()


def release_with(registration: HostRegistration, keep_alive: torch.Tensor) -> None:
    """Finalizer body: unregister. The finalizer holds ``keep_alive`` (the registered memory) in its
    arguments, so the memory outlives its registration whatever order collection runs in."""
    registration.release()
