"""The block schedule of parallel negative sampling, the degree-balanced partition, the pairs."""
import numpy as np
import pytest
import torch

from embedding.augment import bucket_pairs, max_pairs
from embedding.partition import degree_balanced_partition
from embedding.schedule import BlockSchedule, block_schedule


@pytest.mark.parametrize("num_partitions", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("num_workers", [1, 2, 3, 4, 9])
def test_every_block_once_and_no_shared_partition(num_partitions, num_workers):
    schedule = block_schedule(num_partitions, num_workers)
    counts = {}
    for episode in schedule.episodes:
        assert len(episode) == num_workers
        busy = [b for b in episode if b is not None]
        rows, cols = [b[0] for b in busy], [b[1] for b in busy]
        assert len(set(rows)) == len(rows), f"two workers share a vertex partition: {episode}"
        assert len(set(cols)) == len(cols), f"two workers share a context partition: {episode}"
        for b in busy:
            counts[b] = counts.get(b, 0) + 1
    assert counts == {(i, j): 1 for i in range(num_partitions) for j in range(num_partitions)}
    schedule.check()
    # no idle worker while it could be busy: each episode runs min(W, blocks left in its diagonal)
    assert len(schedule.episodes) == num_partitions * -(-num_partitions // num_workers)


def test_blocks_of_a_worker_cover_its_share():
    schedule = block_schedule(4, 2)
    blocks = schedule.blocks_of(0) + schedule.blocks_of(1)
    assert sorted(blocks) == [(i, j) for i in range(4) for j in range(4)]
    with pytest.raises(IndexError, match="worker 2"):
        schedule.blocks_of(2)


def test_check_catches_a_bad_schedule():
    shared = BlockSchedule(2, 2, (((0, 0), (0, 1)), ((1, 1), (1, 0))))
    with pytest.raises(RuntimeError, match="sharing a partition"):
        shared.check()
    missing = BlockSchedule(2, 1, (((0, 0),), ((1, 1),)))
    with pytest.raises(RuntimeError, match="never scheduled"):
        missing.check()
    twice = BlockSchedule(1, 1, (((0, 0),), ((0, 0),)))
    with pytest.raises(RuntimeError, match="twice"):
        twice.check()


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_schedule_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="num_partitions"):
        block_schedule(bad, 1)
    with pytest.raises(ValueError, match="num_workers"):
        block_schedule(2, bad)


def test_partition_is_balanced_and_contiguous():
    degree = torch.from_numpy(np.random.default_rng(0).lognormal(1.0, 1.5, 1001))
    part = degree_balanced_partition(degree, 4)
    sizes = [part.size(p) for p in range(4)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 1001
    loads = torch.zeros(4, dtype=torch.float64).index_add_(0, part.part_of.long(), degree)
    assert float(loads.max() / loads.min()) < 1.05
    rows = part.rows()
    assert sorted(rows.tolist()) == list(range(1001))
    assert torch.equal(part.perm[rows], torch.arange(1001))
    for p in range(4):
        members = part.perm[int(part.offsets[p]) : int(part.offsets[p + 1])]
        assert bool((part.part_of[members] == p).all())
        assert torch.equal(part.local_of[members].long(), torch.arange(members.numel()))


def test_partition_errors():
    with pytest.raises(ValueError, match="num_partitions"):
        degree_balanced_partition(torch.ones(5), 0)
    with pytest.raises(ValueError, match="exceeds the node count 5"):
        degree_balanced_partition(torch.ones(5), 6)
    with pytest.raises(ValueError, match="1-D"):
        degree_balanced_partition(torch.ones(2, 2), 1)


def test_bucket_pairs_match_a_plain_enumeration():
    rng = np.random.default_rng(1)
    walks = rng.integers(0, 30, (150, 6)).astype(np.int64)  # blocks of 64, 64 and 22 walks
    walks[3, 4:] = -1  # a walk that stopped
    walks[140, 1:] = -1
    part = degree_balanced_partition(torch.from_numpy(rng.random(30)), 3)
    part_of, local_of = part.part_of.numpy(), part.local_of.numpy()
    heads, tails, block_ptr = bucket_pairs(walks, 3, part_of, local_of, 3)
    expected = {b: [] for b in range(9)}
    for w0 in range(0, 150, 64):
        for k in range(1, 4):
            for j in range(6 - k):
                for w in range(w0, min(150, w0 + 64)):
                    h, t = walks[w, j], walks[w, j + k]
                    if h >= 0 and t >= 0:
                        expected[part_of[h] * 3 + part_of[t]].append((local_of[h], local_of[t]))
    assert block_ptr[-1] == heads.shape[0] == sum(len(v) for v in expected.values())
    assert block_ptr[-1] <= max_pairs(150, 6, 3)
    for b in range(9):
        lo, hi = block_ptr[b], block_ptr[b + 1]
        got = list(zip(heads[lo:hi].tolist(), tails[lo:hi].tolist(), strict=True))
        assert got == expected[b]  # same order: slot-major per 64 walks, stable within each grid block


def test_bucket_pairs_rejects_small_buffers():
    walks = np.zeros((4, 5), dtype=np.int64)
    small = (np.empty(3, np.int32), np.empty(3, np.int32))
    with pytest.raises(ValueError, match="hold 3 pairs"):
        bucket_pairs(walks, 2, np.zeros(1, np.int32), np.zeros(1, np.int32), 1, out=small)
