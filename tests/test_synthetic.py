"""Synthetic graphs: exact counts, symmetry, determinism by seed, caching, learnability."""
import numpy as np
import pytest
import torch
from _datasets import on_one_and_all_threads

from graphsys.datasets import chung_lu, load
from graphsys.datasets.generator import GraphSpec, community_graph
from graphsys.datasets.synthetic import PRESETS, cache_dir


def _edges(graph) -> set:
    return set(map(tuple, graph.to_edge_index().t().tolist()))


def test_chung_lu_exact_symmetric_simple():
    g = chung_lu(3000, 20_000, exponent=2.5, seed=1)
    assert g.num_nodes == 3000 and g.num_edges == 40_000
    edges = _edges(g)
    assert len(edges) == 40_000  # no repeated edges
    assert all((b, a) in edges for a, b in edges) and not any(a == b for a, b in edges)
    assert g.indices.dtype == torch.int32
    rows_sorted = all(bool((g.neighbors(v)[1:] > g.neighbors(v)[:-1]).all()) for v in range(0, 3000, 97))
    assert rows_sorted
    deg = g.in_degrees().double()
    assert deg.max() > 8 * deg.mean()  # heavy tail


def test_chung_lu_deterministic_by_seed():
    a, b, c = chung_lu(2000, 8000, seed=5), chung_lu(2000, 8000, seed=5), chung_lu(2000, 8000, seed=6)
    assert torch.equal(a.indptr, b.indptr) and torch.equal(a.indices, b.indices)
    assert not torch.equal(a.indices, c.indices)


def test_chung_lu_exponent_shapes_the_tail():
    steep = chung_lu(20_000, 60_000, exponent=3.5, seed=0).in_degrees().double()
    flat = chung_lu(20_000, 60_000, exponent=2.1, seed=0).in_degrees().double()
    assert flat.max() > steep.max()
    assert np.percentile(flat.numpy(), 99) > np.percentile(steep.numpy(), 99)


def test_community_graph_directed_exact_and_homophilous():
    spec = GraphSpec(5000, 40_000, (2500, 1500, 1000), exponent=2.3, homophily=0.8, directed=True)
    gen = community_graph(spec, seed=3)
    assert gen.graph.num_edges == 40_000 and gen.classes.shape == (5000,)
    assert np.bincount(gen.classes).tolist() == [2500, 1500, 1000]
    ei = gen.graph.to_edge_index().numpy()
    same = (gen.classes[ei[0]] == gen.classes[ei[1]]).mean()
    assert 0.7 < same < 0.95
    assert not (ei[0] == ei[1]).any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_nodes=1, num_edges=0, class_sizes=(1,)), "num_nodes"),
        (dict(num_nodes=10, num_edges=-1, class_sizes=(10,)), "num_edges"),
        (dict(num_nodes=10, num_edges=1000, class_sizes=(10,)), "too many"),
        (dict(num_nodes=10, num_edges=5, class_sizes=(10,), exponent=2.0), "exponent"),
        (dict(num_nodes=10, num_edges=5, class_sizes=(5, 4)), "class_sizes"),
        (dict(num_nodes=10, num_edges=5, class_sizes=(10,), homophily=1.5), "homophily"),
        (dict(num_nodes=10, num_edges=5, class_sizes=(10,), max_degree=0), "max_degree"),
    ],
)
def test_graph_spec_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GraphSpec(**kwargs)


@pytest.mark.parametrize("name, scale", [("synthetic-arxiv", 0.01), ("synthetic-products", 0.001)])
def test_presets_at_scale(name, scale):
    preset = PRESETS[name].at(scale)
    ds = load(name, scale=scale, seed=0)
    assert ds.num_nodes == preset.num_nodes == round(PRESETS[name].num_nodes * scale)
    directed_edges = preset.num_edges if preset.directed else 2 * preset.num_edges
    assert ds.graph.num_edges == directed_edges
    assert ds.num_features == preset.num_features and ds.x.dtype == torch.float32
    assert ds.num_classes == preset.num_classes and set(ds.y.unique().tolist()) == set(range(preset.num_classes))
    sizes = (ds.train_idx.numel(), ds.val_idx.numel(), ds.test_idx.numel())
    assert sum(sizes) == ds.num_nodes and sizes[:2] == preset.split[:2]
    all_idx = torch.cat([ds.train_idx, ds.val_idx, ds.test_idx])
    assert all_idx.unique().numel() == ds.num_nodes


def test_papers_preset_labels_only_the_split():
    ds = load("synthetic-papers100m", scale=2e-5, seed=0)
    preset = PRESETS["synthetic-papers100m"].at(2e-5)
    assert ds.x.dtype == torch.float16 and ds.num_features == 128 and ds.num_classes == 172
    assert ds.graph.num_edges == preset.num_edges
    labelled = torch.cat([ds.train_idx, ds.val_idx, ds.test_idx])
    assert (ds.y[labelled] >= 0).all()
    assert int((ds.y >= 0).sum()) == labelled.numel() < ds.num_nodes // 10


