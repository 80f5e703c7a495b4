"""Link prediction batches: graphsys.pyg.LinkNeighborLoader and PyG's own with our sampler."""
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import LinkNeighborLoader as PygLinkNeighborLoader
from torch_geometric.sampler import EdgeSamplerInput, NegativeSampling

from graphsys.pyg import GraphsysSampler, LinkNeighborLoader
from graphsys.pyg.edges import link_seeds


def random_data(num_nodes: int = 50, num_edges: int = 300) -> Data:
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    return Data(x=torch.randn(num_nodes, 4, generator=g), edge_index=edge_index)


def edge_set(edge_index: torch.Tensor) -> set:
    return set(map(tuple, edge_index.t().tolist()))


def check_binary(batch, data: Data, num_pos: int, ratio: int) -> None:
    label_index = batch.edge_label_index
    assert label_index.shape == (2, num_pos * (1 + ratio))
    assert int(label_index.min()) >= 0 and int(label_index.max()) < batch.n_id.numel()
    glob = batch.n_id[label_index]
    assert edge_set(glob[:, :num_pos]) <= edge_set(data.edge_index)
    assert int(glob.max()) < data.num_nodes
    assert torch.equal(batch.edge_label, torch.cat([torch.ones(num_pos), torch.zeros(num_pos * ratio)]))
    assert edge_set(batch.n_id[batch.edge_index]) <= edge_set(data.edge_index)
    assert torch.equal(batch.x, data.x[batch.n_id])


def test_binary_negatives_give_valid_edge_label_index():
    data = random_data()
    torch.manual_seed(0)
    loader = LinkNeighborLoader(data, num_neighbors=[3, 2], batch_size=16, neg_sampling="binary",
                                shuffle=True, placement="cpu")
    batches = list(loader)
    assert len(batches) == 300 // 16 + 1
    for batch in batches[:-1]:
        check_binary(batch, data, 16, 1)
    check_binary(batches[-1], data, 300 % 16, 1)


def test_pyg_link_loader_with_our_sampler_and_ratio_two():
    data = random_data()
    sampler = GraphsysSampler.from_data(data, [3], seed=5)
    loader = PygLinkNeighborLoader(
        data, [3], edge_label_index=data.edge_index[:, :40], batch_size=20,
        neg_sampling_ratio=2, neighbor_sampler=sampler,
    )
    for batch in loader:
        check_binary(batch, data, 20, 2)


def test_triplet_negatives():
    data = random_data()
    loader = LinkNeighborLoader(data, [2], batch_size=10, neg_sampling=NegativeSampling("triplet", 3), placement="cpu")
    batch = next(iter(loader))
    n = batch.n_id.numel()
    assert batch.src_index.shape == (10,) and batch.dst_pos_index.shape == (10,)
    assert batch.dst_neg_index.shape == (10, 3) and int(batch.dst_neg_index.max()) < n
    pos = torch.stack([batch.n_id[batch.src_index], batch.n_id[batch.dst_pos_index]])
    assert torch.equal(pos, data.edge_index[:, :10])


def test_existing_labels_are_shifted_and_negatives_get_zero():
    data = random_data()
    labels = torch.randint(0, 3, (data.num_edges,))
    loader = LinkNeighborLoader(data, [2], edge_label=labels, batch_size=10, neg_sampling="binary", placement="cpu")
    batch = next(iter(loader))
    assert torch.equal(batch.edge_label[:10], labels[:10] + 1)
    assert bool((batch.edge_label[10:] == 0).all())


def test_without_negatives_labels_stay_none():
    data = random_data()
    batch = next(iter(LinkNeighborLoader(data, [2], batch_size=10, placement="cpu")))
    assert "edge_label" not in batch
    assert torch.equal(batch.n_id[batch.edge_label_index], data.edge_index[:, :10])


def test_weighted_negatives_follow_the_weights():
    data = random_data()
    weight = torch.zeros(data.num_nodes)
    weight[7] = 1.0
    neg = NegativeSampling("binary", 2, src_weight=weight, dst_weight=weight)
    seeds = link_seeds(EdgeSamplerInput(None, data.edge_index[0, :5], data.edge_index[1, :5]), neg, data.num_nodes,
                       torch.Generator().manual_seed(0))
    glob = seeds.node[seeds.metadata[1]]
    assert bool((glob[:, 5:] == 7).all())


def test_negatives_are_seeded():
    data = random_data()
    index = EdgeSamplerInput(None, data.edge_index[0, :8], data.edge_index[1, :8])
    neg = NegativeSampling("binary")
    a = link_seeds(index, neg, data.num_nodes, torch.Generator().manual_seed(3))
    b = link_seeds(index, neg, data.num_nodes, torch.Generator().manual_seed(3))
    assert torch.equal(a.node, b.node) and torch.equal(a.metadata[1], b.metadata[1])


def test_link_seeds_refuse_bad_input():
    data = random_data()
    gen = torch.Generator().manual_seed(0)
    src, dst = data.edge_index[0, :4], data.edge_index[1, :4]
    with pytest.raises(ValueError, match=r"temporal links \(edge_label_time\) need a temporal sampler"):
        link_seeds(EdgeSamplerInput(None, src, dst, time=torch.zeros(4)), None, data.num_nodes, gen)
    with pytest.raises(ValueError, match="homogeneous"):
        link_seeds(EdgeSamplerInput(None, src, dst, input_type=("a", "to", "b")), None, data.num_nodes, gen)
    with pytest.raises(ValueError, match="triplet"):
        link_seeds(EdgeSamplerInput(None, src, dst, label=torch.ones(4)), NegativeSampling("triplet"),
                   data.num_nodes, gen)
    with pytest.raises(ValueError, match="dst_weight has 3 entries"):
        link_seeds(EdgeSamplerInput(None, src, dst), NegativeSampling("binary", dst_weight=torch.ones(3)),
                   data.num_nodes, gen)


@pytest.mark.parametrize(
    "option",
    [{"disjoint": True, "subgraph_type": "induced"}, {"time_attr": "t", "edge_label_time": torch.zeros(300)},
     {"weight_attr": "w"},
     {"temporal_strategy": "latest"}, {"subgraph_type": "sideways"}],
)
def test_loader_refuses_what_it_cannot_sample(option):
    with pytest.raises(ValueError):
        LinkNeighborLoader(random_data(), [2], batch_size=4, **option)
