"""The sharded row cache (zerocopy.shard) on the CPU: shards as host tensors, ranks as gloo processes,
the peer tier read by the all_to_all fallback."""
import pytest
import torch
import torch.distributed as dist
from _dist import as_rank, read_ranks, spawn_ranks, write_rank

from zerocopy import UnifiedTensor
from zerocopy.shard import assign_shards, route_map

NUM_ROWS, WIDTH = 300, 5


def test_assign_shards_puts_rows_where_they_are_drawn_and_respects_capacity():
    counts = torch.tensor([[9.0, 0, 5, 1, 0, 0], [0, 8, 5, 1, 7, 6]])
    owner = assign_shards(counts, 3)
    assert owner[0] == 0 and owner[1] == 1 and owner[4] == 1 and owner[5] == 1
    assert torch.bincount(owner, minlength=2).tolist() == [3, 3]  # rank 1 is full: its 4th row spills to 0
    # rows drawn alike are dealt round-robin, not all to rank 0
    same = assign_shards(torch.ones(3, 9), 3)
    assert torch.bincount(same, minlength=3).tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="do not fit"):
        assign_shards(torch.ones(2, 7), 3)


def test_route_map_encodes_local_slot_peer_owner_and_host():
    route, local = route_map(torch.tensor([4, 1, 7]), torch.tensor([1, 0, 1]), 9, rank=1)
    assert local.tolist() == [4, 7]
    assert route.tolist() == [-1, -2, -1, -1, 0, -1, -1, 1, -1]


def _worker(rank: int, world: int, port: int, out_dir: str, budget_rows: int) -> None:
    as_rank(rank, world, port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)  # the same table on every rank
        table = torch.randn(NUM_ROWS, WIDTH)
        u = UnifiedTensor(table, pin=False)
        # each rank draws its own part of the table most
        visits = torch.ones(NUM_ROWS)
        visits[rank::world] += 10
        budget = 4 * NUM_ROWS + budget_rows * WIDTH * 4
        u.enable_cache(budget, visits, "cpu", shards=True)
        gen = torch.Generator().manual_seed(100 + rank)
        exact, lookups = True, 0
        for step in range(3):
            n = int(torch.randint(0, 200, (1,), generator=gen)) if step else 0  # an empty gather too
            ids = torch.randint(0, NUM_ROWS, (n,), generator=gen)
            exact &= torch.equal(u[ids], table[ids])
            lookups += n
        ids2 = torch.randint(0, NUM_ROWS, (7, 3), generator=gen, dtype=torch.int32)
        exact &= torch.equal(u[ids2], table[ids2.long()])
        lookups += ids2.numel()
        stats = u.cache_stats()
        with u.local_reads():  # alone, no collective: peer rows from the host
            alone = torch.equal(u[torch.arange(0, NUM_ROWS, 7)], table[::7]) if rank == 0 else True
        own = bool((u._cache.rows % world == rank).all())
        errors = {}
        bad = torch.tensor([3, NUM_ROWS + 5]) if rank == 0 else torch.tensor([1, 2])
        try:
            u[bad]
        except (IndexError, RuntimeError) as err:
            errors = {"type": type(err).__name__, "msg": str(err)}
        try:
            u.index_copy_(torch.tensor([0]), table[:1])
        except RuntimeError as err:
            errors["write"] = str(err)
        write_rank(out_dir, rank, {
            "exact": bool(exact), "alone": bool(alone), "lookups": lookups, "own": own,
            "local": stats.local_hits, "peer": stats.peer_hits, "host": stats.misses, "hits": stats.hits,
            "cached": stats.cached_rows, "shards": stats.shards, "errors": errors,
        })
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_gather_equals_table_on_gloo_ranks(tmp_path, world):
    budget_rows = 60  # world x 60 < 300 rows: every tier (local, peer, host) is drawn
    spawn_ranks(_worker, world, str(tmp_path), budget_rows)
    ranks = read_ranks(tmp_path, world)
    for r, rec in enumerate(ranks):
        assert rec["exact"] and rec["alone"]
        assert rec["own"]  # a rank's shard holds the rows it draws most
        assert rec["shards"] == world and rec["cached"] == budget_rows
        assert rec["local"] > 0 and rec["peer"] > 0 and rec["host"] > 0
        assert rec["local"] + rec["peer"] + rec["host"] == rec["lookups"]
        assert rec["hits"] == rec["local"] + rec["peer"]
        assert "sharded cache" in rec["errors"]["write"]
        if r == 0:
            assert rec["errors"]["type"] == "IndexError" and str(NUM_ROWS + 5) in rec["errors"]["msg"]
        else:
            assert rec["errors"]["type"] == "RuntimeError" and "rank 0" in rec["errors"]["msg"]


def _whole_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    as_rank(rank, world, port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        table = torch.arange(NUM_ROWS * 2, dtype=torch.float16).view(NUM_ROWS, 2)
        u = UnifiedTensor(table, pin=False)
        u.enable_cache(4 * NUM_ROWS + (NUM_ROWS // world) * 4, None, "cpu", shards=True)  # the whole table
        ids = torch.randint(0, NUM_ROWS, (500,))
        exact = torch.equal(u[ids], table[ids])
        stats = u.cache_stats()
        try:
            u.enable_cache(4 * NUM_ROWS, None, "cpu", shards=True)
            small = ""
        except ValueError as err:
            small = str(err)
        write_rank(out_dir, rank, {"exact": exact, "host": stats.misses, "small": small})
    finally:
        dist.destroy_process_group()


def test_whole_table_sharded_reads_no_host_row_and_small_budget_errors(tmp_path):
    spawn_ranks(_whole_worker, 2, str(tmp_path))
    for rec in read_ranks(tmp_path, 2):
        assert rec["exact"] and rec["host"] == 0
        assert "budget_bytes" in rec["small"] and "at least" in rec["small"]


def test_shards_without_distributed_says_how_to_fix():
    with pytest.raises(RuntimeError, match="torchrun"):
        UnifiedTensor(torch.zeros(4, 2), pin=False).enable_cache(1000, None, "cpu", shards=True)
