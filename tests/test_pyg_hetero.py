"""Heterogeneous graphs through graphsys.pyg: HeteroData and typed stores in, PyG's HeteroData batches out."""
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NeighborLoader as PygNeighborLoader
from torch_geometric.nn import HGTConv, RGCNConv, SAGEConv, to_hetero
from torch_geometric.sampler import EdgeSamplerInput, NegativeSampling, NodeSamplerInput
from torch_geometric.testing import MyFeatureStore, MyGraphStore

from graphsys import HeteroGraph
from graphsys.pyg import CSRGraphStore, GraphsysSampler, LinkNeighborLoader, NeighborLoader, UnifiedFeatureStore
from graphsys.pyg.edges import link_seeds
from graphsys.pyg.induced import induced_edges
from graphsys.pyg.sampler import fanouts_of
from sampling import NeighborSampler

WRITES, CITES, EMPLOYS, REV = ("author", "writes", "paper"), ("paper", "cites", "paper"), \
    ("inst", "employs", "author"), ("paper", "rev_writes", "author")


def random_hetero(seed: int = 0) -> HeteroData:
    """Papers and authors with features, institutions without; four edge types with edge attributes."""
    g = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["paper"].x = torch.randn(30, 4, generator=g)
    data["paper"].y = torch.randint(0, 3, (30,), generator=g)
    data["author"].x = torch.randn(20, 4, generator=g)
    data["inst"].num_nodes = 5
    writes = torch.stack([torch.randint(0, 20, (80,), generator=g), torch.randint(0, 30, (80,), generator=g)])
    data[WRITES].edge_index = writes
    data[CITES].edge_index = torch.randint(0, 30, (2, 90), generator=g)
    data[EMPLOYS].edge_index = torch.stack([torch.randint(0, 5, (25,), generator=g),
                                            torch.randint(0, 20, (25,), generator=g)])
    data[REV].edge_index = writes.flip(0)
    for offset, edge_type in zip((0, 1000, 2000, 3000), data.edge_types, strict=False):
        data[edge_type].edge_attr = offset + torch.arange(data[edge_type].num_edges, dtype=torch.float32)
    return data


def reference_all_neighbours(data: HeteroData, seed_type: str, seeds: list[int], hops: int):
    """Brute force of PyG's hetero semantics with every neighbour taken: per hop, edge types in
    order, frontier targets in order, their in-edges in edge_index order; new sources append."""
    node = {t: [] for t in data.node_types}
    node[seed_type] = list(seeds)  # the seeds as given, repeats included
    frontier = {t: list(node[t]) for t in data.node_types}
    edges = {et: [] for et in data.edge_types}
    counts_n = {t: [len(node[t])] for t in data.node_types}
    counts_e = {et: [] for et in data.edge_types}
    for _ in range(hops):
        new = {t: [] for t in data.node_types}
        for et in data.edge_types:
            src, _, dst = et
            edge_index = data[et].edge_index
            before = len(edges[et])
            for v in frontier[dst]:
                for e in (edge_index[1] == v).nonzero().view(-1).tolist():
                    edges[et].append(e)
                    u = int(edge_index[0, e])
                    if u not in node[src]:
                        node[src].append(u)
                        new[src].append(u)
            counts_e[et].append(len(edges[et]) - before)
        for t in data.node_types:
            counts_n[t].append(len(new[t]))
        frontier = new
    return node, edges, counts_n, counts_e


