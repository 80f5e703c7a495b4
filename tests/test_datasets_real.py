"""Real datasets against their published counts (copies of ../shared/data)."""
import pytest
import torch

from graphsys.datasets import NodeDataset, load, names


def _assert_symmetric(graph) -> None:
    ei = graph.to_edge_index()
    fwd = set(map(tuple, ei.t().tolist()))
    assert fwd == {(b, a) for a, b in fwd}
    assert not any(a == b for a, b in fwd)


@pytest.mark.parametrize(
    "name, nodes, edges, features, classes, split",
    [
        ("cora", 2708, 10556, 1433, 7, (140, 500, 1000)),
        ("citeseer", 3327, 9104, 3703, 6, (120, 500, 1000)),
    ],
)
def test_planetoid_counts(shared_data, name, nodes, edges, features, classes, split):
    root = shared_data(f"planetoid/{name}").parent
    ds = load(name, root=root)
    assert isinstance(ds, NodeDataset) and ds.name == name
    assert (ds.num_nodes, ds.graph.num_edges, ds.num_features, ds.num_classes) == (nodes, edges, features, classes)
    assert (ds.train_idx.numel(), ds.val_idx.numel(), ds.test_idx.numel()) == split
    assert ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64 and not ds.multilabel
    _assert_symmetric(ds.graph)
    # The standard split: the first 20 * classes nodes train, the next 500 validate.
    assert ds.train_idx.tolist() == list(range(split[0]))
    assert ds.val_idx.tolist() == list(range(split[0], split[0] + 500))
    labelled = torch.cat([ds.train_idx, ds.val_idx, ds.test_idx])
    assert (ds.y[labelled] >= 0).all()
    assert torch.bincount(ds.y[ds.train_idx]).tolist() == [20] * classes


def test_citeseer_nodes_without_raw_rows_are_unlabelled(shared_data):
    ds = load("CiteSeer", root=shared_data("planetoid/citeseer").parent)
    unlabelled = (ds.y == -1).nonzero().view(-1)
    assert unlabelled.numel() == 15
    assert (ds.x[unlabelled].abs().sum(dim=1) == 0).all()


def test_planetoid_pyg_folder_spelling(shared_data, tmp_path):
    src = shared_data("planetoid/cora")
    pyg_root = tmp_path / "pyg"
    pyg_root.mkdir()
    src.rename(pyg_root / "Cora")
    assert load("cora", root=pyg_root).num_nodes == 2708


def test_planetoid_missing_files(shared_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="cora"):
        load("cora", root=tmp_path)
    raw = shared_data("planetoid/cora") / "raw"
    (raw / "ind.cora.tx").unlink()
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.tx"):
        load("cora", root=raw.parent.parent)


def test_blogcatalog_counts(shared_data):
    ds = load("blogcatalog", root=shared_data("blogcatalog/blogcatalog.mat").parent, seed=3)
    assert ds.num_nodes == 10312 and ds.graph.num_edges == 667966
    assert ds.multilabel and ds.num_classes == 39 and ds.x is None and ds.num_features == 0
    assert ds.y.shape == (10312, 39) and set(ds.y.unique().tolist()) == {0, 1}
    assert int(ds.y.sum()) == 14476 and (ds.y.sum(dim=1) >= 1).all()
    assert ds.graph.edge_weight is None
    assert ds.train_idx.numel() == 5156 and ds.val_idx.numel() == 0 and ds.test_idx.numel() == 5156
    assert not set(ds.train_idx.tolist()) & set(ds.test_idx.tolist())
    again = load("blogcatalog", root=shared_data("blogcatalog/blogcatalog.mat").parent, seed=3)
    assert torch.equal(again.train_idx, ds.train_idx)


def test_blogcatalog_split_options(shared_data):
    root = shared_data("blogcatalog/blogcatalog.mat").parent
    ds = load("blogcatalog", root=root, train_ratio=0.1, val_ratio=0.2)
    assert (ds.train_idx.numel(), ds.val_idx.numel()) == (1031, 2062)
    with pytest.raises(ValueError, match="train_ratio=0.9"):
        load("blogcatalog", root=root, train_ratio=0.9, val_ratio=0.2)


def test_blogcatalog_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="blogcatalog.mat"):
        load("blogcatalog", root=tmp_path)
    import scipy.io
    import scipy.sparse as sp

    scipy.io.savemat(tmp_path / "blogcatalog.mat", {"network": sp.eye(3, format="csc")})
    with pytest.raises(ValueError, match="'group'"):
        load("blogcatalog", root=tmp_path)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*cora.*blogcatalog"):
        load("nope")
    with pytest.raises(TypeError, match="name must be a str"):
        load(3)
    assert {"cora", "citeseer", "blogcatalog"} <= set(names())


def test_to_pyg(shared_data):
    ds = load("cora", root=shared_data("planetoid/cora").parent)
    data = ds.to_pyg()
    assert data.edge_index.shape == (2, 10556) and int(data.train_mask.sum()) == 140
    assert data.x is ds.x
