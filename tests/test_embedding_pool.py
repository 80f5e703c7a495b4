"""The double-buffered pool pipeline: order, buffer reuse, statistics, and a failing producer."""
import pytest
import torch

from embedding.pool import PoolPipeline, SamplePool


def _fill(index, heads, tails, buffer):
    n = 4 + index
    heads[:n] = index
    tails[:n] = buffer
    return SamplePool(index, heads[:n], tails[:n], torch.tensor([0, n]), 1, buffer)


def test_pools_arrive_in_order_in_two_buffers():
    with PoolPipeline(_fill, 16, first_index=3) as pipe:
        seen = []
        for _ in range(5):
            pool = pipe.get()
            assert pool.num_samples == 4 + pool.index and bool((pool.heads == pool.index).all())
            assert pool.block(0, 0) == slice(0, pool.num_samples)
            seen.append((pool.index, pool.buffer))
            pipe.release(pool)
    assert [i for i, _ in seen] == [3, 4, 5, 6, 7]
    assert {b for _, b in seen} == {0, 1}
    assert pipe.stats.pools >= 5 and pipe.stats.producer_busy_s > 0


def test_a_failing_producer_surfaces_in_the_consumer():
    def broken(index, heads, tails, buffer):
        raise ValueError("walks went wrong")

    with PoolPipeline(broken, 8) as pipe:
        with pytest.raises(RuntimeError, match="sample producer failed: walks went wrong"):
            pipe.get()


@pytest.mark.parametrize("capacity,buffers,match", [(0, 2, "capacity"), (8, 0, "num_buffers")])
def test_pipeline_arguments(capacity, buffers, match):
    with pytest.raises(ValueError, match=match):
        PoolPipeline(_fill, capacity, num_buffers=buffers)


def test_producer_buffers_must_hold_a_walk():
    from embedding import EmbeddingConfig, degree_balanced_partition
    from embedding.producer import SampleProducer

    indptr, indices = torch.tensor([0, 1, 2]), torch.tensor([1, 0], dtype=torch.int32)
    producer = SampleProducer(indptr, indices, degree_balanced_partition(torch.ones(2), 1), EmbeddingConfig())
    small = torch.empty(producer.pairs_per_walk - 1, dtype=torch.int32)
    with pytest.raises(ValueError, match="cannot hold one walk"):
        producer.fill(0, small, small.clone())
    pool = producer.fill(0, *(torch.empty(producer.capacity_for(500), dtype=torch.int32) for _ in range(2)))
    assert pool.num_samples >= 500 and set(pool.heads.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="no edges"):
        SampleProducer(indptr, indices[:0], degree_balanced_partition(torch.ones(2), 1), EmbeddingConfig())
