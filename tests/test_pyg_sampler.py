"""graphsys.pyg.GraphsysSampler inside PyG's own loaders, on a PyPI install without pyg-lib."""
from types import SimpleNamespace

import pytest
import torch
import torch_geometric.typing
from torch_geometric.data import Data, HeteroData
from torch_geometric.loader import NeighborLoader as PygNeighborLoader
from torch_geometric.loader import NodeLoader as PygNodeLoader
from torch_geometric.sampler import NodeSamplerInput

from graphsys.pyg import GraphsysSampler, NeighborLoader
from graphsys.pyg.csc import csc_from_data, csc_from_edge_index
from graphsys.pyg.induced import induced_edges
from graphsys.pyg.sampler import fanouts_of, subgraph_type_of
from sampling import NeighborSampler


def random_data(num_nodes: int = 60, num_edges: int = 400, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    return Data(
        x=torch.randn(num_nodes, 5, generator=g),
        y=torch.randint(0, 3, (num_nodes,), generator=g),
        edge_index=edge_index,
        edge_attr=torch.arange(num_edges, dtype=torch.float32).view(-1, 1),
    )


def edge_set(edge_index: torch.Tensor) -> set:
    return set(map(tuple, edge_index.t().tolist()))


def check_batch(batch, data: Data, seeds: torch.Tensor) -> None:
    """A batch PyG would accept: seeds first, real edges, features and edge attributes aligned."""
    n_id = batch.n_id
    assert torch.equal(n_id[: batch.batch_size], seeds)
    assert len(set(n_id.tolist())) == n_id.numel()
    assert sum(batch.num_sampled_nodes) == n_id.numel()
    assert sum(batch.num_sampled_edges) == batch.edge_index.size(1)
    glob = n_id[batch.edge_index]
    assert edge_set(glob) <= edge_set(data.edge_index)
    assert torch.equal(data.edge_index[:, batch.e_id], glob)
    assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
    assert torch.equal(batch.x, data.x[n_id])
    assert torch.equal(batch.y, data.y[n_id])
    first_hop = batch.edge_index[:, : batch.num_sampled_edges[0]]
    assert bool((first_hop[1] < batch.batch_size).all())


def test_this_install_has_no_pyg_lib_nor_torch_sparse():
    assert torch_geometric.typing.WITH_PYG_LIB is False
    assert torch_geometric.typing.WITH_TORCH_SPARSE is False


def test_pyg_neighbor_loader_with_our_sampler():
    data = random_data()
    sampler = GraphsysSampler.from_data(data, [4, 3], seed=1)
    loader = PygNeighborLoader(data, [4, 3], batch_size=8, input_nodes=torch.arange(20), neighbor_sampler=sampler)
    batches = list(loader)
    assert len(batches) == 3
    for i, batch in enumerate(batches):
        check_batch(batch, data, torch.arange(20)[8 * i : 8 * i + 8])
        assert torch.equal(batch.input_id, torch.arange(20)[8 * i : 8 * i + 8])


def test_pyg_node_loader_with_our_sampler_and_a_mask():
    data = random_data()
    mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    mask[::3] = True
    loader = PygNodeLoader(data, GraphsysSampler.from_data(data, [-1, 2]), input_nodes=mask, batch_size=7)
    seen = []
    for batch in loader:
        seeds = batch.n_id[: batch.batch_size]
        check_batch(batch, data, seeds)
        seen += seeds.tolist()
    assert seen == mask.nonzero().view(-1).tolist()


def test_fanout_minus_one_takes_every_in_neighbour():
    data = random_data()
    sampler = GraphsysSampler.from_data(data, [-1])
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([5])))
    expected = sorted(int(s) for s, t in data.edge_index.t().tolist() if t == 5)
    assert sorted(out.node[out.row].tolist()) == expected


def test_same_seed_same_batches_and_sequence_advances():
    data = random_data()
    a = GraphsysSampler.from_data(data, [3, 3], seed=7)
    b = GraphsysSampler.from_data(data, [3, 3], seed=7)
    seeds = NodeSamplerInput(None, torch.arange(10))
    first_a, first_b = a.sample_from_nodes(seeds), b.sample_from_nodes(seeds)
    assert torch.equal(first_a.node, first_b.node) and torch.equal(first_a.edge, first_b.edge)
    assert first_a.metadata[0] is None


def test_bidirectional_subgraph_has_every_edge_both_ways():
    data = random_data()
    sampler = GraphsysSampler.from_data(data, [3, 2], subgraph_type="bidirectional")
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(6)))
    local = edge_set(torch.stack([out.row, out.col]))
    assert local and all((c, r) in local for r, c in local)
    assert out.num_sampled_nodes is None
    glob, orig = out.node[torch.stack([out.row, out.col])], data.edge_index[:, sampler.edge_permutation[out.edge]]
    assert bool(((glob == orig).all(0) | (glob == orig.flip(0)).all(0)).all())