def check_hetero_batch(batch: HeteroData, data: HeteroData, seed_type: str, seeds: torch.Tensor) -> None:
    """A batch PyG would yield: seeds first, per-type dedup, real typed edges, attributes aligned."""
    assert batch[seed_type].batch_size == seeds.numel()
    assert torch.equal(batch[seed_type].n_id[: seeds.numel()], seeds)
    for node_type in data.node_types:
        n_id = batch[node_type].n_id
        assert len(set(n_id.tolist())) == n_id.numel()
        assert sum(batch[node_type].num_sampled_nodes) == n_id.numel()
        if "x" in data[node_type]:
            assert torch.equal(batch[node_type].x, data[node_type].x[n_id])
    for edge_type in data.edge_types:
        src, _, dst = edge_type
        local = batch[edge_type].edge_index
        glob = torch.stack([batch[src].n_id[local[0]], batch[dst].n_id[local[1]]])
        assert torch.equal(data[edge_type].edge_index[:, batch[edge_type].e_id], glob)
        assert torch.equal(batch[edge_type].edge_attr, data[edge_type].edge_attr[batch[edge_type].e_id])
        assert sum(batch[edge_type].num_sampled_edges) == local.size(1)
        if dst == seed_type:  # first-hop edges point at seeds
            first = local[:, : batch[edge_type].num_sampled_edges[0]]
            assert bool((first[1] < seeds.numel()).all())


def test_all_neighbours_match_the_brute_force_reference_exactly():
    data = random_hetero()
    seeds = torch.tensor([3, 7, 3, 11])
    sampler = GraphsysSampler.from_data(data, [-1, -1])
    out = sampler.sample_from_nodes(NodeSamplerInput(None, seeds, input_type="paper"))
    node, edges, counts_n, counts_e = reference_all_neighbours(data, "paper", seeds.tolist(), 2)
    for node_type in data.node_types:
        assert out.node[node_type].tolist() == node[node_type]
        assert out.num_sampled_nodes[node_type] == counts_n[node_type]
    for edge_type in data.edge_types:
        assert sampler.edge_permutation[edge_type][out.edge[edge_type]].tolist() == edges[edge_type]
        assert out.num_sampled_edges[edge_type] == counts_e[edge_type]


@pytest.mark.parametrize("replace", [False, True])
def test_fanouts_per_edge_type_bound_every_target(replace):
    data = random_hetero(1)
    fanouts = {WRITES: [2, 1], CITES: [3, 2], EMPLOYS: [1, 1], REV: [0, 4]}
    loader = NeighborLoader(data, fanouts, input_nodes=("paper", torch.arange(12)), batch_size=6,
                            replace=replace, placement="cpu")
    for i, batch in enumerate(loader):
        seeds = torch.arange(12)[6 * i: 6 * i + 6]
        check_hetero_batch(batch, data, "paper", seeds)
        assert batch["paper"].input_id.tolist() == seeds.tolist()
        assert batch[REV].num_sampled_edges[0] == 0
        for edge_type, hops in fanouts.items():
            dst = edge_type[2]
            col = batch[edge_type].edge_index[1]
            degree = torch.bincount(data[edge_type].edge_index[1], minlength=data[dst].num_nodes)
            start = 0
            for hop, k in enumerate(hops):
                count = batch[edge_type].num_sampled_edges[hop]
                per_target = torch.bincount(col[start:start + count], minlength=batch[dst].n_id.numel())
                start += count
                glob_deg = degree[batch[dst].n_id]
                bound = torch.where(glob_deg > 0, torch.full_like(glob_deg, k), 0) if replace else glob_deg.clamp(max=k)
                assert bool((per_target <= bound).all())
                if not replace:  # without replacement each (target, source edge) once
                    chunk = batch[edge_type].e_id[start - count:start]
                    assert chunk.unique().numel() == chunk.numel()


def test_input_nodes_forms_mask_ids_and_a_bare_type():
    data = random_hetero()
    mask = torch.zeros(30, dtype=torch.bool)
    mask[::4] = True
    got = [b["paper"].input_id.tolist() for b in NeighborLoader(data, [2], input_nodes=("paper", mask),
                                                                batch_size=3, placement="cpu")]
    assert sum(got, []) == mask.nonzero().view(-1).tolist()
    loader = NeighborLoader(data, [2], input_nodes="author", batch_size=8, placement="cpu")
    assert len(loader) == 3
    batch = next(iter(loader))
    assert batch.input_type == "author" and batch["author"].batch_size == 8
    check_hetero_batch(batch, data, "author", torch.arange(8))