def test_synthetic_deterministic_by_seed():
    a = load("synthetic-arxiv", scale=0.005, seed=7)
    b = load("synthetic-arxiv", scale=0.005, seed=7)
    c = load("synthetic-arxiv", scale=0.005, seed=8)
    for field in ("x", "y", "train_idx", "val_idx", "test_idx"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert torch.equal(a.graph.indices, b.graph.indices)
    assert not torch.equal(a.x, c.x) and not torch.equal(a.graph.indices, c.graph.indices)


def test_cache_writes_once_and_reopens_with_mmap(tmp_path):
    fresh = load("synthetic-arxiv", root=tmp_path, scale=0.005, seed=2)
    folder = tmp_path / "synthetic-arxiv_scale0.005_seed2"
    assert (folder / "x.npy").is_file() and (folder / "graph" / "indices.npy").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    mtime = (folder / "x.npy").stat().st_mtime_ns
    again = load("synthetic-arxiv", root=tmp_path, scale=0.005, seed=2)
    assert (folder / "x.npy").stat().st_mtime_ns == mtime
    in_memory = load("synthetic-arxiv", scale=0.005, seed=2)
    for ds in (fresh, again):
        assert torch.equal(ds.x, in_memory.x) and torch.equal(ds.y, in_memory.y)
        assert torch.equal(ds.graph.indices, in_memory.graph.indices)
    assert isinstance(np.load(folder / "x.npy", mmap_mode="r"), np.memmap)


def test_cache_folders_of_close_scales_differ(tmp_path):
    # 6 significant digits named 1/3 and 0.333333 alike: the second scale reopened the first's data
    assert cache_dir(tmp_path, "synthetic-arxiv", 1 / 3, 0) != cache_dir(tmp_path, "synthetic-arxiv", 0.333333, 0)
    assert cache_dir(tmp_path, "synthetic-arxiv", 0.01, 4).name == "synthetic-arxiv_scale0.01_seed4"
    assert cache_dir(tmp_path, "synthetic-arxiv", 1, 0).name == "synthetic-arxiv_scale1_seed0"


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="scale must be a positive number, got 0"):
        load("synthetic-arxiv", scale=0)
    with pytest.raises(TypeError, match="no options"):
        load("synthetic-arxiv", scale=0.01, homophily=0.2)
    with pytest.raises(TypeError, match="seed must be an int"):
        load("synthetic-arxiv", scale=0.01, seed="a")


def _train(model_fn, ds, epochs: int) -> float:
    torch.manual_seed(0)
    model, forward = model_fn()
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, test_at_best = -1.0, 0.0
    for epoch in range(epochs):
        model.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward()[ds.train_idx], ds.y[ds.train_idx]).backward()
        opt.step()
        if epoch % 5 == 4:
            model.eval()
            with torch.no_grad():
                pred = forward().argmax(dim=1)
            val = (pred[ds.val_idx] == ds.y[ds.val_idx]).float().mean().item()
            if val > best_val:
                best_val = val
                test_at_best = (pred[ds.test_idx] == ds.y[ds.test_idx]).float().mean().item()
    return test_at_best


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread (and do not spin-wait on a busy CI machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_gcn_beats_mlp_and_majority(one_thread):
    from torch_geometric.nn import GCNConv

    ds = load("synthetic-arxiv", scale=0.01, seed=0)
    x, edge_index = ds.x, ds.graph.to_edge_index()
    hidden = 32

    def gcn():
        convs = torch.nn.ModuleList([GCNConv(ds.num_features, hidden, cached=True),
                                     GCNConv(hidden, ds.num_classes, cached=True)])

        def forward():
            h = torch.nn.functional.dropout(torch.relu(convs[0](x, edge_index)), 0.5, convs.training)
            return convs[1](h, edge_index)

        return convs, forward

    def mlp():
        net = torch.nn.Sequential(torch.nn.Linear(ds.num_features, hidden), torch.nn.ReLU(),
                                  torch.nn.Dropout(0.5), torch.nn.Linear(hidden, ds.num_classes))
        return net, lambda: net(x)

    gcn_acc, mlp_acc = _train(gcn, ds, 40), _train(mlp, ds, 40)
    majority = (ds.y[ds.test_idx] == torch.bincount(ds.y[ds.train_idx]).argmax()).float().mean().item()
    assert gcn_acc > mlp_acc + 0.1 and gcn_acc > majority + 0.4 and gcn_acc < 0.99, (gcn_acc, mlp_acc, majority)


@pytest.mark.parametrize("directed", [True, False])
def test_impossible_edge_count_raises(directed):
    # Five classes of two nodes with every edge inside its class: each node has one possible
    # neighbour, far fewer than the edges asked for.
    edges = 40 if directed else 20
    spec = GraphSpec(10, edges, (2, 2, 2, 2, 2), homophily=1.0, directed=directed)
    with pytest.raises(RuntimeError, match=f"could not place {edges} distinct"):
        community_graph(spec, seed=0)


def test_same_graph_on_any_thread_count():
    one, many = on_one_and_all_threads(lambda: load("synthetic-products", scale=0.0005, seed=9))
    assert torch.equal(one.graph.indptr, many.graph.indptr) and torch.equal(one.graph.indices, many.graph.indices)
    assert torch.equal(one.x, many.x) and torch.equal(one.y, many.y)