def test_is_sorted_edge_index_needs_no_permutation():
    data = random_data()
    order = torch.sort(data.edge_index[1], stable=True).indices
    sorted_data = Data(x=data.x, y=data.y, edge_index=data.edge_index[:, order], edge_attr=data.edge_attr[order])
    sampler = GraphsysSampler.from_data(sorted_data, [3], is_sorted=True)
    assert sampler.edge_permutation is None
    loader = PygNeighborLoader(sorted_data, [3], batch_size=10, neighbor_sampler=sampler)
    check_batch(next(iter(loader)), sorted_data, torch.arange(10))


def test_csc_matches_the_graph_container():
    data = random_data()
    csr = csc_from_data(data)
    assert csr.num_nodes == data.num_nodes and csr.indices.dtype == torch.int32
    assert torch.equal(data.edge_index[0, csr.perm], csr.indices.long())
    targets = torch.repeat_interleave(torch.arange(data.num_nodes), csr.indptr.diff())
    assert torch.equal(data.edge_index[1, csr.perm], targets)


@pytest.mark.parametrize(
    "edge_index, error",
    [
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), TypeError),
        (torch.tensor([0, 1, 2]), ValueError),
        (torch.tensor([[0, 9], [1, 0]]), IndexError),
        (torch.tensor([[0, -1], [1, 0]]), IndexError),
    ],
)
def test_csc_refuses_bad_edge_index(edge_index, error):
    with pytest.raises(error, match="edge_index"):
        csc_from_edge_index(edge_index, 3)


def test_csc_refuses_an_edge_index_that_is_not_a_tensor():
    with pytest.raises(TypeError, match="edge_index must be a torch.Tensor"):
        csc_from_edge_index([[0, 1], [1, 0]], 2)


def test_neighbor_loader_refuses_what_it_cannot_sample():
    data = random_data()
    with pytest.raises(ValueError, match="disjoint=True cannot be combined with subgraph_type='induced'"):
        NeighborLoader(data, [2], batch_size=4, disjoint=True, subgraph_type="induced", placement="cpu")
    with pytest.raises(ValueError, match="weight_attr='edge_attr': data.edge_attr has shape"):
        NeighborLoader(data, [2], batch_size=4, weight_attr="edge_attr",
                       placement="cpu")  # one weight per edge is expected
    with pytest.raises(ValueError, match="temporal_strategy='latest'; expected 'uniform' or 'last'"):
        NeighborLoader(data, [2], batch_size=4, temporal_strategy="latest", placement="cpu")


def test_data_without_edges_and_zero_hops_sample_the_seeds_alone_as_pyg_does():
    empty = csc_from_data(Data(x=torch.randn(3, 2)))
    assert empty.indptr.tolist() == [0, 0, 0, 0] and empty.indices.numel() == 0
    with pytest.raises(ValueError, match="adj_t"):
        csc_from_data(Data(x=torch.randn(3, 2), adj_t=torch.zeros(3, 3)))
    data = random_data()
    for graph in (data, Data(x=data.x, y=data.y)):
        batch = next(iter(NeighborLoader(graph, num_neighbors=[], batch_size=5, shuffle=False, placement="cpu")))
        assert torch.equal(batch.n_id, torch.arange(5))
        assert batch.edge_index is None if graph.edge_index is None else batch.edge_index.shape == (2, 0)
        assert batch.num_sampled_nodes == [5] and batch.num_sampled_edges == []
        assert torch.equal(batch.x, data.x[:5])


@pytest.mark.parametrize(
    "num_neighbors, error",
    [({("a", "to", "a"): [2]}, ValueError), ([2, 1.5], TypeError), ([True], TypeError)],
)
def test_fanouts_refuse_bad_num_neighbors(num_neighbors, error):
    with pytest.raises(error, match="num_neighbors"):
        fanouts_of(num_neighbors)


def test_subgraph_type_parses_the_three_kinds_and_refuses_others():
    assert [subgraph_type_of(k).value for k in ("directional", "bidirectional", "induced")] == [
        "directional", "bidirectional", "induced"]
    with pytest.raises(ValueError, match="sideways"):
        subgraph_type_of("sideways")


def test_induced_subgraph_holds_every_edge_between_the_sampled_nodes():
    data = random_data()
    for loader in (NeighborLoader(data, [3, 2], batch_size=6, subgraph_type="induced", placement="cpu"),
                   NeighborLoader(data, [3, 2], batch_size=6, directed=False, placement="cpu")):
        batch = next(iter(loader))
        check_batch_without_hops(batch, data)
        inside = set(batch.n_id.tolist())
        expected = [e for e in data.edge_index.t().tolist() if e[0] in inside and e[1] in inside]
        assert sorted(batch.n_id[batch.edge_index].t().tolist()) == sorted(expected)


