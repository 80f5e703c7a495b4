"""graphsys.pyg's weighted, disjoint and temporal sampling, as PyG's loaders expose them."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data, HeteroData

from graphsys.pyg import GraphsysSampler, LinkNeighborLoader, NeighborLoader


def _weighted_chain():
    # node 2 has in-neighbours 1 (weight 0) and 3; node 3 has 4; node 1 has 0 (weight 0)
    edge_index = torch.tensor([[1, 3, 0, 4], [2, 2, 1, 3]])
    return edge_index, torch.tensor([0.0, 1.0, 0.0, 1.0])


def test_weighted_loader_never_takes_an_edge_of_weight_zero():
    edge_index, weight = _weighted_chain()
    data = Data(num_nodes=5, edge_index=edge_index, edge_weight=weight)
    for _ in range(5):
        batch = next(iter(NeighborLoader(data, [1, 1], input_nodes=torch.tensor([2]),
                                         weight_attr="edge_weight", placement="cpu")))
        assert batch.n_id.tolist() == [2, 3, 4]
        assert (batch.edge_weight > 0).all()


def test_weighted_hetero_loader_weights_only_the_edge_types_that_have_them():
    data = HeteroData()
    data["p"].num_nodes, data["a"].num_nodes = 3, 3
    data["a", "w", "p"].edge_index = torch.tensor([[0, 1, 2], [0, 0, 0]])
    data["a", "w", "p"].edge_weight = torch.tensor([0.0, 0.0, 2.0])
    data["p", "c", "p"].edge_index = torch.tensor([[1, 2], [0, 0]])
    batch = next(iter(NeighborLoader(data, [2], input_nodes=("p", torch.tensor([0])),
                                     weight_attr="edge_weight", placement="cpu")))
    assert batch["a"].n_id.tolist() == [2]
    assert sorted(batch["p"].n_id.tolist()) == [0, 1, 2]


def test_weighted_frequencies_through_the_loader():
    # node 0 has in-neighbours 1, 2, 3 with weights 1, 3, 6: one draw each time
    data = Data(num_nodes=4, edge_index=torch.tensor([[1, 2, 3], [0, 0, 0]]), w=torch.tensor([1.0, 3.0, 6.0]))
    torch.manual_seed(0)
    counts = torch.zeros(4)
    loader = NeighborLoader(data, [1], input_nodes=torch.tensor([0] * 2000), batch_size=1000,
                            weight_attr="w", replace=True, placement="cpu")
    for batch in loader:
        counts.index_add_(0, batch.n_id[batch.edge_index[0]], torch.ones(batch.num_edges))
    assert abs(counts[3] / 2000 - 0.6) < 0.05 and abs(counts[1] / 2000 - 0.1) < 0.03


def test_weight_attr_errors_name_the_attribute():
    edge_index, weight = _weighted_chain()
    data = Data(num_nodes=5, edge_index=edge_index, edge_weight=weight)
    with pytest.raises(ValueError, match=r"weight_attr='weight' is not an edge attribute of the Data; "
                                         r"edge attributes: \['edge_weight'\]"):
        NeighborLoader(data, [1], weight_attr="weight", placement="cpu")
    data.edge_weight = -weight
    with pytest.raises(ValueError, match=r"data.edge_weight\[1\] = -1.0; edge weights must be finite and >= 0"):
        NeighborLoader(data, [1], weight_attr="edge_weight", placement="cpu")
    hetero = HeteroData()
    hetero["p"].num_nodes = 2
    hetero["p", "c", "p"].edge_index = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="weight_attr='w' is not an edge attribute of any edge type"):
        NeighborLoader(hetero, [1], input_nodes="p", weight_attr="w", placement="cpu")


def test_weighted_stores_are_refused():
    from torch_geometric.testing import MyFeatureStore, MyGraphStore

    feature_store, graph_store = MyFeatureStore(), MyGraphStore()
    feature_store.put_tensor(torch.zeros(2, 1), group_name=None, attr_name="x", index=None)
    graph_store.put_edge_index(torch.tensor([[0, 1], [1, 0]]), edge_type=None, layout="coo", size=(2, 2))
    stores = (feature_store, graph_store)
    with pytest.raises(ValueError, match=r"weight_attr='w' needs a Data or HeteroData"):
        GraphsysSampler.from_data(stores, [1], weight_attr="w")


def _ring(n=8):
    src = torch.arange(n)
    return Data(x=torch.arange(n).view(-1, 1).float(), edge_index=torch.stack([src, (src + 1) % n]))


def test_disjoint_node_loader_gives_every_seed_its_own_tree():
    data = _ring()
    loader = NeighborLoader(data, [1, 1], input_nodes=torch.tensor([2, 3, 2]), batch_size=3, disjoint=True,
                            placement="cpu")
    batch = next(iter(loader))
    # 3 <- 2 <- 1 in the ring: tree of seed 3 holds 2 again although 2 is a seed of its own
    assert batch.n_id.tolist() == [2, 3, 2, 1, 2, 1, 0, 1, 0]
    assert batch.batch.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])


def test_disjoint_hetero_node_loader_has_a_batch_per_node_type():
    data = HeteroData()
    data["p"].x = torch.zeros(3, 1)
    data["a"].x = torch.zeros(2, 1)
    data["a", "w", "p"].edge_index = torch.tensor([[0, 0, 1], [0, 1, 2]])
    loader = NeighborLoader(data, [-1], input_nodes=("p", torch.tensor([0, 1])), batch_size=2, disjoint=True,
                            placement="cpu")
    batch = next(iter(loader))
    assert batch["p"].batch.tolist() == [0, 1]
    assert batch["a"].n_id.tolist() == [0, 0] and batch["a"].batch.tolist() == [0, 1]


@pytest.mark.parametrize("mode", ["binary", "triplet"])
def test_disjoint_link_loader_places_the_endpoints_first(mode):
    data = _ring(20)
    loader = LinkNeighborLoader(data, [2], batch_size=4, disjoint=True, neg_sampling=dict(mode=mode, amount=2),
                                edge_label_index=data.edge_index[:, :8], placement="cpu")
    for batch in loader:
        assert int(batch.batch.max()) == 3
        if mode == "triplet":
            assert batch.src_index.tolist() == [0, 1, 2, 3] and batch.dst_pos_index.tolist() == [4, 5, 6, 7]
            assert batch.dst_neg_index.shape == (4, 2)
            assert torch.equal(batch.batch[batch.dst_neg_index], torch.arange(4).view(-1, 1).expand(4, 2))
        else:
            assert batch.edge_label_index.tolist() == [list(range(12)), list(range(12, 24))]
            assert batch.edge_label.tolist() == [1.0] * 4 + [0.0] * 8
        assert torch.equal(batch.x[batch.edge_label_index[0] if mode == "binary" else batch.src_index].view(-1)[:4],
                           data.edge_index[0, batch.input_id].float())


def test_temporal_node_loader_with_node_times_never_samples_a_later_node():
    data = _ring(12)
    data.time = torch.tensor([5, 3, 8, 1, 0, 9, 2, 2, 7, 4, 6, 1])
    for strategy in ("uniform", "last"):
        loader = NeighborLoader(data, [2, 2], batch_size=4, time_attr="time", temporal_strategy=strategy,
                                placement="cpu")
        for batch in loader:
            seed_time = batch.time[: batch.batch_size]
            assert (batch.time <= seed_time[batch.batch]).all()


def test_temporal_loader_with_edge_times_and_input_time():
    data = _ring(6)
    data.edge_time = torch.tensor([0, 1, 2, 3, 4, 5])
    loader = NeighborLoader(data, [-1, -1], time_attr="edge_time", input_time=torch.full((6,), 2),
                            batch_size=6, placement="cpu")
    batch = next(iter(loader))
    assert batch.edge_time.numel() == batch.num_edges and bool((batch.edge_time <= 2).all())
    with pytest.raises(ValueError, match="give input_time"):
        next(iter(NeighborLoader(data, [1], time_attr="edge_time", batch_size=2, placement="cpu")))


def test_temporal_link_loader_negatives_are_no_later_than_their_link():
    data = _ring(20)
    data.time = torch.arange(20)
    links = data.edge_index[:, 5:15]
    label_time = torch.maximum(data.time[links[0]], data.time[links[1]])
    loader = LinkNeighborLoader(data, [2], edge_label_index=links, edge_label_time=label_time, time_attr="time",
                                batch_size=5, neg_sampling="binary", placement="cpu")
    for batch in loader:
        assert batch.edge_label_time.numel() == 10  # positives and their negatives
        ends = batch.n_id[batch.edge_label_index]
        assert (data.time[ends] <= batch.edge_label_time).all()
        assert (batch.time <= batch.edge_label_time[batch.batch]).all()  # tree i: link i % 5's time


def test_temporal_errors_name_the_attribute():
    data = _ring(4)
    with pytest.raises(ValueError, match="The time attribute 'time' is neither a node-level or edge-level"):
        NeighborLoader(data, [1], time_attr="time", placement="cpu")
    data.time = torch.arange(4)
    with pytest.raises(ValueError, match="cannot be combined with subgraph_type='induced'"):
        NeighborLoader(data, [1], time_attr="time", subgraph_type="induced", placement="cpu")
