"""A row cache sharded over the ranks (GPUs) of one node: each rank holds its own part of the hottest rows.

N replicated caches hold the same hot rows N times; a sharded cache holds N times as many distinct
rows (the whole table, when the ranks' budgets cover it) and serves three tiers per gather: rows of
this rank's shard from its own memory, rows of the other ranks' shards from theirs, the rest
zero-copy from the pinned host table. Rows are placed where they are drawn most (torch-quiver's
clique cache and WholeGraph's partitioned tables are the ideas followed): the globally hottest
rows by the ranks' summed rankings fill the ranks' capacity, each going to the rank whose own
ranking (its visit counts) is highest for it, while it has room.

Design: one process per GPU, the model ``torchrun`` and ``graphsys train`` run under; a rank's
routes, shard and counters are its own, and the ranks talk through ``torch.distributed``. The
peer tier is read by a collective (an ``all_to_all`` of the requested ids, then of their rows),
which runs on gloo (shards as host tensors: the CPU tests) and on NCCL (over NVLink where the
GPUs have it), and is the path for GPUs without peer access. Direct peer reads (CUDA IPC handles
of the shards exchanged through ``torch.distributed``, read by the zero-copy kernel) and one
process driving several devices would plug in behind :meth:`ShardedCache.gather`: the assignment
(:func:`assign_shards`) and the routing (:func:`route_map`) take a world size, not a process group.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist

from zerocopy.cache import CacheStats, RowCache
from zerocopy.pending import raise_out_of_range

_HOST = -1
"""Route of a row in no shard: read from the host table."""


def assign_shards(counts: torch.Tensor, capacity: int) -> torch.Tensor:
    """Which rank's shard holds each candidate row: ``owner[i]`` in ``[0, world)``.

    ``counts[r, i]`` is how much rank ``r`` draws candidate ``i`` (its visit counts, or its
    ranking). Rows propose to ranks in the order of their counts (ties rotate with the candidate's
    position, so rows every rank draws alike are dealt round-robin and no rank serves all the hot
    rows); a rank keeps the proposals it draws most while it has room; refused rows propose to
    their next rank. After ``world`` rounds every row has a shard. Deterministic.

    Cost: a sort of ``[n, world]`` and ``world * world`` sorts of proposals, on the CPU.

    Raises:
        ValueError: ``counts`` not 2-D, or more candidates than ``world * capacity`` slots.
    """
    if counts.dim() != 2:
        raise ValueError(f"counts must be [world, candidates], got shape {tuple(counts.shape)}")
    world, n = counts.shape
    if n > world * capacity:
        raise ValueError(f"{n} candidate rows do not fit {world} shards of {capacity} rows; pick fewer candidates")
    counts = counts.detach().cpu().to(torch.float64)
    rot = (torch.arange(n)[:, None] + torch.arange(world)[None, :]) % world  # [n, world]: rank at rotated p
    rotated = counts.T.gather(1, rot)
    prefs = rot.gather(1, torch.sort(rotated, dim=1, descending=True, stable=True).indices)
    owner = torch.full((n,), -1, dtype=torch.int64)
    room = [capacity] * world
    for round_ in range(world):
        open_rows = (owner < 0).nonzero().squeeze(1)
        if open_rows.numel() == 0:
            break
        want = prefs[open_rows, round_]
        for rank in range(world):
            mine = open_rows[want == rank]
            if mine.numel() == 0 or room[rank] == 0:
                continue
            keep = torch.sort(counts[rank, mine], descending=True, stable=True).indices[: room[rank]]
            owner[mine[keep]] = rank
            room[rank] -= keep.numel()
    return owner


def route_map(
    candidates: torch.Tensor, owner: torch.Tensor, num_rows: int, rank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(route, local_rows)`` for rank ``rank``: ``route[row]`` is the row's slot in this rank's
    shard (>= 0), ``-2 - owner`` for a row of another rank's shard, -1 for a host row;
    ``local_rows`` are this rank's rows, ascending (its shard's order).

    The route doubles as the zero-copy kernel's slot map (a negative slot reads the host), so the
    local and host tiers are one launch. Cost: one ``[num_rows]`` int32 map and two scatters, on the CPU.
    """
    route = torch.full((num_rows,), _HOST, dtype=torch.int32)
    route[candidates] = (-2 - owner).to(torch.int32)
    local_rows = torch.sort(candidates[owner == rank]).values
    route[local_rows] = torch.arange(local_rows.numel(), dtype=torch.int32)
    return route, local_rows


