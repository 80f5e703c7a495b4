"""The episode schedule of parallel negative sampling (GraphVite, section 4.2).

The sample pool is a ``P x P`` grid of blocks: block ``(i, j)`` holds the samples whose head
lies in vertex partition ``i`` and whose tail lies in context partition ``j``. In one episode
each worker trains one block, and no two workers share a vertex or a context partition, so
their embedding rows (positives and negatives alike) never overlap and need no locking.
Every block is trained exactly once per pool.

The schedule is a pure function of ``(P, W)``: every process computes the same one, and rank
``r`` of a ``torch.distributed`` job simply trains ``episodes[e][r]`` in episode ``e``.
"""
from __future__ import annotations

from dataclasses import dataclass

Block = tuple[int, int]


@dataclass(frozen=True)
class BlockSchedule:
    """Which block each worker trains in each episode of one pool.

    Attributes:
        num_partitions: ``P``, the grid is ``P x P``.
        num_workers: ``W``, the number of workers training concurrently.
        episodes: ``episodes[e][w]`` is the block worker ``w`` trains in episode ``e``, or
            ``None`` where the worker idles (only when ``W`` does not divide ``P``, or ``W > P``).
    """

    num_partitions: int
    num_workers: int
    episodes: tuple[tuple[Block | None, ...], ...]

    def blocks_of(self, worker: int) -> list[Block]:
        """Every block ``worker`` trains in one pool, in episode order."""
        if not 0 <= worker < self.num_workers:
            raise IndexError(f"worker {worker} is out of range for {self.num_workers} workers")
        return [block for ep in self.episodes if (block := ep[worker]) is not None]

    def check(self) -> None:
        """Raise ``RuntimeError`` unless every block appears once and no episode shares a partition."""
        seen: set[Block] = set()
        for e, episode in enumerate(self.episodes):
            blocks = [b for b in episode if b is not None]
            rows = [b[0] for b in blocks]
            cols = [b[1] for b in blocks]
            if len(set(rows)) != len(rows) or len(set(cols)) != len(cols):
                raise RuntimeError(f"episode {e} has workers sharing a partition: {blocks}")
            for b in blocks:
                if b in seen:
                    raise RuntimeError(f"block {b} is scheduled twice (again in episode {e})")
                seen.add(b)
        p = self.num_partitions
        if len(seen) != p * p:
            missing = sorted({(i, j) for i in range(p) for j in range(p)} - seen)
            raise RuntimeError(f"blocks never scheduled: {missing[:8]}")


def block_schedule(num_partitions: int, num_workers: int = 1) -> BlockSchedule:
    """The schedule for a ``P x P`` grid and ``W`` workers.

    The grid splits into ``P`` wrapped diagonals ``{(i, (i + s) mod P)}``; each diagonal uses
    every row and every column once, so any subset of it can run concurrently. Each diagonal
    is cut into groups of ``W`` blocks, one group per episode: ``P * ceil(P / W)`` episodes.
    With ``W > P`` only ``P`` workers can be busy at once (the others idle).

    Args:
        num_partitions: ``P >= 1``.
        num_workers: ``W >= 1`` concurrent workers (GPUs, or ranks).

    Raises:
        ValueError: a count below 1.
    """
    for name, value in (("num_partitions", num_partitions), ("num_workers", num_workers)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    p, w = num_partitions, num_workers
    episodes: list[tuple[Block | None, ...]] = []
    for shift in range(p):
        diagonal = [(i, (i + shift) % p) for i in range(p)]
        for start in range(0, p, w):
            group: list[Block | None] = list(diagonal[start : start + w])
            group += [None] * (w - len(group))
            episodes.append(tuple(group))
    return BlockSchedule(p, w, tuple(episodes))