def test_same_seed_same_batches():
    data = random_hetero()
    torch.manual_seed(5)
    first = [b["author"].n_id for b in NeighborLoader(data, [3, 2], input_nodes="paper", batch_size=10,
                                                      placement="cpu")]
    torch.manual_seed(5)
    again = [b["author"].n_id for b in NeighborLoader(data, [3, 2], input_nodes="paper", batch_size=10,
                                                      placement="cpu")]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_bidirectional_and_induced_subgraphs():
    data = random_hetero()
    seeds = torch.arange(5)
    batch = next(iter(NeighborLoader(data, [3, 2], input_nodes=("paper", seeds), batch_size=5,
                                     subgraph_type="bidirectional", placement="cpu")))
    assert "e_id" not in batch[WRITES] and "num_sampled_edges" not in batch[WRITES]
    w, r = batch[WRITES].edge_index, batch[REV].edge_index
    assert set(map(tuple, w.t().tolist())) == set(map(tuple, r.flip(0).t().tolist()))
    batch = next(iter(NeighborLoader(data, [3, 2], input_nodes=("paper", seeds), batch_size=5,
                                     subgraph_type="induced", placement="cpu")))
    for edge_type in data.edge_types:
        src, _, dst = edge_type
        inside_src, inside_dst = set(batch[src].n_id.tolist()), set(batch[dst].n_id.tolist())
        expected = [e for e, (u, v) in enumerate(data[edge_type].edge_index.t().tolist())
                    if u in inside_src and v in inside_dst]
        assert sorted(batch[edge_type].e_id.tolist()) == expected
        local = batch[edge_type].edge_index
        glob = torch.stack([batch[src].n_id[local[0]], batch[dst].n_id[local[1]]])
        assert torch.equal(data[edge_type].edge_index[:, batch[edge_type].e_id], glob)


def test_induced_edges_between_two_node_types():
    edge_index = torch.tensor([[0, 1, 2, 2], [0, 0, 1, 2]])  # authors 0..2 -> papers 0..2
    csr = HeteroGraph.from_edge_index_dict({WRITES: edge_index}, {"author": 3, "paper": 3}).csr(WRITES)
    row, col, edge = induced_edges(*csr, torch.tensor([2, 0]), source_node=torch.tensor([1, 2]))
    assert sorted(zip(row.tolist(), col.tolist(), strict=True)) == [(0, 1), (1, 0)]


def with_every_type_updated(data: HeteroData) -> HeteroData:
    """Features for institutions and an edge type into them, so to_hetero models update every type."""
    data["inst"].x = torch.randn(5, 4)
    data["author", "works_at", "inst"].edge_index = data[EMPLOYS].edge_index.flip(0)
    return data


def test_to_hetero_graphsage_and_rgcn_run_forward_and_backward():
    data = with_every_type_updated(random_hetero())
    batch = next(iter(NeighborLoader(data, [4, 3], input_nodes="paper", batch_size=8, placement="cpu")))

    class Sage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = SAGEConv((-1, -1), 8), SAGEConv((-1, -1), 3)

        def forward(self, x, edge_index):
            return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    model = to_hetero(Sage(), data.metadata(), aggr="sum")
    outs = model(batch.x_dict, batch.edge_index_dict)
    out = outs["paper"][: batch["paper"].batch_size]
    loss = torch.nn.functional.cross_entropy(out, batch["paper"].y[: batch["paper"].batch_size])
    (loss + sum(o.sum() for o in outs.values())).backward()
    assert all(p.grad is not None for p in model.parameters())

    homogeneous = batch.to_homogeneous()
    conv = RGCNConv(4, 3, num_relations=len(data.edge_types))
    out = conv(homogeneous.x, homogeneous.edge_index, homogeneous.edge_type)
    out.sum().backward()
    assert out.shape == (homogeneous.num_nodes, 3) and conv.weight.grad is not None

    hgt = HGTConv(4, 8, data.metadata(), heads=2)
    hgt_out = hgt(batch.x_dict, batch.edge_index_dict)
    hgt_out["paper"].sum().backward()
    assert hgt_out["paper"].shape == (batch["paper"].num_nodes, 8)


