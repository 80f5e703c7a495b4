"""graphsys.loader.LinkLoader: PyG LinkNeighborLoader's fields, negatives, seed-edge exclusion, determinism."""
import pytest
import torch

from graphsys import Graph
from graphsys.loader import LinkLoader, NegativeSampling, NodeLoader
from graphsys.loader.negatives import NegativeDrawer
from sampling import NeighborSampler
from zerocopy import UnifiedTensor

NUM_NODES = 60


def random_edges(num: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, NUM_NODES, (2, num), generator=g)
    return edges[:, edges[0] != edges[1]]


@pytest.fixture(scope="module")
def split():
    """(training graph, train edges, held-out edges): the held-out ones are not in the graph."""
    edges = torch.unique(random_edges(400, 1), dim=1)
    perm = torch.randperm(edges.shape[1], generator=torch.Generator().manual_seed(2))
    held_out, train = edges[:, perm[:40]], edges[:, perm[40:]]
    graph = Graph.from_edge_index(train, NUM_NODES, symmetrize=True)
    keys = lambda e: set(zip(e[0].tolist(), e[1].tolist(), strict=True))  # noqa: E731
    train_keys = keys(train) | keys(train.flip(0))
    held_out = held_out[:, [i for i, e in enumerate(zip(*held_out.tolist(), strict=True)) if e not in train_keys]]
    return graph, train, held_out


@pytest.fixture(scope="module")
def x():
    return torch.randn(NUM_NODES, 6, generator=torch.Generator().manual_seed(3))


def sampler_of(graph: Graph, fanouts=(5, 3), seed: int = 0) -> NeighborSampler:
    return NeighborSampler(graph.indptr, graph.indices, list(fanouts), seed=seed)


def pairs(edge_index: torch.Tensor) -> set:
    return set(zip(edge_index[0].tolist(), edge_index[1].tolist(), strict=True))


def graph_pairs(graph: Graph) -> set:
    return pairs(graph.to_edge_index())


def test_binary_batches_carry_pyg_fields(split, x):
    graph, train, _ = split
    y = torch.arange(NUM_NODES)
    loader = LinkLoader(sampler_of(graph), x, y, train, batch_size=32, neg_sampling=NegativeSampling("binary", 2),
                        shuffle=False)
    assert len(loader) == -(-train.shape[1] // 32)
    seen = []
    for batch in loader:
        b = batch.input_id.numel()
        seen.append(batch.input_id)
        assert batch.edge_label_index.shape == (2, 3 * b)
        assert batch.edge_label.tolist() == [1.0] * b + [0.0] * (2 * b)
        # local ids point at the seed edges' endpoints
        glob = batch.n_id[batch.edge_label_index]
        assert torch.equal(glob[:, :b], train[:, batch.input_id])
        assert batch.num_sampled_nodes[0] == 6 * b  # src, dst, negative src, negative dst
        assert torch.equal(batch.x, x[batch.n_id]) and torch.equal(batch.y, y[batch.n_id])
        assert batch.edge_index.shape[1] == sum(batch.num_sampled_edges)
    assert torch.equal(torch.cat(seen), torch.arange(train.shape[1]))


def test_triplet_batches_carry_pyg_fields(split, x):
    graph, train, _ = split
    for amount in (1, 3):
        loader = LinkLoader(sampler_of(graph), x, None, train, batch_size=16,
                            neg_sampling=NegativeSampling("triplet", amount))
        batch = next(iter(loader))
        b = batch.input_id.numel()
        assert batch.src_index.shape == (b,) and batch.dst_pos_index.shape == (b,)
        assert batch.dst_neg_index.shape == ((b,) if amount == 1 else (b, amount))
        assert torch.equal(batch.n_id[batch.src_index], train[0, batch.input_id])
        assert torch.equal(batch.n_id[batch.dst_pos_index], train[1, batch.input_id])
        assert int(batch.dst_neg_index.max()) < batch.num_sampled_nodes[0]
        assert "edge_label" not in batch


def test_no_negatives_and_given_labels(split, x):
    graph, train, _ = split
    labels = torch.arange(train.shape[1]) % 3
    plain = next(iter(LinkLoader(sampler_of(graph), x, None, train, batch_size=8, edge_label=labels, shuffle=False)))
    assert torch.equal(plain.edge_label, labels[:8]) and plain.edge_label_index.shape == (2, 8)
    shifted = next(iter(LinkLoader(sampler_of(graph), x, None, train, batch_size=8, edge_label=labels,
                                   neg_sampling=NegativeSampling(), shuffle=False)))
    assert torch.equal(shifted.edge_label, torch.cat([labels[:8] + 1, torch.zeros(8, dtype=labels.dtype)]))


@pytest.mark.parametrize("mode", ["binary", "triplet"])
@pytest.mark.parametrize("weight", ["uniform", "degree"])
def test_strict_negatives_are_never_edges(split, x, mode, weight):
    graph, train, _ = split
    forbidden = graph_pairs(graph) | pairs(train) | pairs(train.flip(0))
    loader = LinkLoader(sampler_of(graph), x, None, train, batch_size=64,
                        neg_sampling=NegativeSampling(mode, 3, weight=weight, strict=True))
    for _ in range(3):
        for batch in loader:
            if mode == "binary":
                b = batch.input_id.numel()
                negative = batch.n_id[batch.edge_label_index[:, b:]]
            else:
                neg = batch.dst_neg_index.reshape(batch.src_index.numel(), -1)
                negative = torch.stack([batch.n_id[batch.src_index].repeat_interleave(neg.shape[1]),
                                        batch.n_id[neg.reshape(-1)]])
            assert not (pairs(negative) & forbidden)


def test_non_strict_negatives_do_hit_edges(split, x):
    """The strict test above is not vacuous: plain draws on this dense graph land on edges."""
    graph, train, _ = split
    loader = LinkLoader(sampler_of(graph), x, None, train, batch_size=360, neg_sampling=NegativeSampling("binary", 3))
    batch = next(iter(loader))
    negative = batch.n_id[batch.edge_label_index[:, batch.input_id.numel():]]
    assert pairs(negative) & graph_pairs(graph)


def test_degree_negatives_skip_nodes_without_edges(x):
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])  # nodes 4.. have no edges
    graph = Graph.from_edge_index(edges, NUM_NODES, symmetrize=True)
    drawer = NegativeDrawer(NegativeSampling(weight="degree"), graph.indptr, graph.indices, edges, torch.device("cpu"))
    drawn = drawer.nodes(2000, torch.Generator().manual_seed(0))
    assert int(drawn.max()) <= 3


