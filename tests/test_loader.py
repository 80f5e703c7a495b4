"""graphsys.loader.NodeLoader: batches equal sampler + index on the CPU; pipelined GPU path (marked)."""
import threading

import pytest
import torch
from torch_geometric.nn import GraphSAGE

from graphsys import Graph
from graphsys.loader import LoaderTimings, NodeLoader, gather_rows
from graphsys.loader.node_loader import ZERO_COPY_GATHER_GROUP
from graphsys.loader.producer import Producer
from sampling import NeighborSampler
from zerocopy import UnifiedTensor

NUM_NODES = 80


@pytest.fixture(scope="module")
def graph() -> Graph:
    g = torch.Generator().manual_seed(2)
    return Graph.from_edge_index(torch.randint(0, NUM_NODES, (2, 500), generator=g), NUM_NODES)


@pytest.fixture(scope="module")
def tables():
    g = torch.Generator().manual_seed(3)
    return torch.randn(NUM_NODES, 8, generator=g), torch.randint(0, 5, (NUM_NODES,), generator=g)


def sampler_of(graph: Graph, fanouts=(4, 3), seed: int = 0, placement: str = "cpu") -> NeighborSampler:
    g = graph.to(placement)
    return NeighborSampler(g.indptr, g.indices, list(fanouts), seed=seed)


def test_batches_equal_sampler_plus_index(graph, tables):
    x, y = tables
    seeds = torch.arange(5, 47)
    loader = NodeLoader(sampler_of(graph, seed=9), x, y, seeds, batch_size=10, shuffle=False)
    reference = sampler_of(graph, seed=9)
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    for i, batch in enumerate(batches):
        chunk = seeds[10 * i : 10 * i + 10]
        out = reference.sample(chunk)
        assert batch.batch_size == chunk.numel()
        assert torch.equal(batch.n_id, out.node) and torch.equal(batch.e_id, out.edge)
        assert torch.equal(batch.edge_index, torch.stack([out.row, out.col]))
        assert torch.equal(batch.x, x[out.node]) and torch.equal(batch.y, y[chunk])
        assert torch.equal(batch.input_id, torch.arange(10 * i, 10 * i + chunk.numel()))
        assert batch.num_sampled_nodes == list(out.num_sampled_nodes)
        assert batch.num_sampled_edges == list(out.num_sampled_edges)


def test_unified_tensor_tables_give_the_same_rows(graph, tables):
    x, y = tables
    plain = NodeLoader(sampler_of(graph, seed=1), x, y, torch.arange(30), batch_size=16, shuffle=False)
    unified = NodeLoader(sampler_of(graph, seed=1), UnifiedTensor(x), UnifiedTensor(y), torch.arange(30),
                         batch_size=16, shuffle=False)
    for a, b in zip(plain, unified, strict=True):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.edge_index, b.edge_index)


def test_cpu_row_cache_gives_the_same_rows(graph, tables):
    x, y = tables
    features = UnifiedTensor(x)
    # a CPU cache: CPU ids never consult a GPU cache (on a GPU machine the default device is cuda)
    features.enable_cache(20 * x[0].numel() * x.element_size() + 4 * NUM_NODES, ranking=graph.out_degrees(),
                          device="cpu")
    loader = NodeLoader(sampler_of(graph), features, y, torch.arange(NUM_NODES), batch_size=32)
    for batch in loader:
        assert torch.equal(batch.x, x[batch.n_id])
    assert features.cache_stats().hits > 0


