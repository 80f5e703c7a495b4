"""Point-to-point and collective communication with byte accounting and timeouts.

Every tensor a rank sends or receives is counted by kind, so the metrics report exactly what
crossed between processes. Every wait carries the run's timeout: a peer that died or hung
turns into a ``RuntimeError`` naming the peer and what was awaited, never a hang.
"""
from __future__ import annotations

import datetime
import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

KINDS = ("activations", "gradients", "halo", "param_grads", "eval")
"""Byte-accounting kinds: stage-boundary embeddings and their gradients, halo rows (forward
embeddings and backward gradients) between partitions, the all-reduce of weight gradients
among groups, and the activations of evaluation passes (kept apart from training traffic)."""

_TAGS = {kind: number for number, kind in enumerate(KINDS)}


@dataclass
class Ledger:
    """Bytes sent and received by one rank, by kind, and seconds spent blocked waiting for peers
    (received messages, delivered sends, collectives); reset every epoch."""

    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wait_s: float = 0.0

    def reset(self) -> None:
        self.sent.clear()
        self.received.clear()
        self.wait_s = 0.0

    def vector(self) -> list[float]:
        """Sent then received bytes in the order of :data:`KINDS`."""
        return [float(self.sent.get(k, 0)) for k in KINDS] + [float(self.received.get(k, 0)) for k in KINDS]


class Comm:
    """Counted, time-limited communication for one rank of a ``torch.distributed`` run.

    Args:
        rank, world: this rank and the world size (``world == 1`` means no process group).
        timeout_s: the longest any wait may take.
    """

    def __init__(self, rank: int, world: int, timeout_s: float) -> None:
        self.rank = rank
        self.world = world
        self.timeout = datetime.timedelta(seconds=timeout_s)
        self.ledger = Ledger()
        self._pending: list[tuple[dist.Work, torch.Tensor, str]] = []

    def send(self, tensor: torch.Tensor, dst: int, kind: str) -> None:
        """Start sending ``tensor`` to ``dst``; completion is awaited by :meth:`flush`.

        Cost: no sync; the tensor is kept alive until flushed.
        """
        tensor = tensor.detach().contiguous()
        work = dist.isend(tensor, dst, tag=_TAGS[kind])
        self._pending.append((work, tensor, f"sending {kind} to rank {dst}"))
        self.ledger.sent[kind] += tensor.numel() * tensor.element_size()

    def recv(
        self, shape: tuple[int, ...], src: int, kind: str, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """Receive a tensor of ``shape`` from ``src``, waiting at most the timeout.

        Cost: blocks until the message arrives (a host sync on CUDA).
        Raises:
            RuntimeError: the peer died, hung or closed the connection.
        """
        out = torch.empty(shape, dtype=dtype, device=device)
        self.wait(dist.irecv(out, src, tag=_TAGS[kind]), f"receiving {kind} from rank {src}")
        self.ledger.received[kind] += out.numel() * out.element_size()
        return out

    def exchange(
        self, sends: dict[int, torch.Tensor], recvs: dict[int, torch.Tensor], kind: str
    ) -> None:
        """Send ``sends[peer]`` to every peer and fill ``recvs[peer]`` in place, all at once.

        The sends and receives go out as one batch (``batch_isend_irecv``): NCCL runs separate
        point-to-point calls in order on one stream, so two ranks that each receive before they
        send would wait on each other forever.

        Cost: one batched isend/irecv per peer, blocks until all have arrived and been sent.
        """
        ops, sent = [], []
        for peer, buf in recvs.items():
            ops.append(dist.P2POp(dist.irecv, buf, peer, tag=_TAGS[kind]))
            self.ledger.received[kind] += buf.numel() * buf.element_size()
        for peer, tensor in sends.items():
            tensor = tensor.detach().contiguous()
            ops.append(dist.P2POp(dist.isend, tensor, peer, tag=_TAGS[kind]))
            sent.append(tensor)  # alive until the batch completes
            self.ledger.sent[kind] += tensor.numel() * tensor.element_size()
        if not ops:
            return
        peers = sorted(set(recvs) | set(sends))
        for work in dist.batch_isend_irecv(ops):
            self.wait(work, f"exchanging {kind} with ranks {peers}")

    def all_reduce_(self, tensor: torch.Tensor, group, members: int, kind: str | None, op=dist.ReduceOp.SUM) -> None:
        """All-reduce ``tensor`` in place over ``group`` (``members`` ranks), waiting at most the timeout.

        With a ``kind``, the ring algorithm's volume ``2 (m-1)/m`` times the tensor is counted
        as sent and as received (what the ring moves per rank; the backend does not report it).
        """
        self.wait(dist.all_reduce(tensor, op=op, group=group, async_op=True), "an all-reduce")
        if kind is not None and members > 1:
            volume = int(2 * (members - 1) * tensor.numel() * tensor.element_size() / members)
            self.ledger.sent[kind] += volume
            self.ledger.received[kind] += volume

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """All-gather ``tensor`` over the world (control traffic, not counted)."""
        out = [torch.empty_like(tensor) for _ in range(self.world)]
        self.wait(dist.all_gather(out, tensor, async_op=True), "the metrics all-gather")
        return out

    def flush(self) -> None:
        """Wait for every started send. Cost: blocks until all are delivered."""
        pending, self._pending = self._pending, []
        for work, _tensor, what in pending:
            self.wait(work, what)

    def wait(self, work: dist.Work, what: str) -> None:
        """Wait for ``work`` at most the timeout, turning any failure into a clear error.

        The host time spent here is added to ``ledger.wait_s``: time blocked on a peer over gloo.
        NCCL's wait only orders the CUDA streams, so on GPUs the figure is near zero and
        says nothing about waiting.
        """
        start = time.perf_counter()
        try:
            completed = work.wait(self.timeout)
        except RuntimeError as err:
            raise RuntimeError(
                f"rank {self.rank}: failed while {what} (a peer died or hung; timeout "
                f"{self.timeout.total_seconds():g} s): {err}"
            ) from err
        finally:
            self.ledger.wait_s += time.perf_counter() - start
        if completed is False:
            raise RuntimeError(
                f"rank {self.rank}: timed out after {self.timeout.total_seconds():g} s while {what}"
            )
