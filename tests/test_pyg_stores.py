"""UnifiedFeatureStore and CSRGraphStore: PyG's store contracts, and NeighborLoader((feature_store, graph_store))."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader as PygNeighborLoader
from torch_geometric.testing.graph_store import MyGraphStore

from graphsys import Graph
from graphsys.pyg import CSRGraphStore, GraphsysSampler, NeighborLoader, UnifiedFeatureStore
from zerocopy import UnifiedTensor


def random_data(num_nodes: int = 40, num_edges: int = 200) -> Data:
    g = torch.Generator().manual_seed(1)
    return Data(
        x=torch.randn(num_nodes, 6, generator=g),
        y=torch.randint(0, 4, (num_nodes,), generator=g),
        edge_index=torch.randint(0, num_nodes, (2, num_edges), generator=g),
    )


def edge_set(edge_index: torch.Tensor) -> set:
    return set(map(tuple, edge_index.t().tolist()))


def test_neighbor_loader_over_feature_and_graph_store():
    data = random_data()
    stores = (UnifiedFeatureStore.from_data(data), CSRGraphStore.from_edge_index(data.edge_index, data.num_nodes))
    seeds = torch.arange(0, 40, 3)
    loader = NeighborLoader(stores, num_neighbors=[4, 2], input_nodes=seeds, batch_size=5)
    got = []
    for batch in loader:
        got += batch.n_id[: batch.batch_size].tolist()
        assert torch.equal(batch.x, data.x[batch.n_id]) and torch.equal(batch.y, data.y[batch.n_id])
        assert edge_set(batch.n_id[batch.edge_index]) <= edge_set(data.edge_index)
        # edge ids index the edge_index as it was given (the store sorts its CSC by target)
        assert torch.equal(data.edge_index[:, batch.e_id], batch.n_id[batch.edge_index])
        assert sum(batch.num_sampled_nodes) == batch.n_id.numel()
    assert got == seeds.tolist()


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_graph_store_keeps_the_order_edges_were_put_in(layout):
    data = random_data()
    row, col = data.edge_index
    if layout == "coo":
        given = (row, col)
    else:  # CSR sorted by source, sources' edges in their given order
        order = torch.sort(row, stable=True).indices
        rowptr = torch.zeros(41, dtype=torch.int64)
        rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=40), 0)
        given, row, col = (rowptr, col[order]), row[order], col[order]
    store = CSRGraphStore()
    store.put_edge_index(given, edge_type=None, layout=layout, size=(40, 40))
    indices, colptr, perm = store.csc()
    targets = torch.repeat_interleave(torch.arange(40), colptr[1:] - colptr[:-1])
    assert perm is not None
    assert torch.equal(row[perm], indices.long()) and torch.equal(col[perm], targets)
    back = store.get_edge_index(edge_type=None, layout="coo")
    assert torch.equal(back[0], row) and torch.equal(back[1], col)
    sorted_store = CSRGraphStore()
    sorted_store.put_edge_index((indices.long(), targets), edge_type=None, layout="coo", size=(40, 40))
    assert sorted_store.edge_permutation is None


def test_pyg_loader_over_stores_with_a_foreign_graph_store():
    data = random_data()
    graph_store = MyGraphStore()
    graph_store.put_edge_index(data.edge_index, edge_type=None, layout="coo", size=(40, 40))
    feature_store = UnifiedFeatureStore()
    feature_store.put_tensor(data.x, group_name=None, attr_name="x", index=None)
    sampler = GraphsysSampler.from_data((feature_store, graph_store), [3])
    loader = PygNeighborLoader((feature_store, graph_store), [3], input_nodes=torch.arange(8), batch_size=4,
                               neighbor_sampler=sampler)
    for batch in loader:
        assert torch.equal(batch.x, data.x[batch.n_id])
        assert edge_set(batch.n_id[batch.edge_index]) <= edge_set(data.edge_index)


def test_feature_store_gets_rows_by_every_index_kind():
    x = torch.arange(20.0).view(10, 2)
    store = UnifiedFeatureStore()
    store.put_tensor(x, group_name=None, attr_name="x", index=None)
    store.put_tensor(UnifiedTensor(x * 10), group_name=None, attr_name="z", index=None)
    store["paper", "w", None] = np.arange(10)
    get = lambda index, name="x": store.get_tensor(group_name=None, attr_name=name, index=index)  # noqa: E731
    assert torch.equal(get(torch.tensor([3, 1])), x[[3, 1]])
    assert torch.equal(get(torch.tensor([3, 1]), "z"), x[[3, 1]] * 10)
    assert torch.equal(get(np.array([2])), x[[2]])
    assert torch.equal(get(4), x[[4]])
    assert torch.equal(get(slice(2, 5)), x[2:5])
    assert torch.equal(get(None), x)
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[0, 9]] = True
    assert torch.equal(get(mask), x[[0, 9]])
    assert torch.equal(store.get_tensor("paper", "w", torch.tensor([1])), torch.tensor([1]))
    assert store.get_tensor_size(group_name=None, attr_name="z") == (10, 2)
    assert store.get_tensor_size(group_name=None, attr_name="nope") is None
    stored = {(a.group_name, a.attr_name) for a in store.get_all_tensor_attrs()}
    assert stored == {(None, "x"), (None, "z"), ("paper", "w")}


def test_multi_get_batches_tensors_and_unified_tensors():
    x, y = torch.randn(10, 3), torch.arange(10)
    store = UnifiedFeatureStore()
    store.put_tensor(UnifiedTensor(x), group_name=None, attr_name="x", index=None)
    store.put_tensor(y, group_name=None, attr_name="y", index=None)
    index = torch.tensor([9, 0, 4])
    from torch_geometric.data import TensorAttr

    out = store.multi_get_tensor([TensorAttr(None, "x", index), TensorAttr(None, "y", index)])
    assert torch.equal(out[0], x[index]) and torch.equal(out[1], y[index])
    with pytest.raises(KeyError, match="missing"):
        store.multi_get_tensor([TensorAttr(None, "missing", index)])
    with pytest.raises(KeyError, match="missing"):
        store.get_tensor(group_name=None, attr_name="missing", index=index)


def test_feature_store_remove_and_repr():
    store = UnifiedFeatureStore()
    store.put_tensor(torch.zeros(3, 2), group_name=None, attr_name="x", index=None)
    assert "x: (3, 2)" in repr(store)
    assert store.remove_tensor(group_name=None, attr_name="x", index=None) is True
    assert store.remove_tensor(group_name=None, attr_name="x", index=None) is False
    assert store.get_all_tensor_attrs() == []


def test_feature_store_refuses_bad_input():
    store = UnifiedFeatureStore()
    store.put_tensor(torch.zeros(3, 2), group_name=None, attr_name="x", index=None)
    with pytest.raises(ValueError, match="whole tables"):
        store.put_tensor(torch.zeros(3, 2), group_name=None, attr_name="x", index=torch.arange(3))
    with pytest.raises(TypeError, match="torch.Tensor or a zerocopy.UnifiedTensor"):
        store.put_tensor([1, 2, 3], group_name=None, attr_name="l", index=None)
    with pytest.raises(ValueError, match="0-d"):
        store.put_tensor(torch.tensor(1.0), group_name=None, attr_name="s", index=None)
    with pytest.raises(IndexError, match="node id 3"):
        store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([0, 3]))
    with pytest.raises(IndexError, match="node id -1"):
        store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([-1]))
    with pytest.raises(TypeError, match="integer"):
        store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([0.5]))
    with pytest.raises(IndexError, match="3 entries"):
        store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([True]))
    from torch_geometric.data import TensorAttr

    with pytest.raises(IndexError, match="node id 5"):
        store.multi_get_tensor([TensorAttr(None, "x", torch.tensor([5]))])
    with pytest.raises(KeyError, match="w"):
        UnifiedFeatureStore.from_data(Data(x=torch.zeros(3, 1)), attrs=("x", "w"))


@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
def test_graph_store_round_trips_every_layout(layout):
    data = random_data()
    graph = Graph.from_edge_index(data.edge_index, data.num_nodes)
    source = CSRGraphStore(graph)
    given = source.get_edge_index(edge_type=None, layout=layout)
    store = CSRGraphStore()
    assert store.put_edge_index(given, edge_type=None, layout=layout, size=(40, 40))
    assert torch.equal(store.graph.indptr, graph.indptr) and torch.equal(store.graph.indices, graph.indices)
    row, col = store.get_edge_index(edge_type=None, layout="coo")
    assert edge_set(torch.stack([row, col])) == edge_set(data.edge_index)
    indices, indptr, perm = store.csc()
    assert indices is store.graph.indices and (perm is None) == (layout != "csr")


def test_graph_store_attrs_remove_and_errors():
    store = CSRGraphStore()
    assert store.get_all_edge_attrs() == []
    with pytest.raises(ValueError, match="empty"):
        store.graph
    with pytest.raises(KeyError):
        store.get_edge_index(edge_type=None, layout="coo")
    store.put_edge_index(torch.tensor([[0, 1], [1, 2]]), edge_type=None, layout="coo", size=(3, 3))
    (attr,) = store.get_all_edge_attrs()
    assert attr.size == (3, 3) and attr.layout.value == "csc"
    with pytest.raises(ValueError, match="homogeneous"):
        store.put_edge_index(torch.tensor([[0], [1]]), edge_type=("a", "to", "b"), layout="coo")
    with pytest.raises(ValueError, match="square"):
        store.put_edge_index(torch.tensor([[0], [1]]), edge_type=None, layout="coo", size=(3, 4))
    with pytest.raises(ValueError, match="size"):
        store.put_edge_index((torch.tensor([0]), torch.tensor([0, 0, 1])), edge_type=None, layout="csc", size=(3, 3))
    with pytest.raises(TypeError, match="graphsys.Graph"):
        CSRGraphStore(torch.zeros(3))
    assert store.remove_edge_index(edge_type=("a", "to", "b"), layout="coo") is False
    assert store.remove_edge_index(edge_type=None, layout="csc") is True
    assert store.get_all_edge_attrs() == []


def test_sampler_refuses_an_empty_graph_store_and_types_a_typed_one():
    feature_store = UnifiedFeatureStore()
    with pytest.raises(ValueError, match="no edge_index"):
        GraphsysSampler.from_data((feature_store, MyGraphStore()), [2])
    hetero = MyGraphStore()
    hetero.put_edge_index(torch.tensor([[0], [1]]), edge_type=("a", "to", "b"), layout="coo", size=(2, 2))
    sampler = GraphsysSampler.from_data((feature_store, hetero), [2]).sampler
    assert sampler.is_hetero and sampler.edge_types == (("a", "to", "b"),)
    assert sampler.num_nodes == {"a": 2, "b": 2}


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
def test_gpu_stores_keep_the_batch_on_the_gpu(placement):
    data = random_data()
    graph = Graph.from_edge_index(data.edge_index, data.num_nodes).to(placement)
    stores = (UnifiedFeatureStore.from_data(data), CSRGraphStore(graph))
    loader = NeighborLoader(stores, num_neighbors=[4, 2], input_nodes=torch.arange(20), batch_size=8)
    for batch in loader:
        assert batch.x.is_cuda and batch.edge_index.is_cuda and batch.n_id.is_cuda
        n_id = batch.n_id.cpu()
        assert torch.equal(batch.x.cpu(), data.x[n_id]) and torch.equal(batch.y.cpu(), data.y[n_id])
        assert edge_set(n_id[batch.edge_index.cpu()]) <= edge_set(data.edge_index)


@pytest.mark.gpu
def test_unified_table_checks_gpu_ids():
    """gather_rows skips the range check of a GPU index; get_tensor must not return zero rows."""
    store = UnifiedFeatureStore()
    store.put_tensor(UnifiedTensor(torch.ones(3, 2)), group_name=None, attr_name="x", index=None)
    assert torch.equal(store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([2], device="cuda")).cpu(),
                       torch.ones(1, 2))
    with pytest.raises(IndexError, match="row id 3"):
        store.get_tensor(group_name=None, attr_name="x", index=torch.tensor([0, 3], device="cuda"))
    from torch_geometric.data import TensorAttr

    with pytest.raises(IndexError, match="row id 5"):
        store.multi_get_tensor([TensorAttr(None, "x", torch.tensor([5], device="cuda"))])


@pytest.mark.gpu
def test_gpu_sampler_over_cpu_data_answers_on_the_cpu():
    data = random_data()
    sampler = GraphsysSampler.from_data(data, [3, 3], placement="cuda")
    assert sampler.device.type == "cuda"
    batch = next(iter(PygNeighborLoader(data, [3, 3], batch_size=8, neighbor_sampler=sampler)))
    assert not batch.x.is_cuda and torch.equal(batch.x, data.x[batch.n_id])
    assert torch.equal(data.edge_index[:, batch.e_id], batch.n_id[batch.edge_index])