def test_shuffle_visits_every_seed_once_per_epoch_and_is_seeded(graph, tables):
    x, _ = tables
    mask = torch.zeros(NUM_NODES, dtype=torch.bool)
    mask[::2] = True
    loader = NodeLoader(sampler_of(graph), x, None, mask, batch_size=7, seed=4)
    epochs = [torch.cat([b.n_id[: b.batch_size] for b in loader]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(0, NUM_NODES, 2))
    assert not torch.equal(epochs[0], epochs[1])
    again = NodeLoader(sampler_of(graph), x, None, mask, batch_size=7, seed=4)
    assert torch.equal(torch.cat([b.n_id[: b.batch_size] for b in again]), epochs[0])
    assert all("y" not in b for b in again)


def test_drop_last_and_length(graph, tables):
    x, y = tables
    loader = NodeLoader(sampler_of(graph), x, y, torch.arange(25), batch_size=10, drop_last=True)
    assert len(loader) == 2 and [b.batch_size for b in loader] == [10, 10]
    assert len(NodeLoader(sampler_of(graph), x, y, torch.arange(25), batch_size=10)) == 3


def test_batches_train_pyg_graphsage_with_trimming(graph, tables):
    x, y = tables
    loader = NodeLoader(sampler_of(graph, fanouts=(5, 5)), x, y, torch.arange(40), batch_size=20)
    model = GraphSAGE(8, 16, 2, 5)
    for batch in loader:
        trimmed = model(batch.x, batch.edge_index, num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                        num_sampled_edges_per_hop=batch.num_sampled_edges)[: batch.batch_size]
        full = model(batch.x, batch.edge_index)[: batch.batch_size]
        assert torch.allclose(trimmed, full, atol=1e-5)


def test_timings_count_every_batch(graph, tables):
    x, y = tables
    loader = NodeLoader(sampler_of(graph), x, y, torch.arange(30), batch_size=10)
    list(loader)
    timings = loader.timings()
    assert isinstance(timings, LoaderTimings) and timings.batches == 3
    assert timings.sample_s > 0 and timings.gather_s >= 0 and timings.sample_ms_per_batch > 0
    loader.reset_timings()
    assert loader.timings() == LoaderTimings(0, 0.0, 0.0) and loader.timings().gather_ms_per_batch == 0.0
    assert "NodeLoader(seeds=30" in repr(loader)


@pytest.mark.parametrize("prefetch,gather_group", [(0, 1), (1, 1), (3, 1), (0, 3), (1, 3), (2, 10)])
def test_producer_thread_and_gather_groups_give_the_same_batches(graph, tables, prefetch, gather_group):
    x, y = tables
    inline = list(NodeLoader(sampler_of(graph, seed=7), x, y, torch.arange(50), batch_size=8, prefetch=0, seed=1))
    loader = NodeLoader(sampler_of(graph, seed=7), UnifiedTensor(x), y, torch.arange(50), batch_size=8,
                        prefetch=prefetch, gather_group=gather_group, seed=1)
    ahead = list(loader)
    assert len(ahead) == len(inline) == 7
    for a, b in zip(ahead, inline, strict=True):
        assert torch.equal(a.n_id, b.n_id) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
        assert torch.equal(a.y, b.y) and a.batch_size == b.batch_size
    assert loader.timings().batches == 7


def test_leaving_an_epoch_early_stops_the_producer_thread(graph, tables):
    x, y = tables
    loader = NodeLoader(sampler_of(graph), x, y, torch.arange(NUM_NODES), batch_size=4, prefetch=2)
    before = {t.name for t in threading.enumerate()}
    for i, _ in enumerate(loader):
        if i == 2:
            break
    assert "graphsys-loader" not in {t.name for t in threading.enumerate()} - before
    assert len(list(loader)) == len(loader)  # the next epoch starts afresh


def test_producer_errors_reach_the_consumer():
    def produce(item: int) -> int:
        if item == 3:
            raise IndexError(f"bad item {item}")
        return item * 10

    got = []
    with pytest.raises(IndexError, match="bad item 3"):
        with Producer(produce, range(6), ahead=2) as batches:
            got.extend(batches)
    assert got == [0, 10, 20]
    with pytest.raises(ValueError, match="ahead must be >= 1, got 0"):
        Producer(produce, range(2), ahead=0)


def test_gather_rows_places_rows_on_the_index_device():
    table = torch.arange(12).view(6, 2)
    assert torch.equal(gather_rows(table, torch.tensor([5, 0])), table[[5, 0]])
    assert torch.equal(gather_rows(UnifiedTensor(table), torch.tensor([1], dtype=torch.int32)), table[[1]])


def test_loader_refuses_bad_arguments(graph, tables):
    x, y = tables
    sampler = sampler_of(graph)
    seeds = torch.arange(4)
    with pytest.raises(TypeError, match="sampler"):
        NodeLoader("sampler", x, y, seeds, 2)
    with pytest.raises(TypeError, match="features"):
        NodeLoader(sampler, x.tolist(), y, seeds, 2)
    with pytest.raises(ValueError, match="features has 79 rows"):
        NodeLoader(sampler, x[:-1], y, seeds, 2)
    with pytest.raises(ValueError, match="labels has 3 rows"):
        NodeLoader(sampler, x, y[:3], seeds, 2)
    with pytest.raises(IndexError, match="node id 80"):
        NodeLoader(sampler, x, y, torch.tensor([0, 80]), 2)
    with pytest.raises(IndexError, match="node id -2"):
        NodeLoader(sampler, x, y, torch.tensor([-2]), 2)
    with pytest.raises(TypeError, match="integer"):
        NodeLoader(sampler, x, y, torch.tensor([0.0]), 2)
    with pytest.raises(TypeError, match="seeds"):
        NodeLoader(sampler, x, y, [0, 1], 2)
    with pytest.raises(ValueError, match="1-D"):
        NodeLoader(sampler, x, y, seeds.view(2, 2), 2)
    with pytest.raises(ValueError, match="mask"):
        NodeLoader(sampler, x, y, torch.ones(3, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="batch_size"):
        NodeLoader(sampler, x, y, seeds, 0)
    with pytest.raises(ValueError, match="prefetch"):
        NodeLoader(sampler, x, y, seeds, 2, prefetch=-1)
    with pytest.raises(ValueError, match="gather_group must be an int >= 1, got 0"):
        NodeLoader(sampler, x, y, seeds, 2, gather_group=0)


def test_the_default_gather_group_is_four_for_a_pinned_table_on_a_gpu_and_one_otherwise(graph, tables):
    x, y = tables
    seeds = torch.arange(NUM_NODES)
    assert NodeLoader(sampler_of(graph), x, y, seeds, 4).gather_group == 1
    assert NodeLoader(sampler_of(graph), UnifiedTensor(x, pin=False), y, seeds, 4).gather_group == 1
    assert NodeLoader(sampler_of(graph), x, y, seeds, 4, gather_group=3).gather_group == 3
    if torch.cuda.is_available():
        gpu = sampler_of(graph, placement="cuda")
        assert NodeLoader(gpu, UnifiedTensor(x), y.cuda(), seeds, 4).gather_group == ZERO_COPY_GATHER_GROUP == 4
        assert NodeLoader(gpu, x.cuda(), y.cuda(), seeds, 4).gather_group == 1


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@pytest.mark.parametrize("prefetch,gather_group", [(0, 1), (1, 1), (3, 1), (0, 2), (1, 4), (1, None)])
def test_gpu_batches_equal_sampler_plus_index(graph, tables, placement, prefetch, gather_group):
    x, y = tables
    features = UnifiedTensor(x)
    seeds = torch.arange(0, NUM_NODES, 3)
    loader = NodeLoader(sampler_of(graph, seed=5, placement=placement), features, y.cuda(), seeds, batch_size=6,
                        shuffle=False, prefetch=prefetch, gather_group=gather_group)
    reference = sampler_of(graph, seed=5, placement=placement)
    for _epoch in range(2):
        for i, batch in enumerate(loader):
            out = reference.sample(seeds[6 * i : 6 * i + 6].cuda())
            assert batch.x.is_cuda and batch.edge_index.is_cuda and batch.y.is_cuda
            assert torch.equal(batch.n_id, out.node)
            assert torch.equal(batch.edge_index, torch.stack([out.row, out.col]))
            assert torch.equal(batch.x.cpu(), x[out.node.cpu()])
            assert torch.equal(batch.y.cpu(), y[seeds[6 * i : 6 * i + 6]])
    timings = loader.timings()
    assert timings.batches == 2 * len(loader) and timings.sample_s > 0 and timings.gather_s > 0


@pytest.mark.gpu
@pytest.mark.parametrize("prefetch,gather_group", [(0, 1), (1, 1), (2, 1), (1, 2)])
def test_gpu_batches_in_flight_are_bounded_for_a_consumer_that_does_nothing(prefetch, gather_group):
    # Gathers of ~50 MB each are slower than the sampler: without a bound the host would queue
    # them (and their output memory) for the whole epoch.
    g = torch.Generator().manual_seed(6)
    nodes = 200_000
    graph = Graph.from_edge_index(torch.randint(0, nodes, (2, 2_000_000), generator=g), nodes)
    features = UnifiedTensor(torch.randn(nodes, 256, generator=g))
    loader = NodeLoader(sampler_of(graph, fanouts=(10, 10), placement="cuda"), features, None,
                        torch.arange(nodes), batch_size=4096, prefetch=prefetch, gather_group=gather_group)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    largest = 0
    for batch in loader:
        largest = max(largest, batch.x.numel() * batch.x.element_size())
        del batch
    torch.cuda.synchronize()
    # groups alive at once: prefetch + 1 gathering, one held; their sampler outputs are smaller.
    # The epoch has 49 batches: at most 20 of them may be alive.
    assert torch.cuda.max_memory_allocated() - base < (prefetch + 3) * gather_group * 2 * largest
    features.close()


@pytest.mark.gpu
def test_gpu_loader_with_feature_cache_and_training_overlap(graph, tables):
    x, y = tables
    features = UnifiedTensor(x)
    features.enable_cache(20 * x[0].numel() * x.element_size() + 4 * NUM_NODES, ranking=graph.out_degrees(),
                          device="cuda")
    loader = NodeLoader(sampler_of(graph, placement="pinned"), features, UnifiedTensor(y), torch.arange(NUM_NODES),
                        batch_size=16, prefetch=2, gather_group=3)
    model = GraphSAGE(8, 16, 2, 5).cuda()
    optimizer = torch.optim.Adam(model.parameters())
    for batch in loader:
        optimizer.zero_grad()
        out = model(batch.x, batch.edge_index)[: batch.batch_size]
        torch.nn.functional.cross_entropy(out, batch.y).backward()
        optimizer.step()
        assert torch.equal(batch.x.cpu(), x[batch.n_id.cpu()])
    assert features.cache_stats().hits > 0