def test_full_neighbourhood_batch_gives_the_full_graph_prediction_of_its_seeds():
    data = with_every_type_updated(random_hetero())
    torch.manual_seed(0)

    class OneLayer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SAGEConv((-1, -1), 3)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    model = to_hetero(OneLayer(), data.metadata(), aggr="sum")
    full = model(data.x_dict, data.edge_index_dict)["paper"]
    seeds = torch.tensor([4, 9, 17])
    batch = next(iter(NeighborLoader(data, [-1], input_nodes=("paper", seeds), batch_size=3, placement="cpu")))
    part = model(batch.x_dict, batch.edge_index_dict)["paper"][:3]
    assert torch.allclose(part, full[seeds], atol=1e-5)


def test_typed_stores_sample_what_the_hetero_data_samples():
    data = random_hetero()
    stores = (UnifiedFeatureStore.from_data(data, attrs=("x",), pin=False), CSRGraphStore.from_hetero_data(data))
    assert stores[1].is_hetero and set(stores[1].hetero_graph.edge_types) == set(data.edge_types)
    seeds = torch.arange(0, 30, 3)
    for b1, b2 in zip(NeighborLoader(data, [-1, -1], input_nodes=("paper", seeds), batch_size=5, placement="cpu"),
                      NeighborLoader(stores, [-1, -1], input_nodes=("paper", seeds), batch_size=5), strict=True):
        for node_type in data.node_types:
            assert set(b1[node_type].n_id.tolist()) == set(b2[node_type].n_id.tolist())
            if "x" in data[node_type]:
                assert torch.equal(b2[node_type].x, data[node_type].x[b2[node_type].n_id])
        for edge_type in data.edge_types:
            src, _, dst = edge_type
            local = b2[edge_type].edge_index
            glob = torch.stack([b2[src].n_id[local[0]], b2[dst].n_id[local[1]]])
            assert sorted(map(tuple, glob.t().tolist())) == sorted(
                map(tuple, data[edge_type].edge_index[:, b1[edge_type].e_id].t().tolist()))
            assert torch.equal(data[edge_type].edge_index[:, b2[edge_type].e_id], glob)  # e_id in put order


def test_foreign_typed_stores_and_pyg_loader_with_our_sampler():
    data = random_hetero()
    feature_store, graph_store = MyFeatureStore(), MyGraphStore()
    for node_type in ("paper", "author"):
        feature_store.put_tensor(data[node_type].x, group_name=node_type, attr_name="x", index=None)
    for edge_type in data.edge_types:
        size = (data[edge_type[0]].num_nodes, data[edge_type[2]].num_nodes)
        graph_store.put_edge_index(tuple(data[edge_type].edge_index), edge_type=edge_type, layout="coo", size=size)
    sampler = GraphsysSampler.from_data((feature_store, graph_store), [3, 2], seed=4)
    assert sampler.is_hetero and sampler.num_nodes["inst"] == 5
    loader = PygNeighborLoader((feature_store, graph_store), [3, 2], input_nodes=("paper", torch.arange(6)),
                               batch_size=3, neighbor_sampler=sampler)
    for batch in loader:
        for node_type in ("paper", "author"):
            assert torch.equal(batch[node_type].x, data[node_type].x[batch[node_type].n_id])
        for edge_type in data.edge_types:
            src, _, dst = edge_type
            local = batch[edge_type].edge_index
            glob = torch.stack([batch[src].n_id[local[0]], batch[dst].n_id[local[1]]])
            assert torch.equal(data[edge_type].edge_index[:, batch[edge_type].e_id], glob)


