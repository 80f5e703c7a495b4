"""The one-pass DeepWalk producer: the same pools as walks + bucket_pairs, sample for sample."""
import numba
import numpy as np
import pytest
import torch

from embedding import EmbeddingConfig, degree_balanced_partition
from embedding import walk_pool as walk_pool_module
from embedding.augment import bucket_pairs
from embedding.producer import SampleProducer
from embedding.walk_pool import RowGraph, walk_pool


def _directed_graph(n=600, edges=5000, sinks=60, seed=0):
    """In-neighbour CSR in which nodes ``0..sinks-1`` have no in-neighbours (walks reaching them stop)."""
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, edges), rng.integers(sinks, n, edges)
    order = np.lexsort((src, dst))
    indptr = torch.zeros(n + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(torch.bincount(torch.from_numpy(dst), minlength=n), 0)
    return indptr, torch.from_numpy(src[order].astype(np.int32))


@pytest.mark.parametrize("partitions,walk_length,step", [(1, 12, 3), (1, 1, 1), (2, 12, 3), (3, 12, 3), (4, 5, 6)])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_pass_pool_equals_walks_then_buckets(partitions, walk_length, step, weighted):
    indptr, indices = _directed_graph()
    weight = torch.rand(indices.numel(), generator=torch.Generator().manual_seed(2)) + 0.1 if weighted else None
    config = EmbeddingConfig(num_partitions=partitions, walk_length=walk_length, augmentation_step=step, seed=4)
    partition = degree_balanced_partition((indptr[1:] - indptr[:-1]).double(), partitions)
    producer = SampleProducer(indptr, indices, partition, config, edge_weight=weight)
    assert producer._rows is not None  # uniform walks: the one-pass path
    capacity = producer.capacity_for(700 * producer.pairs_per_walk)  # 700 walks: 2 full groups of 256 and a partial one
    pool = producer.fill(5, *(torch.empty(capacity, dtype=torch.int32) for _ in range(2)))
    walks = producer.walks(5, capacity // producer.pairs_per_walk)
    assert (walks < 0).any() and (walks[:, -1] >= 0).any()  # some walks stopped, some ran to the end
    heads, tails, block_ptr = bucket_pairs(walks, producer.step, partition.part_of.numpy(),
                                           partition.local_of.numpy(), partitions)
    np.testing.assert_array_equal(pool.block_ptr.numpy(), block_ptr)
    np.testing.assert_array_equal(pool.heads.numpy(), heads)
    np.testing.assert_array_equal(pool.tails.numpy(), tails)


def _pool_and_reference(partitions, walk_length, step, num_walks, pool_index=5):
    """The producer's pool of ``num_walks`` walks and ``bucket_pairs`` of the same walks."""
    indptr, indices = _directed_graph()
    config = EmbeddingConfig(num_partitions=partitions, walk_length=walk_length, augmentation_step=step, seed=4)
    partition = degree_balanced_partition((indptr[1:] - indptr[:-1]).double(), partitions)
    producer = SampleProducer(indptr, indices, partition, config)
    capacity = producer.capacity_for(num_walks * producer.pairs_per_walk)
    pool = producer.fill(pool_index, *(torch.empty(capacity, dtype=torch.int32) for _ in range(2)))
    walks = producer.walks(pool_index, capacity // producer.pairs_per_walk)
    reference = bucket_pairs(walks, producer.step, partition.part_of.numpy(), partition.local_of.numpy(), partitions)
    return pool, reference


def _assert_same_pool(pool, reference):
    heads, tails, block_ptr = reference
    np.testing.assert_array_equal(pool.block_ptr.numpy(), block_ptr)
    np.testing.assert_array_equal(pool.heads.numpy(), heads)
    np.testing.assert_array_equal(pool.tails.numpy(), tails)


@pytest.mark.parametrize("block_major_partitions", [1, 4])  # every P > 1 pair by pair / block by block
@pytest.mark.parametrize("partitions,walk_length,step", [(2, 12, 3), (3, 12, 3), (4, 70, 2), (2, 3, 5)])
def test_both_write_orders_give_the_same_pool(monkeypatch, partitions, walk_length, step, block_major_partitions):
    # walks of 71 nodes (more than a 64-bit mask's width), a step longer than the walk,
    # 700 walks: 2 full groups of 256 and one of 188 (two full light-shuffle blocks and one of 60)
    monkeypatch.setattr(walk_pool_module, "_BLOCK_MAJOR_PARTITIONS", block_major_partitions)
    _assert_same_pool(*_pool_and_reference(partitions, walk_length, step, 700))


@pytest.mark.parametrize("threads", sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}))
@pytest.mark.parametrize("partitions", [2, 3])
def test_chunks_that_do_not_divide_the_walks(partitions, threads):
    # 5000 walks = 20 groups (the last of 136 walks); 4 chunks per thread: 5 groups each with
    # one thread; with two, 3 each but 2 for the seventh chunk and none for the eighth
    default = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        _assert_same_pool(*_pool_and_reference(partitions, 12, 3, 5000, pool_index=9))
    finally:
        numba.set_num_threads(default)


def test_node2vec_keeps_the_general_path():
    indptr, indices = _directed_graph()
    partition = degree_balanced_partition((indptr[1:] - indptr[:-1]).double(), 2)
    biased = SampleProducer(indptr, indices, partition, EmbeddingConfig(model="node2vec", p=0.5, q=2.0))
    line = SampleProducer(indptr, indices, partition, EmbeddingConfig(model="line"))
    assert biased._rows is None and line._rows is None


def test_row_graph_relabels_every_neighbour_in_order():
    indptr, indices = _directed_graph(n=50, edges=300, sinks=5)
    partition = degree_balanced_partition((indptr[1:] - indptr[:-1]).double(), 3)
    graph = RowGraph.relabel(indptr, indices, partition)
    rows = partition.rows()
    assert graph.indices.dtype == np.int32 and graph.num_partitions == 3
    for row, node in enumerate(partition.perm.tolist()):
        neighbours = rows[indices[indptr[node] : indptr[node + 1]].long()]
        np.testing.assert_array_equal(graph.indices[graph.indptr[row] : graph.indptr[row + 1]], neighbours.numpy())
    np.testing.assert_array_equal(graph.row_of, rows.numpy())


def test_walk_pool_rejects_small_buffers():
    indptr, indices = _directed_graph(n=50, edges=300, sinks=5)
    graph = RowGraph.relabel(indptr, indices, degree_balanced_partition(torch.ones(50), 1))
    small = (np.empty(10, np.int32), np.empty(10, np.int32))
    with pytest.raises(ValueError, match="hold 10 pairs, the walks yield up to 15"):
        walk_pool(graph, np.zeros(3, np.int32), 3, 2, 0, small)  # 3 walks of 4 nodes, step 2: 3 x (3 + 2) pairs
