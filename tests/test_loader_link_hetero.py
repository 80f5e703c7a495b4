"""graphsys.loader.LinkLoader on heterogeneous graphs: seed edges of one edge type, negatives over the
endpoints' node types, one typed sampling call, seed edges (and their reverses) out of message passing,
PyG LinkNeighborLoader's HeteroData fields; the one-type graph equals the homogeneous loader; GPU (marked)."""
import pytest
import torch
from torch_geometric.data import HeteroData

from graphsys import Graph
from graphsys.hetero_graph import HeteroGraph
from graphsys.loader import LinkLoader, NegativeDrawer, NegativeSampling
from sampling import NeighborSampler
from zerocopy import UnifiedTensor

SIZES = {"paper": 60, "author": 45}
WRITES, CITES = ("author", "writes", "paper"), ("paper", "cites", "paper")
REV_WRITES, REV_CITES = ("paper", "rev_writes", "author"), ("paper", "rev_cites", "paper")


def random_edges(src: str, dst: str, count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    edges = torch.stack([torch.randint(0, SIZES[src], (count,), generator=g),
                         torch.randint(0, SIZES[dst], (count,), generator=g)])
    return torch.unique(edges[:, edges[0] != edges[1]] if src == dst else edges, dim=1)


def pairs(edge_index: torch.Tensor) -> set:
    return set(zip(edge_index[0].tolist(), edge_index[1].tolist(), strict=True))


@pytest.fixture(scope="module")
def split():
    """(message-passing graph with reverses, train edges per type, held-out edges per type); held-out
    edges are in neither direction of the graph."""
    graph_edges, train, held_out = {}, {}, {}
    for position, (edge_type, count) in enumerate(((WRITES, 400), (CITES, 400))):
        edges = random_edges(edge_type[0], edge_type[2], count, seed=position)
        perm = torch.randperm(edges.shape[1], generator=torch.Generator().manual_seed(10 + position))
        held, kept = edges[:, perm[:40]], edges[:, perm[40:]]
        if edge_type[0] == edge_type[2]:  # cites becomes undirected: hold out no reverse of a kept edge
            held = held[:, [i for i, e in enumerate(zip(*held.tolist(), strict=True))
                            if e not in pairs(kept.flip(0))]]
        graph_edges[edge_type], train[edge_type], held_out[edge_type] = kept, kept, held
    graph = HeteroGraph.from_edge_index_dict(graph_edges, SIZES, add_reverse=True)
    return graph, train, held_out


@pytest.fixture(scope="module")
def tables():
    g = torch.Generator().manual_seed(5)
    return {"paper": torch.randn(SIZES["paper"], 6, generator=g),
            "author": torch.randn(SIZES["author"], 4, generator=g)}


def sampler_of(graph: HeteroGraph, fanouts=(4, 3), seed: int = 0, placement: str = "cpu") -> NeighborSampler:
    g = graph.to(placement)
    return NeighborSampler({et: g.csr(et)[0] for et in g.edge_types}, {et: g.csr(et)[1] for et in g.edge_types},
                           list(fanouts), num_nodes=g.num_nodes_dict, seed=seed)


def type_pairs(graph: HeteroGraph, edge_type) -> set:
    return pairs(graph.to_edge_index_dict()[edge_type])


def labelled_pairs(batch, edge_type) -> torch.Tensor:
    """The binary batch's labelled pairs in global ids, through each endpoint type's n_id."""
    index = batch[edge_type].edge_label_index
    return torch.stack([batch[edge_type[0]].n_id[index[0]], batch[edge_type[2]].n_id[index[1]]])


def triplet_negatives(batch, edge_type) -> torch.Tensor:
    """The triplet batch's (source, negative destination) pairs in global ids."""
    src_type, _, dst_type = edge_type
    neg = batch[dst_type].dst_neg_index.reshape(batch[src_type].src_index.numel(), -1)
    src = batch[src_type].n_id[batch[src_type].src_index]
    return torch.stack([src.repeat_interleave(neg.shape[1]), batch[dst_type].n_id[neg.reshape(-1)]])


@pytest.mark.parametrize("edge_type", [WRITES, CITES])
@pytest.mark.parametrize("amount", [None, 2])
def test_binary_batches_carry_pyg_fields_on_the_seed_edge_type(split, tables, edge_type, amount):
    graph, train, _ = split
    edges = train[edge_type]
    neg = None if amount is None else NegativeSampling("binary", amount)
    loader = LinkLoader(sampler_of(graph), tables, None, (edge_type, edges), batch_size=32, neg_sampling=neg,
                        shuffle=False)
    assert len(loader) == -(-edges.shape[1] // 32)
    src_type, _, dst_type = edge_type
    seen = []
    for batch in loader:
        assert isinstance(batch, HeteroData)
        store = batch[edge_type]
        b = store.input_id.numel()
        negatives = 0 if amount is None else amount * b
        seen.append(store.input_id)
        assert store.edge_label_index.shape == (2, b + negatives)
        assert store.edge_label.tolist() == [1.0] * b + [0.0] * negatives
        glob = labelled_pairs(batch, edge_type)
        assert torch.equal(glob[:, :b], edges[:, store.input_id])
        assert int(glob[0].max()) < SIZES[src_type] and int(glob[1].max()) < SIZES[dst_type]
        # the seeds of each endpoint type, laid out without deduplication: one list over one type
        if src_type == dst_type:
            assert batch[src_type].num_sampled_nodes[0] == 2 * (b + negatives)
        else:
            assert batch[src_type].num_sampled_nodes[0] == batch[dst_type].num_sampled_nodes[0] == b + negatives
        for node_type, x in tables.items():
            assert torch.equal(batch[node_type].x, x[batch[node_type].n_id])
        for et in graph.edge_types:
            assert batch[et].edge_index.shape[1] == sum(batch[et].num_sampled_edges)
            if et != edge_type:
                assert "edge_label_index" not in batch[et] and "input_id" not in batch[et]
    assert torch.equal(torch.cat(seen), torch.arange(edges.shape[1]))


@pytest.mark.parametrize("edge_type", [WRITES, CITES])
@pytest.mark.parametrize("amount", [1, 3])
def test_triplet_batches_carry_pyg_fields_on_the_endpoint_types(split, tables, edge_type, amount):
    graph, train, _ = split
    edges = train[edge_type]
    src_type, _, dst_type = edge_type
    loader = LinkLoader(sampler_of(graph), tables, None, (edge_type, edges), batch_size=16,
                        neg_sampling=NegativeSampling("triplet", amount))
    for batch in loader:
        input_id = batch[edge_type].input_id
        b = input_id.numel()
        src_index, dst_pos_index = batch[src_type].src_index, batch[dst_type].dst_pos_index
        dst_neg_index = batch[dst_type].dst_neg_index
        assert src_index.shape == (b,) and dst_pos_index.shape == (b,)
        assert dst_neg_index.shape == ((b,) if amount == 1 else (b, amount))
        assert torch.equal(batch[src_type].n_id[src_index], edges[0, input_id])
        assert torch.equal(batch[dst_type].n_id[dst_pos_index], edges[1, input_id])
        assert int(dst_neg_index.max()) < batch[dst_type].num_sampled_nodes[0]
        assert "edge_label" not in batch[edge_type] and "edge_label_index" not in batch[edge_type]
        if src_type != dst_type:
            assert "dst_neg_index" not in batch[src_type] and "src_index" not in batch[dst_type]


def test_binary_negatives_are_drawn_over_each_endpoint_type(split, tables):
    """Between two node types negative sources are authors (45) and negative destinations papers (60)."""
    graph, train, _ = split
    loader = LinkLoader(sampler_of(graph, fanouts=(0,)), tables, None, (WRITES, train[WRITES]), batch_size=400,
                        neg_sampling=NegativeSampling("binary", 4))
    batch = next(iter(loader))
    negative = labelled_pairs(batch, WRITES)[:, batch[WRITES].input_id.numel():]
    assert int(negative[0].max()) < SIZES["author"] < int(negative[1].max())


@pytest.mark.parametrize("edge_type", [WRITES, CITES])
@pytest.mark.parametrize("mode", ["binary", "triplet"])
@pytest.mark.parametrize("weight", ["uniform", "degree"])
def test_strict_negatives_are_never_edges_or_seed_edges(split, tables, edge_type, mode, weight):
    graph, train, _ = split
    edges = train[edge_type]
    forbidden = type_pairs(graph, edge_type) | pairs(edges)
    if edge_type[0] == edge_type[2]:
        forbidden |= pairs(edges.flip(0))
    loader = LinkLoader(sampler_of(graph), tables, None, (edge_type, edges), batch_size=64,
                        neg_sampling=NegativeSampling(mode, 3, weight=weight, strict=True))
    for _ in range(3):
        for batch in loader:
            if mode == "binary":
                negative = labelled_pairs(batch, edge_type)[:, batch[edge_type].input_id.numel():]
            else:
                negative = triplet_negatives(batch, edge_type)
            assert not (pairs(negative) & forbidden)


def test_non_strict_negatives_do_hit_edges(split, tables):
    """The strict test above is not vacuous: plain draws land on edges of the seed edge type."""
    graph, train, _ = split
    loader = LinkLoader(sampler_of(graph, fanouts=(0,)), tables, None, (WRITES, train[WRITES]), batch_size=400,
                        neg_sampling=NegativeSampling("binary", 5))
    batch = next(iter(loader))
    negative = labelled_pairs(batch, WRITES)[:, batch[WRITES].input_id.numel():]
    assert pairs(negative) & type_pairs(graph, WRITES)


def test_degree_negatives_skip_nodes_without_edges_of_the_type():
    """Sources are drawn by their out-degree in the edge type, destinations by their in-degree."""
    edges = torch.tensor([[0, 1, 2, 2], [3, 3, 4, 5]])  # authors 3.. write nothing; papers 0-2, 6.. get nothing
    graph = HeteroGraph.from_edge_index_dict({WRITES: edges}, SIZES)
    indptr, indices = graph.csr(WRITES)
    drawer = NegativeDrawer(NegativeSampling(weight="degree"), indptr, indices, edges, torch.device("cpu"),
                            num_src_nodes=SIZES["author"])
    generator = torch.Generator().manual_seed(0)
    src, dst = drawer.pairs(None, 3000, generator)
    assert set(src.tolist()) == {0, 1, 2} and set(dst.tolist()) == {3, 4, 5}
    # author 2 writes twice: out-degree 2 weighs 2 ** 0.75 against 1 for authors 0 and 1
    share = float((src == 2).float().mean())
    assert abs(share - 2 ** 0.75 / (2 + 2 ** 0.75)) < 0.05
    with pytest.raises(ValueError, match="endpoint"):
        drawer.nodes(4, generator, endpoint="source")


def seed_pairs(batch, edges: torch.Tensor, edge_type) -> set:
    """The batch's positive seed edges in global ids."""
    return pairs(edges[:, batch[edge_type].input_id])


def passed(batch, edge_type) -> set:
    """The batch's message-passing edges of ``edge_type`` in global ids."""
    edge_index = batch[edge_type].edge_index
    return pairs(torch.stack([batch[edge_type[0]].n_id[edge_index[0]], batch[edge_type[2]].n_id[edge_index[1]]]))


@pytest.mark.parametrize("neg", [None, NegativeSampling("binary"), NegativeSampling("triplet", 2)])
def test_seed_edges_and_their_reverses_never_pass_messages(split, tables, neg):
    graph, train, held_out = split
    sampler = sampler_of(graph, fanouts=(-1, -1))
    for edge_type, reverse in ((WRITES, REV_WRITES), (CITES, None)):
        edges = train[edge_type]
        for batch in LinkLoader(sampler, tables, None, (edge_type, edges), batch_size=20, neg_sampling=neg):
            seeds = seed_pairs(batch, edges, edge_type)
            if reverse is None:  # cites was made undirected in place: both directions live in it
                assert not (passed(batch, edge_type) & (seeds | {(d, s) for s, d in seeds}))
            else:
                assert not (passed(batch, edge_type) & seeds)
                assert not (passed(batch, reverse) & {(d, s) for s, d in seeds})
            assert not (passed(batch, edge_type) & pairs(held_out[edge_type]))
            for et in graph.edge_types:  # counts per hop still describe the edges
                assert sum(batch[et].num_sampled_edges) == batch[et].edge_index.shape[1]
        kept = LinkLoader(sampler, tables, None, (edge_type, edges), batch_size=20, neg_sampling=neg,
                          exclude_seed_edges=False)
        batch = next(iter(kept))
        seeds = seed_pairs(batch, edges, edge_type)
        assert passed(batch, edge_type) & seeds
        if reverse is not None:
            assert passed(batch, reverse) & {(d, s) for s, d in seeds}


def test_a_reverse_type_of_a_type_to_itself_loses_the_seed_edges_too(split, tables):
    """add_reverse(merge=False) gives cites a reverse type ('paper', 'rev_cites', 'paper')."""
    _, train, _ = split
    graph = HeteroGraph.from_edge_index_dict({CITES: train[CITES]}, {"paper": SIZES["paper"]}).add_reverse(merge=False)
    assert REV_CITES in graph.edge_types
    sampler = sampler_of(graph, fanouts=(-1, -1))
    for exclude in (True, False):
        loader = LinkLoader(sampler, {"paper": tables["paper"]}, None, (CITES, train[CITES]), batch_size=20,
                            exclude_seed_edges=exclude)
        batch = next(iter(loader))
        seeds = seed_pairs(batch, train[CITES], CITES)
        both = seeds | {(d, s) for s, d in seeds}
        assert bool(passed(batch, CITES) & both) is not exclude
        assert bool(passed(batch, REV_CITES) & both) is not exclude


def test_exclusion_keeps_the_hop_structure(split, tables):
    """Each edge type's first-hop edges point into the seeds of its target type, later hops past them."""
    graph, train, _ = split
    batch = next(iter(LinkLoader(sampler_of(graph), tables, None, (WRITES, train[WRITES]), batch_size=10,
                                 neg_sampling=NegativeSampling())))
    for edge_type in graph.edge_types:
        seeds = batch[edge_type[2]].num_sampled_nodes[0]
        first = batch[edge_type].num_sampled_edges[0]
        edge_index = batch[edge_type].edge_index
        if first:
            assert int(edge_index[1, :first].max()) < seeds
        if edge_index.shape[1] > first:
            assert int(edge_index[1, first:].min()) >= seeds


def batch_tensors(batch) -> dict:
    """Every tensor of a HeteroData batch by (store key, attribute)."""
    out = {}
    for store in batch.stores:
        for name, value in store.items():
            if isinstance(value, torch.Tensor):
                out[(store._key, name)] = value
    return out


@pytest.mark.parametrize("neg", [NegativeSampling("binary", weight="degree", strict=True),
                                 NegativeSampling("triplet", 2)])
@pytest.mark.parametrize("edge_type", [WRITES, CITES])
def test_same_seed_same_batches(split, tables, neg, edge_type):
    graph, train, _ = split

    def epochs(seed, **options):
        loader = LinkLoader(sampler_of(graph, seed=seed), tables, None, (edge_type, train[edge_type]), batch_size=25,
                            neg_sampling=neg, seed=seed, **options)
        return [[batch_tensors(batch) for batch in loader] for _ in range(2)]

    def same(a: list, b: list) -> bool:
        return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
                   for x, y in zip(a, b, strict=True))

    first = epochs(4)
    for other in (epochs(4), epochs(4, prefetch=0), epochs(4, gather_group=3)):
        assert all(same(a, b) for a, b in zip(first, other, strict=True))
    assert not same(first[0], epochs(5)[0])
    assert not same(first[0], first[1])


@pytest.mark.parametrize("neg", [None, NegativeSampling("binary", 2, weight="degree", strict=True),
                                 NegativeSampling("triplet", 3, strict=True)])
@pytest.mark.parametrize("exclude", [True, False])
def test_a_one_type_graph_gives_the_homogeneous_batches(neg, exclude):
    """HeteroGraph.from_graph's ('_N', '_E', '_N') is the homogeneous case: the same pairs, nodes and edges."""
    num_nodes = 50
    g = torch.Generator().manual_seed(1)
    edges = torch.randint(0, num_nodes, (2, 300), generator=g)
    edges = edges[:, edges[0] != edges[1]]
    graph = Graph.from_edge_index(edges, num_nodes, symmetrize=True)
    typed = HeteroGraph.from_graph(graph)
    (edge_type,) = typed.edge_types
    x = torch.randn(num_nodes, 3, generator=g)
    plain = LinkLoader(NeighborSampler(graph.indptr, graph.indices, [4, 3], seed=3), x, None, edges,
                       batch_size=40, neg_sampling=neg, exclude_seed_edges=exclude, seed=2)
    hetero = LinkLoader(sampler_of(typed, seed=3), {"_N": x}, None, (edge_type, edges), batch_size=40,
                        neg_sampling=neg, exclude_seed_edges=exclude, seed=2)
    for _ in range(2):
        for a, b in zip(plain, hetero, strict=True):
            nodes, links = b["_N"], b[edge_type]
            assert torch.equal(a.n_id, nodes.n_id) and torch.equal(a.x, nodes.x)
            assert torch.equal(a.edge_index, links.edge_index) and torch.equal(a.e_id, links.e_id)
            assert a.num_sampled_nodes == nodes.num_sampled_nodes
            assert a.num_sampled_edges == links.num_sampled_edges
            assert torch.equal(a.input_id, links.input_id)
            if neg is None or neg.mode == "binary":
                assert torch.equal(a.edge_label_index, links.edge_label_index)
                assert torch.equal(a.edge_label, links.edge_label)
            else:
                assert torch.equal(a.src_index, nodes.src_index)
                assert torch.equal(a.dst_pos_index, nodes.dst_pos_index)
                assert torch.equal(a.dst_neg_index, nodes.dst_neg_index)


def test_one_sampling_call_per_batch_with_the_captured_seed_counts(split, tables, monkeypatch):
    """The sampler gets a dict per node type, once per batch, with the counts the epoch captured."""
    graph, train, _ = split
    for edge_type, neg in ((WRITES, NegativeSampling("binary", 1.5)), (CITES, NegativeSampling("triplet", 2))):
        sampler = sampler_of(graph)
        captured, called = [], []
        sample = sampler.sample
        monkeypatch.setattr(sampler, "capture", lambda sizes, into=captured: into.extend(sizes))

        def spy(seeds, seed_time=None, sample=sample, called=called):
            called.append({node_type: ids.numel() for node_type, ids in seeds.items()})
            return sample(seeds, seed_time)

        monkeypatch.setattr(sampler, "sample", spy)
        loader = LinkLoader(sampler, tables, None, (edge_type, train[edge_type][:, :70]), batch_size=32,
                            neg_sampling=neg)
        assert sum(1 for _ in loader) == len(loader) == len(called) == 3
        assert all(counts in captured for counts in called)
        # binary: 32 positives and ceil(1.5 * 32) negatives per endpoint type; triplet: [src | dst | 2 x 32 negatives]
        assert called[0] == ({"author": 32 + 48, "paper": 32 + 48} if edge_type == WRITES else {"paper": 4 * 32})


def test_unified_tensor_tables_give_the_same_rows(split, tables):
    graph, train, _ = split
    seeds = (WRITES, train[WRITES])
    plain = LinkLoader(sampler_of(graph, seed=1), tables, None, seeds, batch_size=30, seed=1)
    unified = LinkLoader(sampler_of(graph, seed=1), {t: UnifiedTensor(v) for t, v in tables.items()}, None, seeds,
                         batch_size=30, seed=1)
    for a, b in zip(plain, unified, strict=True):
        for node_type in tables:
            assert torch.equal(a[node_type].x, b[node_type].x)
        assert torch.equal(a[WRITES].edge_index, b[WRITES].edge_index)


def test_a_node_type_without_a_table_has_no_x(split, tables):
    graph, train, _ = split
    batch = next(iter(LinkLoader(sampler_of(graph), {"paper": tables["paper"]}, None, (WRITES, train[WRITES]),
                                 batch_size=8)))
    assert "x" not in batch["author"] and torch.equal(batch["paper"].x, tables["paper"][batch["paper"].n_id])


def test_bad_input_is_named(split, tables):
    graph, train, _ = split
    sampler = sampler_of(graph)
    writes = train[WRITES]
    with pytest.raises(TypeError, match=r"\(edge_type, edge_index\) pair"):
        LinkLoader(sampler, tables, None, writes, batch_size=4)
    with pytest.raises(ValueError, match=r"\('author', 'reviews', 'paper'\)"):
        LinkLoader(sampler, tables, None, (("author", "reviews", "paper"), writes), batch_size=4)
    with pytest.raises(IndexError, match=r"row 0 \(source ids of node type 'author'\) holds node id 45"):
        LinkLoader(sampler, tables, None, (WRITES, torch.tensor([[45], [0]])), batch_size=4)
    with pytest.raises(IndexError, match=r"row 1 \(destination ids of node type 'paper'\) holds node id 60"):
        LinkLoader(sampler, tables, None, (WRITES, torch.tensor([[0], [60]])), batch_size=4)
    with pytest.raises(IndexError, match="holds node id -1"):
        LinkLoader(sampler, tables, None, (CITES, torch.tensor([[-1], [0]])), batch_size=4)
    with pytest.raises(ValueError, match=r"edges of \('author', 'writes', 'paper'\) must have shape \[2, num_edges\]"):
        LinkLoader(sampler, tables, None, (WRITES, writes.t()), batch_size=4)
    with pytest.raises(TypeError, match="integer node ids"):
        LinkLoader(sampler, tables, None, (WRITES, writes.float()), batch_size=4)
    with pytest.raises(ValueError, match="labels=None"):
        LinkLoader(sampler, tables, torch.zeros(SIZES["paper"]), (WRITES, writes), batch_size=4)
    with pytest.raises(TypeError, match="features must be a dict"):
        LinkLoader(sampler, tables["paper"], None, (WRITES, writes), batch_size=4)
    with pytest.raises(ValueError, match=r"features\['author'\] has 3 rows but node type 'author' has 45"):
        LinkLoader(sampler, {"author": torch.zeros(3, 2)}, None, (WRITES, writes), batch_size=4)
    with pytest.raises(ValueError, match="edge_label must hold one label per seed edge"):
        LinkLoader(sampler, tables, None, (WRITES, writes), batch_size=4, edge_label=torch.ones(3))
    # a drawer built for another edge type's endpoints
    indptr, indices = graph.csr(CITES)
    cites_drawer = NegativeDrawer(NegativeSampling(), indptr, indices, train[CITES], torch.device("cpu"))
    with pytest.raises(ValueError, match="45 source and 60 destination nodes"):
        LinkLoader(sampler, tables, None, (WRITES, writes), batch_size=4, neg_sampling=cites_drawer)
    with pytest.raises(ValueError, match="num_src_nodes"):
        NegativeDrawer(NegativeSampling(), indptr, indices, train[CITES], torch.device("cpu"), num_src_nodes=-1)


def test_a_drawer_built_once_serves_loaders_of_its_edge_type(split, tables):
    graph, train, _ = split
    indptr, indices = graph.csr(WRITES)
    drawer = NegativeDrawer(NegativeSampling("binary", strict=True), indptr, indices, train[WRITES],
                            torch.device("cpu"), num_src_nodes=SIZES["author"])
    built = LinkLoader(sampler_of(graph), tables, None, (WRITES, train[WRITES]), batch_size=50, seed=3,
                       neg_sampling=NegativeSampling("binary", strict=True))
    given = LinkLoader(sampler_of(graph), tables, None, (WRITES, train[WRITES]), batch_size=50, seed=3,
                       neg_sampling=drawer)
    for a, b in zip(built, given, strict=True):
        assert torch.equal(labelled_pairs(a, WRITES), labelled_pairs(b, WRITES))


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@pytest.mark.parametrize("neg", [NegativeSampling("binary", strict=True),
                                 NegativeSampling("triplet", 2, weight="degree", strict=True)])
@pytest.mark.parametrize("edge_type", [WRITES, CITES])
def test_gpu_batches_stay_on_the_gpu_and_exclude_seed_edges(split, tables, placement, neg, edge_type):
    graph, train, held_out = split
    edges = train[edge_type]
    features = {t: UnifiedTensor(v) for t, v in tables.items()} if placement == "pinned" else \
        {t: v.cuda() for t, v in tables.items()}
    loader = LinkLoader(sampler_of(graph, placement=placement), features, None, (edge_type, edges), batch_size=16,
                        neg_sampling=neg, gather_group=2)
    forbidden = type_pairs(graph, edge_type) | pairs(edges)
    if edge_type[0] == edge_type[2]:
        forbidden |= pairs(edges.flip(0))
    reverse = REV_WRITES if edge_type == WRITES else None
    count = 0
    for batch in loader:
        count += 1
        for node_type, x in tables.items():
            assert batch[node_type].x.is_cuda and batch[node_type].n_id.is_cuda
            assert torch.equal(batch[node_type].x.cpu(), x[batch[node_type].n_id.cpu()])
        batch = batch.cpu()
        seeds = seed_pairs(batch, edges, edge_type)
        assert not (passed(batch, edge_type) & (seeds | pairs(held_out[edge_type])))
        if reverse is not None:
            assert not (passed(batch, reverse) & {(d, s) for s, d in seeds})
        else:
            assert not (passed(batch, edge_type) & {(d, s) for s, d in seeds})
        if neg.mode == "binary":
            negative = labelled_pairs(batch, edge_type)[:, batch[edge_type].input_id.numel():]
        else:
            negative = triplet_negatives(batch, edge_type)
        assert not (pairs(negative) & forbidden)
    assert count == len(loader)
    if placement == "pinned":
        for table in features.values():
            table.close()