def test_csr_graph_store_round_trips_typed_layouts():
    data = random_hetero()
    source = CSRGraphStore.from_hetero_data(data)
    store = CSRGraphStore()
    for layout in ("coo", "csr", "csc"):
        for edge_type in data.edge_types:
            given = source.get_edge_index(edge_type=edge_type, layout=layout)
            size = (data[edge_type[0]].num_nodes, data[edge_type[2]].num_nodes)
            store.put_edge_index(given, edge_type=edge_type, layout=layout, size=size)
            row, col = store.get_edge_index(edge_type=edge_type, layout="coo")
            expected = sorted(map(tuple, data[edge_type].edge_index.t().tolist()))
            assert sorted(zip(row.tolist(), col.tolist(), strict=True)) == expected
    back = source.get_edge_index(edge_type=CITES, layout="coo")
    assert torch.equal(torch.stack(back), data[CITES].edge_index)
    attrs = {attr.edge_type: attr.size for attr in store.get_all_edge_attrs()}
    assert attrs[EMPLOYS] == (5, 20)
    with pytest.raises(ValueError, match="homogeneous"):
        store.put_edge_index(torch.tensor([[0], [1]]), edge_type=None, layout="coo", size=(2, 2))
    with pytest.raises(ValueError, match="'paper' has 30 nodes"):
        store.put_edge_index(torch.tensor([[0], [1]]), edge_type=("paper", "x", "author"), layout="coo", size=(31, 20))
    assert store.remove_edge_index(edge_type=CITES, layout="csc") is True
    assert CITES not in store.hetero_graph.edge_types
    with pytest.raises(ValueError, match="hetero_graph"):
        store.graph


def test_link_loader_binary_on_two_node_types():
    data = random_hetero()
    torch.manual_seed(0)
    loader = LinkNeighborLoader(data, [3, 2], edge_label_index=WRITES, batch_size=16, neg_sampling_ratio=2.0,
                                shuffle=True, placement="cpu")
    total = 0
    for batch in loader:
        store = batch[WRITES]
        num_pos = store.input_id.numel()
        total += num_pos
        label_index = store.edge_label_index
        assert label_index.size(1) == 3 * num_pos
        assert torch.equal(store.edge_label, torch.cat([torch.ones(num_pos), torch.zeros(2 * num_pos)]))
        glob = torch.stack([batch["author"].n_id[label_index[0]], batch["paper"].n_id[label_index[1]]])
        assert torch.equal(glob[:, :num_pos], data[WRITES].edge_index[:, store.input_id])
        assert int(glob[0].max()) < 20 and int(glob[1].max()) < 30
        for edge_type in data.edge_types:
            src, _, dst = edge_type
            local = batch[edge_type].edge_index
            both = torch.stack([batch[src].n_id[local[0]], batch[dst].n_id[local[1]]])
            assert torch.equal(data[edge_type].edge_index[:, batch[edge_type].e_id], both)
    assert total == data[WRITES].num_edges


def test_link_loader_triplet_on_two_node_types_and_one():
    data = random_hetero()
    batch = next(iter(LinkNeighborLoader(data, [2], edge_label_index=(WRITES, None), batch_size=10,
                                         neg_sampling=NegativeSampling("triplet", 3), placement="cpu")))
    src, pos, neg = batch["author"].src_index, batch["paper"].dst_pos_index, batch["paper"].dst_neg_index
    assert src.shape == (10,) and pos.shape == (10,) and neg.shape == (10, 3)
    assert int(neg.max()) < batch["paper"].num_nodes
    glob = torch.stack([batch["author"].n_id[src], batch["paper"].n_id[pos]])
    assert torch.equal(glob, data[WRITES].edge_index[:, :10])
    label_index = torch.randint(0, 30, (2, 12), generator=torch.Generator().manual_seed(3))
    batch = next(iter(LinkNeighborLoader(data, [2], edge_label_index=(CITES, label_index), batch_size=12,
                                         neg_sampling=dict(mode="triplet", amount=1), placement="cpu")))
    paper = batch["paper"]
    assert torch.equal(torch.stack([paper.n_id[paper.src_index], paper.n_id[paper.dst_pos_index]]), label_index)
    assert paper.dst_neg_index.shape == (12,)


