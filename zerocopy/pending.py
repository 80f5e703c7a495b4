"""Deferred results of GPU gathers: the bounds check of an index read back late, and pending gathers."""
from __future__ import annotations

import torch


class BoundsCheck:
    """The min and max of an index tensor, copied to pinned host memory behind an event.

    The copy is queued before the gather kernel, so waiting on it waits for the index's producers
    and the min/max kernel only, never for the gather itself. Cost: one small kernel, one 16 B
    device-to-host copy, one event.
    """

    def __init__(self, idx: torch.Tensor, num_rows: int, name: str = "idx") -> None:
        self.num_rows = num_rows
        self.name = name
        lo, hi = torch.aminmax(idx)
        self._host = torch.empty(2, dtype=torch.int64, pin_memory=True)
        self._host.copy_(torch.stack((lo, hi)).to(torch.int64), non_blocking=True)
        self._event = torch.cuda.Event()
        self._event.record()

    def check(self) -> None:
        """Raise IndexError when an id was outside ``[0, num_rows)``. Cost: waits for the event."""
        self._event.synchronize()
        lo, hi = self._host.tolist()
        raise_out_of_range(lo, hi, self.num_rows, self.name)


def raise_out_of_range(lo: int, hi: int, num_rows: int, name: str = "idx") -> None:
    """Raise IndexError naming the offending id when ``lo < 0`` or ``hi >= num_rows``."""
    if lo < 0 or hi >= num_rows:
        bad = lo if lo < 0 else hi
        raise IndexError(
            f"{name} holds row id {bad}, outside [0, {num_rows}): the table has {num_rows} rows "
            "and negative ids are not wrapped"
        )


class PendingGather:
    """A gather running on a side stream; :meth:`wait` hands its result to the current stream.

    Returned by :meth:`zerocopy.UnifiedTensor.gather_async`. On the CPU the gather has already
    run and :meth:`wait` returns its result.

    Example:
        >>> pending = features.gather_async(next_ids)      # doctest: +SKIP
        >>> loss = model(x, ...)                            # overlaps with the transfer
        >>> x = pending.wait()                              # doctest: +SKIP
    """

    def __init__(
        self, out: torch.Tensor, done: torch.cuda.Event | None = None, bounds: BoundsCheck | None = None
    ) -> None:
        self._out = out
        self._done = done
        self._bounds = bounds

    def ready(self) -> bool:
        """Whether the gather has finished (non-blocking query, no sync)."""
        return self._done is None or self._done.query()

    def wait(self) -> torch.Tensor:
        """The gathered rows, ordered after the gather on the current stream.

        Cost: a host wait for the index bounds check only (the min/max read back before the
        gather kernel), then the current stream waits on the gather's event on the device; the
        host does not wait for the gather.

        Raises:
            IndexError: when the index held an id outside the table.
        """
        if self._bounds is not None:
            self._bounds.check()
        if self._done is not None:
            current = torch.cuda.current_stream(self._out.device)
            current.wait_event(self._done)
            self._out.record_stream(current)
        return self._out
