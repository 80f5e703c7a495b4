"""Which GPU holds each partition of a matrix whose master copy is in host memory.

With the master copy in (pinned) host memory, a worker needs the rows of its block's two
partitions on its own GPU. Loading them from the master and writing them back in every episode
costs four PCIe crossings per worker per episode, more than the block's kernel on a fast GPU.
A partition trained in one episode is instead kept where it was trained: the next worker that
needs it copies it from that GPU (over NVLink or PCIe peer-to-peer), and it is written back to
the master only when no worker takes it, or on :meth:`PartitionResidency.flush`. With as many
partitions as GPUs every vertex partition stays on its GPU for the whole run and only context
partitions move, GPU to GPU.
"""
from __future__ import annotations

import torch


class PartitionResidency:
    """The GPU-resident copies of one matrix's partitions, between episodes.

    Args:
        master: the ``[N, dim]`` master copy in host memory (pinned, for asynchronous copies).
        offsets: ``P + 1`` row offsets of the partitions in ``master``.
        devices: the workers' devices, by worker index (CUDA devices; CPU devices get copies too,
            which lets the bookkeeping run without a GPU).

    Invariant: a partition is either held by exactly one worker (its GPU copy is the fresh one
    and the master's rows may be stale) or by none (the master is fresh once the write-back
    recorded for it has finished; later reads wait for it).
    """

    def __init__(self, master: torch.Tensor, offsets: list[int], devices: list[torch.device]) -> None:
        self.master = master
        self.offsets = offsets
        self.devices = devices
        self._held: dict[int, tuple[int, torch.Tensor]] = {}
        self._written: dict[int, torch.cuda.Event] = {}

    def _rows(self, partition: int) -> torch.Tensor:
        return self.master[self.offsets[partition] : self.offsets[partition + 1]]

    def acquire(self, wanted: dict[int, int]) -> dict[int, torch.Tensor]:
        """Put partition ``wanted[w]`` on worker ``w``'s GPU for every worker ``w``; return its rows there.

        Every copy is queued on the CUDA streams (a GPU-to-GPU copy waits for both GPUs' earlier
        kernels, a read from the master for the partition's write-back); nothing waits on the host.
        Partitions held before and wanted by no worker now are written back to the master.

        Raises:
            ValueError: two workers want the same partition.
        """
        if len(set(wanted.values())) != len(wanted):
            raise ValueError(f"two workers want the same partition: {wanted}")
        held: dict[int, tuple[int, torch.Tensor]] = {}
        for worker, partition in wanted.items():
            device = self.devices[worker]
            if partition in self._held:
                holder, rows = self._held[partition]
                if holder != worker:
                    rows = rows.to(device, non_blocking=True, copy=True)
            else:
                written = self._written.pop(partition, None)
                if written is not None and device.type == "cuda":
                    torch.cuda.current_stream(device).wait_event(written)
                rows = self._rows(partition).to(device, non_blocking=True, copy=True)
            held[partition] = (worker, rows)
        for partition, (holder, rows) in self._held.items():
            if partition not in held:
                self._write_back(partition, holder, rows)
        self._held = held
        return {worker: held[partition][1] for worker, partition in wanted.items()}

    def _write_back(self, partition: int, holder: int, rows: torch.Tensor) -> None:
        self._rows(partition).copy_(rows, non_blocking=True)
        device = self.devices[holder]
        if device.type == "cuda":
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(device))
            self._written[partition] = event

    def flush(self) -> None:
        """Make the master fresh: write every held partition back and wait for all write-backs.

        The GPU copies stay held (they equal the master now), so training goes on without reloading.
        """
        for partition, (holder, rows) in self._held.items():
            self._write_back(partition, holder, rows)
        for event in self._written.values():
            event.synchronize()
        self._written.clear()

    def drop(self) -> None:
        """Forget every GPU copy, after the master was changed from outside (checkpoint load, exchange).

        Call :meth:`flush` first where the GPU copies hold updates the master lacks.
        """
        for event in self._written.values():
            event.synchronize()
        self._written.clear()
        self._held.clear()