def test_hetero_link_seeds_draw_negatives_per_endpoint_type():
    index = EdgeSamplerInput(None, torch.tensor([0, 1]), torch.tensor([5, 6]), input_type=WRITES)
    weight = torch.zeros(30)
    weight[29] = 1.0
    neg = NegativeSampling("binary", 3, dst_weight=weight)
    seeds = link_seeds(index, neg, {"author": 2, "paper": 30}, torch.Generator().manual_seed(0))
    label_index = seeds.metadata[1]
    assert bool((seeds.node["paper"][label_index[1, 2:]] == 29).all())
    assert int(seeds.node["author"].max()) < 2
    with pytest.raises(ValueError, match="edge type"):
        link_seeds(EdgeSamplerInput(None, torch.tensor([0]), torch.tensor([1])), None, {"paper": 3},
                   torch.Generator())


def test_zero_hops_and_a_graph_without_edge_types():
    data = random_hetero()
    batch = next(iter(LinkNeighborLoader(data, [], edge_label_index=CITES, batch_size=8, placement="cpu")))
    assert batch["paper"].num_nodes == batch[CITES].edge_label_index.unique().numel()
    assert batch[CITES].edge_index.size(1) == 0 and batch["paper"].num_sampled_nodes == [batch["paper"].num_nodes]
    assert batch[CITES].num_sampled_edges == []
    bare = HeteroData()
    bare["paper"].num_nodes = 10
    batch = next(iter(NeighborLoader(bare, [2, 2], input_nodes="paper", batch_size=4, placement="cpu")))
    assert batch.edge_types == [] and batch["paper"].n_id.tolist() == [0, 1, 2, 3]
    assert batch["paper"].num_sampled_nodes == [4, 0, 0]


def test_unified_tensor_features_of_a_node_type_are_gathered():
    from zerocopy import UnifiedTensor

    data = random_hetero()
    table = data["author"].x.clone()
    data["author"].x = UnifiedTensor(table, pin=False)
    data["author"].num_nodes = 20  # PyG cannot count rows of a table that is not a tensor
    batch = next(iter(NeighborLoader(data, [3], input_nodes="paper", batch_size=6, placement="cpu")))
    assert torch.equal(batch["author"].x, table[batch["author"].n_id])


def test_num_neighbors_parsing():
    edge_types = [WRITES, CITES]
    assert fanouts_of([2, 1], edge_types) == {WRITES: [2, 1], CITES: [2, 1]}
    assert fanouts_of({"author__writes__paper": [1], CITES: [2]}, edge_types) == {WRITES: [1], CITES: [2]}
    from torch_geometric.sampler import NumNeighbors

    assert fanouts_of(NumNeighbors({CITES: [4]}, default=[1]), edge_types) == {WRITES: [1], CITES: [4]}
    with pytest.raises(ValueError, match="hops must be the same across all"):
        fanouts_of({WRITES: [1], CITES: [1, 1]}, edge_types)
    with pytest.raises(ValueError, match="no entry for edge type"):
        fanouts_of({WRITES: [1]}, edge_types)
    with pytest.raises(ValueError, match="does not have"):
        fanouts_of({("a", "b", "c"): [1], WRITES: [1], CITES: [1]}, edge_types)
    with pytest.raises(TypeError, match="edge types"):
        fanouts_of({"writes": [1]}, edge_types)
    with pytest.raises(TypeError, match="must be an int"):
        fanouts_of({WRITES: [1.5], CITES: [1]}, edge_types)