def _comm_device(group: dist.ProcessGroup) -> torch.device:
    """Where the group's collectives take tensors: the current GPU for NCCL, else the CPU."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolve_group(shards: bool | dist.ProcessGroup) -> dist.ProcessGroup:
    """The process group a ``shards=`` argument names (``True``: a new group of the default group's
    ranks, so the cache's collectives never interleave with another user's, e.g. DDP's all-reduce
    of a step running beside a prefetching gather; collective).

    Raises:
        RuntimeError: when torch.distributed is not initialized.
        TypeError: for anything but True or a ProcessGroup.
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "shards= needs torch.distributed: run under torchrun (or call init_process_group) with one process per GPU"
        )
    if shards is True:
        group = dist.new_group(backend=dist.get_backend())
        assert group is not None  # initialized above, and every rank is a member
        return group
    if isinstance(shards, dist.ProcessGroup):
        return shards
    raise TypeError(f"shards must be True or a torch.distributed.ProcessGroup, got {type(shards).__name__}")


def summed_over(ranking: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
    """``ranking`` summed over the ranks of ``group`` (float64, on the ranking's device).

    Collective. Cost: one all-reduce of the ranking (through the GPU for NCCL)."""
    summed = ranking.detach().to(_comm_device(group), torch.float64, copy=True)
    dist.all_reduce(summed, group=group)
    return summed.to(ranking.device)


def plan_shards(
    ranking: torch.Tensor | None, num_rows: int, capacity: int, group: dist.ProcessGroup
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """This rank's ``(route, local_rows, total_rows)``: the globally hottest ``world * capacity``
    rows (summed rankings; ids ``0 ..`` when ``ranking`` is None) dealt by :func:`assign_shards`.

    Collective: every rank of ``group`` calls it with its own ranking. Cost: an all-reduce of
    ``[num_rows]``, a sort, an all-gather of the candidates' counts (``world x candidates``).
    """
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    device = _comm_device(group)
    total_rows = min(num_rows, world * capacity)
    if ranking is None:
        candidates = torch.arange(total_rows, dtype=torch.int64)
        counts = torch.zeros((world, total_rows))
    else:
        local = ranking.detach().to(device, torch.float64)
        summed = summed_over(local, group)
        candidates = RowCache.hottest(summed, num_rows, total_rows)
        mine = local[candidates.to(device)].contiguous()
        gathered = [torch.empty_like(mine) for _ in range(world)]
        dist.all_gather(gathered, mine, group=group)
        counts = torch.stack([g.cpu() for g in gathered])
    owner = assign_shards(counts, capacity)
    route, local_rows = route_map(candidates, owner, num_rows, rank)
    return route, local_rows, total_rows


class ShardedCache(RowCache):
    """A :class:`zerocopy.cache.RowCache` whose rows are one rank's shard of a cache split over
    ``group``; built by :meth:`zerocopy.UnifiedTensor.enable_cache` with ``shards=``.

    ``slot_map`` holds the routes (:func:`route_map`). ``counts`` counts the local and host tiers
    as a plain cache does (by the zero-copy kernel on a GPU); ``peer_counts`` the rows other ranks
    served. While ``collective`` is False (:meth:`zerocopy.UnifiedTensor.local_reads`), gathers
    read peer rows from the host instead, so one rank may gather alone (e.g. evaluation on rank 0).
    """

    def __init__(
        self,
        rows: torch.Tensor,
        data: torch.Tensor,
        num_rows: int,
        device: torch.device,
        *,
        route: torch.Tensor,
        group: dist.ProcessGroup,
        total_rows: int,
    ) -> None:
        super().__init__(rows, data, num_rows, device, slot_map=route.to(device))
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        self.total_rows = total_rows
        self.num_rows = num_rows
        self.peer_counts = torch.zeros(1, dtype=torch.int64, device=device)
        self.collective = True

    def gather(self, flat: torch.Tensor, read_near: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Rows ``flat`` (int64, on the cache's device): local and host tiers by ``read_near``
        (the caller's lookup through :attr:`slot_map`, which counts them), peer rows by a collective.

        Collective over the group: every rank calls it once per step, with its own ids (any number,
        none included). Out-of-range ids are found before any row moves: the rank holding one
        raises IndexError naming it, the others RuntimeError naming that rank.

        Cost: a min/max read back (a sync on a GPU), a route lookup, a sort of the peer ids, three
        ``all_to_all_single`` (counts, ids, rows; with the counts read back), one index of the shard
        for the rows asked of this rank, and ``read_near``'s launch.

        Raises:
            IndexError: an id of ``flat`` outside ``[0, num_rows)``.
            RuntimeError: another rank's ids were out of range.
        """
        world, device = self.world, self.device
        comm = _comm_device(self.group)
        lo = hi = 0
        bad = False
        if flat.numel():
            lo, hi = (int(v) for v in torch.aminmax(flat))
            bad = lo < 0 or hi >= self.num_rows
        if bad:
            send = torch.full((world,), -1, dtype=torch.int64)
            peer_pos = peer_ids = torch.zeros(0, dtype=torch.int64, device=device)
        else:
            route = self.slot_map[flat]
            peer = route <= -2
            peer_pos = peer.nonzero().squeeze(1)
            owner = (-2 - route[peer_pos]).to(torch.int64)
            order = torch.sort(owner, stable=True).indices
            peer_pos, owner = peer_pos[order], owner[order]
            peer_ids = flat[peer_pos]
            send = torch.bincount(owner, minlength=world).cpu()
        recv = torch.empty_like(send, device=comm)
        dist.all_to_all_single(recv, send.to(comm), group=self.group)
        if bad:
            raise_out_of_range(lo, hi, self.num_rows)
        failed = (recv < 0).nonzero().squeeze(1).tolist()
        if failed:
            raise RuntimeError(
                f"rank {failed[0]} of the sharded cache gathered an out-of-range row id; every rank stops this gather"
            )
        send_splits, recv_splits = send.tolist(), recv.cpu().tolist()
        asked = torch.empty(sum(recv_splits), dtype=torch.int64, device=comm)
        dist.all_to_all_single(asked, peer_ids.to(comm), recv_splits, send_splits, group=self.group)
        slots = self.slot_map[asked.to(device)].to(torch.int64)
        served = self.data[slots].to(comm)
        row_shape = tuple(self.data.shape[1:])
        got = torch.empty((peer_ids.numel(),) + row_shape, dtype=self.data.dtype, device=comm)
        dist.all_to_all_single(got, served, send_splits, recv_splits, group=self.group)
        out = torch.empty((flat.numel(),) + row_shape, dtype=self.data.dtype, device=device)
        near = torch.ones(flat.numel(), dtype=torch.bool, device=device)
        near[peer_pos] = False
        near_pos = near.nonzero().squeeze(1)
        out[near_pos] = read_near(flat[near_pos])
        out[peer_pos] = got.to(device)
        self.peer_counts += peer_ids.numel()
        return out

    def stats(self) -> CacheStats:
        """Current statistics, per tier. Cost: a read back of three integers (a sync on a GPU)."""
        near_hits, near = (int(v) for v in self.counts.tolist())
        peer = int(self.peer_counts.item())
        lookups = near + peer
        return CacheStats(
            hits=near_hits + peer,
            misses=near - near_hits,
            hit_rate=(near_hits + peer) / lookups if lookups else 0.0,
            cached_rows=int(self.rows.numel()),
            peer_hits=peer,
            shards=self.world,
        )

    def reset_stats(self) -> None:
        """Zero the tier counters (in place, no sync)."""
        self.counts.zero_()
        self.peer_counts.zero_()

    def write_rows(self, ids: torch.Tensor, rows: torch.Tensor) -> None:
        """Refused: a shard's rows are copies other ranks serve, and a write on one rank would not reach them.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError(
            "a sharded cache is read-only: other ranks serve copies of the rows; call disable_cache() before writing"
        )
