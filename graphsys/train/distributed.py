"""Distributed setup for data-parallel training under ``torchrun`` (one process per GPU).

Each rank trains a replica wrapped in ``DistributedDataParallel``, samples its own share
of the seed nodes on its own GPU and gathers features from the feature table; NCCL
connects GPUs, gloo connects CPU processes. Without the ``torchrun`` environment
(``WORLD_SIZE`` unset or 1) everything here is a no-op and the run is single-process.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the run.

    Attributes:
        rank: global rank, 0 for a single process.
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
        device: this rank's device: ``cuda:local_rank`` with GPUs, else ``cpu``.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and metrics and shows progress."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op for one process)."""
        if self.distributed:
            dist.barrier()

    def all_mean(self, values: list[float]) -> list[float]:
        """The mean over ranks of each value (a collective: every rank calls it). Cost: one all-reduce, a sync."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return (t / self.world_size).tolist()

    def in_turns(self, work: Callable[[], T]) -> T:
        """``work()`` on every rank, in three turns: rank 0, then each other machine's local rank 0, then
        the rest; so what ``work`` writes to disk (a generated dataset, derived features) is written
        once per file system while no other rank reads it, and reopened by the later turns.

        A failure stops every rank instead of leaving the others at a barrier: the failing rank raises
        its error, the others a RuntimeError naming the turn. Collective; cost: three all-reduces.
        One process: ``work()``.
        """
        if not self.distributed:
            return work()
        result, error = None, None
        turns = (("rank 0", self.rank == 0),
                 ("each other machine's local rank 0", self.rank != 0 and self.local_rank == 0),
                 ("the remaining ranks", self.local_rank != 0))
        for name, mine in turns:
            if mine:
                try:
                    result = work()
                except Exception as err:  # reported to every rank below, then raised here
                    error = err
            if self.all_mean([1.0 if mine and error is not None else 0.0])[0] > 0:
                if error is not None:
                    raise error
                raise RuntimeError(f"{name} failed while preparing the run (its error is in its output); "
                                   f"rank {self.rank} stops too")
        return result

    def broadcast_object(self, obj):
        """``obj`` from rank 0 on every rank (a collective)."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} = {raw!r} is not an integer") from None


def setup(*, use_cuda: bool, timeout_s: float = 1800.0) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT``
    through torch's ``env://``). With ``use_cuda`` the rank takes GPU ``LOCAL_RANK`` and
    NCCL; otherwise gloo on the CPU.

    Args:
        use_cuda: train on GPUs.
        timeout_s: how long a collective waits for a slow rank (evaluation runs on rank 0
            while the others wait, so this bounds one evaluation).

    Raises:
        RuntimeError: ``LOCAL_RANK`` names a GPU this machine lacks.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if use_cuda:
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise RuntimeError(
                f"LOCAL_RANK = {local_rank} but this machine has {count} GPU(s); "
                f"start at most {count} processes per machine (torchrun --nproc-per-node)"
            )
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            timeout=datetime.timedelta(seconds=timeout_s),
            **({"device_id": device} if use_cuda else {}),
        )
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (no-op for one process)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def shard_seeds(seeds: torch.Tensor, *, epoch: int, seed: int, ctx: DistContext) -> torch.Tensor:
    """This rank's seed nodes for ``epoch``: a shuffle shared by all ranks, then every ``world_size``-th.

    The permutation depends only on ``(seed, epoch)``, so a resumed run sees the same order.
    Every rank gets the same number of seeds (the shuffled list is extended by wrapping
    around), hence the same number of steps, which DDP needs to stay in lock-step.

    Cost: one permutation of ``len(seeds)`` on the CPU.
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = seeds[torch.randperm(seeds.numel(), generator=gen).to(seeds.device)]
    if ctx.world_size == 1:
        return order
    per_rank = -(-order.numel() // ctx.world_size)
    total = per_rank * ctx.world_size
    if total > order.numel():  # wrap around, as often as needed when there are fewer seeds than ranks
        order = order.repeat(-(-total // order.numel()))[:total]
    return order[ctx.rank :: ctx.world_size]


def average_sparse_grads(tables, ctx: DistContext) -> None:
    """Give every rank's copy of each learned table (``zerocopy.HostEmbedding``) the mean over
    ranks of the sparse gradients their batches left, as DDP does for dense parameters, so
    that the same sparse optimizer step keeps the copies identical. A no-op for one process.

    Cost per table: two all-gathers (the touched-row counts, then rows and gradients padded to
    the largest count), one host read of the largest count, one mask of the padding (a sync
    on a GPU), one unique-rows pass on the gathered rows.
    """
    if not ctx.distributed:
        return
    for table in tables:
        grad = table.sparse_grad()
        device = ctx.device
        if grad is None:
            rows = torch.empty(0, dtype=torch.int64, device=device)
            values = torch.empty(0, table.dim, dtype=torch.float32, device=device)
        else:
            rows, values = grad[0].to(device, torch.int64), grad[1].to(device)
        count = torch.tensor([rows.numel()], device=device)
        counts = [torch.empty_like(count) for _ in range(ctx.world_size)]
        dist.all_gather(counts, count)
        longest = int(torch.stack(counts).max())
        padded_rows = torch.full((longest,), table.num_rows, dtype=torch.int64, device=device)
        padded_rows[: rows.numel()] = rows
        padded = torch.zeros(longest, table.dim, dtype=torch.float32, device=device)
        padded[: rows.numel()] = values
        all_rows = [torch.empty_like(padded_rows) for _ in range(ctx.world_size)]
        all_values = [torch.empty_like(padded) for _ in range(ctx.world_size)]
        dist.all_gather(all_rows, padded_rows)
        dist.all_gather(all_values, padded)
        rows, values = torch.cat(all_rows), torch.cat(all_values)
        keep = rows < table.num_rows  # padding, and the padded entries of a GPU table's gradient
        table.zero_grad()
        table.add_sparse_grad(rows[keep], values[keep] / ctx.world_size)