@pytest.mark.parametrize("neg", [None, NegativeSampling("binary"), NegativeSampling("triplet", 2)])
def test_seed_and_held_out_edges_never_pass_messages(split, x, neg):
    graph, train, held_out = split
    held = pairs(held_out) | pairs(held_out.flip(0))
    loader = LinkLoader(sampler_of(graph, fanouts=(-1, -1)), x, None, train, batch_size=20, neg_sampling=neg)
    for batch in loader:
        passed = pairs(batch.n_id[batch.edge_index])
        seeds = train[:, batch.input_id]
        assert not (passed & (pairs(seeds) | pairs(seeds.flip(0))))
        assert not (passed & held)
        # counts per hop still describe the edges, and their hop order holds: targets of hop h are nodes of hop h-1
        assert sum(batch.num_sampled_edges) == batch.edge_index.shape[1]
    kept = LinkLoader(sampler_of(graph, fanouts=(-1, -1)), x, None, train, batch_size=20, neg_sampling=neg,
                      exclude_seed_edges=False)
    batch = next(iter(kept))
    seeds = train[:, batch.input_id]
    assert pairs(batch.n_id[batch.edge_index]) & (pairs(seeds) | pairs(seeds.flip(0)))


def test_exclusion_keeps_the_hop_structure(split, x):
    """The first hop's edges point into the seeds, the second's into hop-1 nodes, after filtering."""
    graph, train, _ = split
    batch = next(iter(LinkLoader(sampler_of(graph), x, None, train, batch_size=10,
                                 neg_sampling=NegativeSampling())))
    seeds = batch.num_sampled_nodes[0]
    first = batch.num_sampled_edges[0]
    assert int(batch.edge_index[1, :first].max()) < seeds
    assert int(batch.edge_index[1, first:].min()) >= seeds


@pytest.mark.parametrize("neg", [NegativeSampling("binary", weight="degree", strict=True),
                                 NegativeSampling("triplet", 2)])
def test_same_seed_same_batches(split, x, neg):
    graph, train, _ = split

    def epochs(seed, **options):
        loader = LinkLoader(sampler_of(graph, seed=seed), x, None, train, batch_size=25, neg_sampling=neg,
                            seed=seed, **options)
        return [[batch.n_id for batch in loader] for _ in range(2)]

    first = epochs(4)
    for other in (epochs(4), epochs(4, prefetch=0), epochs(4, gather_group=3)):
        assert all(torch.equal(a, b) for ea, eb in zip(first, other, strict=True) for a, b in zip(ea, eb, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first[0], epochs(5)[0], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first[0], first[1], strict=True))