def test_bad_input_is_refused_by_name():
    data = random_hetero()
    with pytest.raises(ValueError, match="disjoint"):
        NeighborLoader(data, [2], input_nodes="paper", disjoint=True, directed=False, placement="cpu")
    with pytest.raises(ValueError, match="The time attribute 'missing' is neither a node-level or edge-level"):
        NeighborLoader(data, [2], input_nodes="paper", time_attr="missing", placement="cpu")
    with pytest.raises(ValueError, match="weight_attr='missing' is not an edge attribute of any edge type"):
        LinkNeighborLoader(data, [2], edge_label_index=WRITES, weight_attr="missing", placement="cpu")
    sampler = GraphsysSampler.from_data(data, [2])
    with pytest.raises(ValueError, match="input_type='venue'"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(2), input_type="venue"))
    with pytest.raises(ValueError, match="input_type=None"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(2)))
    with pytest.raises(IndexError, match="paper"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([30]), input_type="paper"))
    with pytest.raises(ValueError, match="node type 'venue'"):
        sampler.sample_from_edges(EdgeSamplerInput(None, torch.tensor([0]), torch.tensor([0]),
                                                   input_type=("venue", "x", "paper")))
    broken = random_hetero()
    broken[WRITES].edge_index = torch.tensor([[0, 25], [0, 1]])
    with pytest.raises(IndexError, match="writes.*node id 25"):
        GraphsysSampler.from_data(broken, [2])
    del broken[WRITES].edge_index
    broken[WRITES].adj = torch.zeros(1)
    with pytest.raises(ValueError, match="no 'edge_index'"):
        GraphsysSampler.from_data(broken, [2])
    with pytest.raises(ValueError, match="no node types"):
        GraphsysSampler.from_data(HeteroData(), [2])
    inner = sampler.sampler
    with pytest.raises(TypeError, match="edge_permutation must be a dict"):
        GraphsysSampler(inner, edge_permutation=torch.arange(3))


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@pytest.mark.parametrize("subgraph_type", ["directional", "bidirectional", "induced"])
def test_gpu_hetero_sampler_in_the_loader(placement, subgraph_type):
    data = random_hetero()
    sampler = GraphsysSampler.from_data(data, [4, 3], placement=placement, subgraph_type=subgraph_type, seed=2)
    assert sampler.device.type == "cuda"
    cpu = GraphsysSampler.from_data(data, [-1, -1])
    full = GraphsysSampler.from_data(data, [-1, -1], placement=placement)
    seeds = NodeSamplerInput(None, torch.tensor([3, 7, 11]), input_type="paper")
    a, b = cpu.sample_from_nodes(seeds), full.sample_from_nodes(seeds)
    for node_type in data.node_types:
        assert torch.equal(a.node[node_type], b.node[node_type].cpu())
    loader = PygNeighborLoader(data, [4, 3], input_nodes="paper", batch_size=8, neighbor_sampler=sampler)
    for batch in loader:
        for edge_type in data.edge_types:
            src, _, dst = edge_type
            local = batch[edge_type].edge_index
            assert not local.is_cuda
            glob = torch.stack([batch[src].n_id[local[0]], batch[dst].n_id[local[1]]])
            if subgraph_type != "bidirectional":
                assert torch.equal(data[edge_type].edge_index[:, batch[edge_type].e_id], glob)
        assert torch.equal(batch["paper"].x, data["paper"].x[batch["paper"].n_id])


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
def test_gpu_typed_store_link_loader(placement):
    data = random_hetero()
    stores = (UnifiedFeatureStore.from_data(data, attrs=("x",)), CSRGraphStore.from_hetero_data(data, placement))
    loader = LinkNeighborLoader(stores, [3, 2], edge_label_index=(WRITES, data[WRITES].edge_index),
                                batch_size=16, neg_sampling="binary")
    batch = next(iter(loader))
    assert batch["paper"].n_id.is_cuda and batch["paper"].x.is_cuda
    assert torch.equal(batch["paper"].x.cpu(), data["paper"].x[batch["paper"].n_id.cpu()])
    assert batch[WRITES].edge_label_index.size(1) == 32


def test_sampler_wraps_a_typed_neighbor_sampler():
    data = random_hetero()
    graph = HeteroGraph.from_pyg(data)
    edge_types = graph.edge_types
    inner = NeighborSampler({et: graph.csr(et)[0] for et in edge_types}, {et: graph.csr(et)[1] for et in edge_types},
                            [2], num_nodes=graph.num_nodes_dict, seed=1)
    sampler = GraphsysSampler(inner)
    assert sampler.is_hetero and sampler.edge_types == edge_types and "GraphsysSampler" in repr(sampler)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(4), input_type="paper"))
    assert out.node["paper"][:4].tolist() == [0, 1, 2, 3] and set(out.row) == set(edge_types)