def test_induced_edges_of_nothing_is_empty():
    csr = csc_from_data(random_data())
    row, col, edge = induced_edges(csr.indptr, csr.indices, torch.empty(0, dtype=torch.long))
    assert row.numel() == col.numel() == edge.numel() == 0


def test_sampler_refuses_wrong_inputs():
    data = random_data()
    with pytest.raises(TypeError, match="sampling.NeighborSampler"):
        GraphsysSampler("not a sampler")
    with pytest.raises(ValueError, match="HeteroData"):
        GraphsysSampler.from_data(HeteroData(), [2])
    with pytest.raises(TypeError, match="Data or a \\(FeatureStore, GraphStore\\)"):
        GraphsysSampler.from_data(data.edge_index, [2])
    sampler = GraphsysSampler.from_data(data, [2])
    with pytest.raises(ValueError, match="temporal"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(3), time=torch.zeros(3)))
    with pytest.raises(ValueError, match="homogeneous"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(3), input_type="paper"))
    with pytest.raises(IndexError):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([data.num_nodes])))


def check_batch_without_hops(batch, data: Data) -> None:
    assert "num_sampled_nodes" not in batch and "num_sampled_edges" not in batch
    assert torch.equal(data.edge_index[:, batch.e_id], batch.n_id[batch.edge_index])
    assert torch.equal(batch.x, data.x[batch.n_id])


def test_wraps_an_existing_sampler():
    data = random_data()
    csr = csc_from_data(data)
    inner = NeighborSampler(csr.indptr, csr.indices, [2, 2], seed=3)
    sampler = GraphsysSampler(inner, edge_permutation=csr.perm)
    assert sampler.num_nodes == data.num_nodes and sampler.device == torch.device("cpu")
    batch = next(iter(PygNeighborLoader(data, [2, 2], batch_size=5, neighbor_sampler=sampler)))
    check_batch(batch, data, torch.arange(5))
    assert "GraphsysSampler" in repr(sampler)
    for given in (None, (csr.indptr, csr.indices)):  # induced subgraphs read the sampler's CSR by default
        induced = GraphsysSampler(inner, subgraph_type="induced", csr=given, edge_permutation=csr.perm)
        batch = next(iter(PygNeighborLoader(data, [2, 2], batch_size=5, neighbor_sampler=induced)))
        check_batch_without_hops(batch, data)


def test_workers_draw_differently_and_repeatably(monkeypatch):
    """Each DataLoader worker reseeds from its worker seed (workers faked: no processes, no flakiness)."""
    data = random_data(num_nodes=200, num_edges=4000)
    seeds = NodeSamplerInput(None, torch.arange(40))
    worker = {"info": None}
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: worker["info"])

    def draw(worker_seed):
        worker["info"] = None if worker_seed is None else SimpleNamespace(seed=worker_seed, id=0)
        return GraphsysSampler.from_data(data, [3], seed=0).sample_from_nodes(seeds).edge

    main, first, again, second = draw(None), draw(11), draw(11), draw(12)
    assert torch.equal(first, again)
    assert not torch.equal(first, second) and not torch.equal(first, main)


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@pytest.mark.parametrize("subgraph_type", ["directional", "bidirectional", "induced"])
def test_gpu_sampler_in_pyg_loader(subgraph_type, placement):
    data = random_data()
    sampler = GraphsysSampler.from_data(data, [4, 3], placement=placement, subgraph_type=subgraph_type, seed=2)
    assert sampler.device.type == "cuda"
    for batch in PygNeighborLoader(data, [4, 3], batch_size=16, neighbor_sampler=sampler):
        assert not batch.edge_index.is_cuda
        glob, orig = batch.n_id[batch.edge_index], data.edge_index[:, batch.e_id]
        assert bool(((glob == orig).all(0) | (glob == orig.flip(0)).all(0)).all())  # bidirectional: reversed too
        assert torch.equal(batch.x, data.x[batch.n_id])



def test_basic_gnn_inference_reads_the_samplers_num_neighbors_and_equals_a_full_forward():
    from torch_geometric.nn import GraphSAGE

    data = random_data()
    loader = NeighborLoader(data, num_neighbors=[-1], batch_size=7, shuffle=False, placement="cpu")
    assert loader.node_sampler.num_neighbors.values == [-1]
    model = GraphSAGE(data.num_features, 8, 2, 3).eval()
    torch.testing.assert_close(model.inference(loader), model(data.x, data.edge_index), rtol=1e-5, atol=1e-5)
    hetero = HeteroData()
    hetero["a"].num_nodes, hetero["b"].num_nodes = 4, 3
    hetero["a", "to", "b"].edge_index = torch.tensor([[0, 1], [2, 0]])
    typed = GraphsysSampler.from_data(hetero, {("a", "to", "b"): [2, 1]})
    assert typed.num_neighbors.values == {"a__to__b": [2, 1]}  # PyG keys its NumNeighbors so