def test_unified_tensor_features_give_the_same_rows(split, x):
    graph, train, _ = split
    plain = LinkLoader(sampler_of(graph, seed=1), x, None, train, batch_size=30, seed=1)
    unified = LinkLoader(sampler_of(graph, seed=1), UnifiedTensor(x), None, train, batch_size=30, seed=1)
    for a, b in zip(plain, unified, strict=True):
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)


def test_timings_count_batches(split, x):
    graph, train, _ = split
    loader = LinkLoader(sampler_of(graph), x, None, train, batch_size=50, neg_sampling=NegativeSampling())
    assert sum(1 for _ in loader) == len(loader)
    timings = loader.timings()
    assert timings.batches == len(loader) and timings.sample_s > 0


def test_a_node_loader_and_a_link_loader_share_one_pipeline():
    from graphsys.loader.subgraph_loader import SubgraphLoader

    assert issubclass(LinkLoader, SubgraphLoader) and issubclass(NodeLoader, SubgraphLoader)


def test_bad_input(split, x):
    graph, train, _ = split
    sampler = sampler_of(graph)
    with pytest.raises(ValueError, match=r"shape \[2, num_edges\]"):
        LinkLoader(sampler, x, None, train.t(), batch_size=4)
    with pytest.raises(IndexError, match="edges"):
        LinkLoader(sampler, x, None, train + NUM_NODES, batch_size=4)
    with pytest.raises(TypeError, match="edge_index alone"):
        LinkLoader(sampler, x, None, (("a", "b", "c"), train), batch_size=4)
    with pytest.raises(ValueError, match="edge_label"):
        LinkLoader(sampler, x, None, train, batch_size=4, edge_label=torch.ones(3))
    with pytest.raises(ValueError, match="triplet"):
        LinkLoader(sampler, x, None, train, batch_size=4, edge_label=torch.ones(train.shape[1]),
                   neg_sampling=NegativeSampling("triplet"))
    with pytest.raises(ValueError, match="whole number"):
        NegativeSampling("triplet", 1.5)
    with pytest.raises(ValueError, match="mode"):
        NegativeSampling("pairs")
    with pytest.raises(ValueError, match="amount"):
        NegativeSampling("binary", 0)
    with pytest.raises(ValueError, match="batch_size"):
        LinkLoader(sampler, x, None, train, batch_size=0)
    with pytest.raises(ValueError, match="rows"):
        LinkLoader(sampler, x[:5], None, train, batch_size=4)


def test_typed_seed_edges_are_named_for_a_heterogeneous_sampler():
    cites = ("paper", "cites", "paper")
    sampler = NeighborSampler({cites: torch.tensor([0, 1, 2])}, {cites: torch.tensor([1, 0])}, [2],
                              num_nodes={"paper": 2})
    features = {"paper": torch.randn(2, 3)}
    with pytest.raises(TypeError, match="edge_type, edge_index"):
        LinkLoader(sampler, features, None, torch.tensor([[0], [1]]), batch_size=1)
    with pytest.raises(ValueError, match="does not have"):
        LinkLoader(sampler, features, None, (("paper", "writes", "paper"), torch.tensor([[0], [1]])), batch_size=1)


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@pytest.mark.parametrize("neg", [NegativeSampling("binary", strict=True), NegativeSampling("triplet", 2,
                                                                                           weight="degree")])
def test_gpu_batches_stay_on_the_gpu_and_exclude_seed_edges(split, x, placement, neg):
    graph, train, held_out = split
    g = graph.to(placement)
    sampler = NeighborSampler(g.indptr, g.indices, [5, 3], seed=0)
    features = UnifiedTensor(x) if placement == "pinned" else x.cuda()
    if placement == "pinned":
        features.enable_cache(10 * 6 * 4 + 4 * NUM_NODES, ranking=graph.out_degrees(), device="cuda")
    loader = LinkLoader(sampler, features, None, train, batch_size=16, neg_sampling=neg, gather_group=2)
    forbidden = graph_pairs(graph) | pairs(train) | pairs(train.flip(0))
    count = 0
    for batch in loader:
        count += 1
        assert batch.x.is_cuda and batch.edge_index.is_cuda and batch.n_id.is_cuda
        assert torch.equal(batch.x.cpu(), x[batch.n_id.cpu()])
        seeds = train[:, batch.input_id.cpu()]
        passed = pairs(batch.n_id[batch.edge_index].cpu())
        assert not (passed & (pairs(seeds) | pairs(seeds.flip(0)) | pairs(held_out)))
        if neg.strict:
            b = batch.input_id.numel()
            assert not (pairs(batch.n_id[batch.edge_label_index[:, b:]].cpu()) & forbidden)
    assert count == len(loader)
