"""Heterogeneous datasets: HeteroNodeDataset, the synthetic-mag presets, mean_features, ogb's hetero format."""
import json

import numba
import numpy as np
import pytest
import torch
from _datasets import assert_cache_refuses_tampering

from graphsys import HeteroGraph
from graphsys.datasets import HeteroNodeDataset, evaluate, load, mean_features, write_ogb_node_dataset
from graphsys.datasets.hetero_synthetic import PRESETS, generate_graph
from graphsys.io import MANIFEST, OutputError

WRITES = ("author", "writes", "paper")
CITES = ("paper", "cites", "paper")
TOPIC = ("paper", "has_topic", "field_of_study")
AFFILIATED = ("author", "affiliated_with", "institution")


def same_dataset(a: HeteroNodeDataset, b: HeteroNodeDataset) -> None:
    assert a.num_nodes == b.num_nodes and sorted(a.graph.edge_types) == sorted(b.graph.edge_types)
    for edge_type in a.graph.edge_types:
        (ip_a, ix_a), (ip_b, ix_b) = a.graph.csr(edge_type), b.graph.csr(edge_type)
        assert torch.equal(ip_a, ip_b) and torch.equal(ix_a.long(), ix_b.long()), edge_type
    assert sorted(a.x) == sorted(b.x)
    for node_type in a.x:
        assert torch.equal(a.x[node_type].float(), b.x[node_type].float()), node_type
    assert torch.equal(a.y, b.y) and a.num_classes == b.num_classes and a.target == b.target
    for split in ("train_idx", "val_idx", "test_idx"):
        assert torch.equal(getattr(a, split), getattr(b, split)), split


def test_synthetic_mag_shapes_counts_and_split_at_small_scale():
    ds = load("synthetic-mag", scale=0.01, seed=1)
    assert isinstance(ds, HeteroNodeDataset) and ds.target == "paper" and ds.num_classes == 349
    assert ds.num_nodes == {"paper": 7364, "author": 11346, "institution": 87, "field_of_study": 600}
    assert ds.graph.edge_types == [WRITES, CITES, TOPIC, AFFILIATED]
    assert ds.graph.num_edges_dict == {WRITES: 71457, CITES: 54163, TOPIC: 75051, AFFILIATED: 10440}
    assert ds.featureless_types == ["author", "institution", "field_of_study"]
    assert ds.x["paper"].shape == (7364, 128) and ds.x["paper"].dtype == torch.float32 and ds.num_features == 128
    train, val, test = ds.train_idx, ds.val_idx, ds.test_idx
    assert (train.numel(), val.numel(), test.numel()) == (6296, 649, 419)  # every paper labelled, as ogbn-mag
    assert torch.cat([train, val, test]).unique().numel() == 7364
    assert ds.y.min() >= 0 and ds.y.max() < 349
    for edge_type in ds.graph.edge_types:  # no repeated edges, rows sorted
        indptr, indices = ds.graph.csr(edge_type)
        for v in range(0, indptr.numel() - 1, 97):
            row = indices[indptr[v]:indptr[v + 1]]
            assert torch.equal(row, row.unique()), edge_type
    # power-law degrees: the most cited paper gets many times the mean
    in_cites = ds.graph.csr(CITES)[0].diff()
    assert in_cites.max() > 20 * in_cites.float().mean()
    text = repr(ds)
    assert text.startswith("HeteroNodeDataset(name='synthetic-mag', target='paper'") and "6296/649/419" in text


def test_synthetic_mag240m_labels_only_the_split_in_float16():
    ds = load("synthetic-mag240m", scale=0.0002, seed=0)
    assert ds.num_nodes == {"paper": 24350, "author": 24477, "institution": 5}
    assert ds.graph.edge_types == [CITES, WRITES, AFFILIATED] and ds.num_classes == 153
    assert ds.x["paper"].dtype == torch.float16 and ds.x["paper"].shape == (24350, 768)
    labelled = torch.cat([ds.train_idx, ds.val_idx, ds.test_idx])
    assert (ds.train_idx.numel(), ds.val_idx.numel(), ds.test_idx.numel()) == (222, 28, 29)
    assert (ds.y[labelled] >= 0).all() and int((ds.y >= 0).sum()) == labelled.numel()


def test_same_seed_same_dataset_and_thread_count_changes_nothing():
    preset = PRESETS["synthetic-mag"].at(0.005)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial, serial_classes = generate_graph(preset, seed=5)
    finally:
        numba.set_num_threads(before)
    parallel, parallel_classes = generate_graph(preset, seed=5)
    assert np.array_equal(serial_classes, parallel_classes)
    for edge_type in serial.edge_types:
        assert all(torch.equal(a, b) for a, b in zip(serial.csr(edge_type), parallel.csr(edge_type), strict=True))
    a, b = load("synthetic-mag", scale=0.005, seed=5), load("synthetic-mag", scale=0.005, seed=5)
    same_dataset(a, b)
    other = load("synthetic-mag", scale=0.005, seed=6)
    assert not torch.equal(other.graph.csr(WRITES)[1], a.graph.csr(WRITES)[1])


def test_cache_reopens_the_same_dataset_and_refuses_tampered_files(tmp_path):
    made = load("synthetic-mag", root=tmp_path, scale=0.005, seed=2)
    folder = tmp_path / "synthetic-mag_scale0.005_seed2"
    assert made.path == folder and (folder / MANIFEST).is_file()
    again = load("synthetic-mag", root=tmp_path, scale=0.005, seed=2)
    same_dataset(again, load("synthetic-mag", scale=0.005, seed=2))
    assert_cache_refuses_tampering(tmp_path, "synthetic-mag", "x_0.npy", scale=0.005, seed=2)


def tiny_dataset() -> HeteroNodeDataset:
    """4 papers (2 features), 3 authors, 2 institutions, 2 fields; author 2 writes nothing."""
    edges = {
        WRITES: torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 2, 3]]),
        TOPIC: torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]]),
        AFFILIATED: torch.tensor([[0, 1, 2], [0, 0, 1]]),
        CITES: torch.tensor([[1, 2], [0, 0]]),
    }
    graph = HeteroGraph.from_edge_index_dict(edges, {"paper": 4, "author": 3, "institution": 2, "field_of_study": 2})
    x = {"paper": torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0], [2.0, -2.0]])}
    return HeteroNodeDataset("tiny", graph, x, torch.tensor([0, 1, 0, -1]), torch.tensor([0, 1]), torch.tensor([2]),
                             torch.tensor([], dtype=torch.int64), num_classes=2, target="paper")


def scatter_mean(src_feat, index_from, index_to, count):
    total = torch.zeros(count, src_feat.shape[1]).index_add_(0, index_to, src_feat[index_from].float())
    n = torch.zeros(count).index_add_(0, index_to, torch.ones(index_to.numel()))
    return total / n.clamp(min=1)[:, None]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_mean_features_equal_a_direct_torch_computation(dtype):
    ds = tiny_dataset()
    ds = HeteroNodeDataset(ds.name, ds.graph, {"paper": ds.x["paper"].to(dtype)}, ds.y, ds.train_idx, ds.val_idx,
                           ds.test_idx, ds.num_classes, ds.target)
    out = mean_features(ds)
    assert list(out.x) == ds.graph.node_types and out.featureless_types == []
    ei = ds.graph.to_edge_index_dict()
    paper = ds.x["paper"].float()
    author = scatter_mean(paper, ei[WRITES][1], ei[WRITES][0], 3)  # papers each author wrote
    field = scatter_mean(paper, ei[TOPIC][0], ei[TOPIC][1], 2)  # papers about each field
    institution = scatter_mean(author, ei[AFFILIATED][0], ei[AFFILIATED][1], 2)  # round 2: its authors
    for node_type, want in (("author", author), ("field_of_study", field), ("institution", institution)):
        assert out.x[node_type].dtype == dtype
        assert torch.allclose(out.x[node_type].float(), want.to(dtype).float(), atol=1e-3), node_type
    assert torch.equal(out.x["author"][2].float(), torch.zeros(2))  # wrote nothing: zeros
    assert out.x["paper"] is ds.x["paper"]


def test_mean_features_on_disk_are_a_unit_reopened_and_replaced_with_the_dataset(tmp_path):
    ds = load("synthetic-mag", root=tmp_path, scale=0.003, seed=0)
    in_memory = mean_features(load("synthetic-mag", scale=0.003, seed=0))
    on_disk = mean_features(ds)
    derived = ds.path / "mean_features"
    assert (derived / MANIFEST).is_file() and sorted(p.name for p in derived.glob("x_*.npy")) == \
        ["x_1.npy", "x_2.npy", "x_3.npy"]
    meta = json.loads((derived / "meta.json").read_text())
    assert meta["from"]["institution"] == [list(AFFILIATED)]
    same_dataset(on_disk, in_memory)
    stamp = (derived / MANIFEST).stat().st_mtime_ns
    reopened = mean_features(load("synthetic-mag", root=tmp_path, scale=0.003, seed=0))
    assert (derived / MANIFEST).stat().st_mtime_ns == stamp  # reopened, not derived again
    same_dataset(reopened, in_memory)
    # a dataset generated anew (here: by a newer generator) replaces its derived features with it
    meta_file = ds.path / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "generator": 0}))
    fresh = load("synthetic-mag", root=tmp_path, scale=0.003, seed=0)
    assert not derived.exists() and fresh.path == ds.path
    # a root of the caller's own, for a dataset in memory
    elsewhere = mean_features(load("synthetic-mag", scale=0.003, seed=0), root=tmp_path / "derived")
    same_dataset(elsewhere, in_memory)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match="holds files graphsys did not write"):
        mean_features(load("synthetic-mag", scale=0.003, seed=0), root=tmp_path / "taken")


def test_mean_features_refuses_types_it_cannot_reach():
    ds = tiny_dataset()
    graph = HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0], [0]])},
                                             {"paper": 4, "author": 3, "venue": 2})
    lonely = HeteroNodeDataset("lonely", graph, ds.x, ds.y, ds.train_idx, ds.val_idx, ds.test_idx, 2, "paper")
    with pytest.raises(ValueError, match=r"lonely: node types \['venue'\] have no edge type to a node type with "
                                         r"features"):
        mean_features(lonely)
    with pytest.raises(TypeError, match="dataset must be a HeteroNodeDataset, got NodeDataset"):
        mean_features(load("synthetic-arxiv", scale=0.002))


def test_to_pyg_and_add_reverse_match_pyg():
    import torch_geometric.transforms as T

    ds = load("synthetic-mag", scale=0.003, seed=1)
    data = ds.to_pyg()
    assert data["paper"].x is ds.x["paper"] and data["paper"].y is ds.y
    assert int(data["paper"].train_mask.sum()) == ds.train_idx.numel()
    assert data["author"].num_nodes == ds.num_nodes["author"] and "x" not in data["author"]
    expected = T.ToUndirected()(data.clone())
    ours = ds.graph.add_reverse()
    assert ours.edge_types == expected.edge_types
    for edge_type, edge_index in ours.to_edge_index_dict().items():
        want = expected[edge_type].edge_index
        assert torch.equal(torch.unique(edge_index, dim=1), torch.unique(want, dim=1)), edge_type
        assert edge_index.shape == want.shape, edge_type


def test_ogb_round_trip_through_ogbs_own_loader(tmp_path, monkeypatch):
    pytest.importorskip("ogb")
    import ogb.nodeproppred.dataset as ogb_dataset
    from ogb.nodeproppred import NodePropPredDataset

    def refuse(*args, **kwargs):
        raise AssertionError(f"ogb tried to download: {args}")

    monkeypatch.setattr(ogb_dataset, "download_url", refuse)
    monkeypatch.setattr(ogb_dataset, "decide_download", refuse)
    ds = load("synthetic-mag", scale=0.002, seed=3)
    folder = write_ogb_node_dataset(ds, tmp_path, "ogbn-smag")
    for rel in ("raw/num-node-dict.csv.gz", "raw/triplet-type-list.csv.gz", "raw/nodetype-has-label.csv.gz",
                "raw/relations/author___writes___paper/edge.csv.gz",
                "raw/relations/author___writes___paper/num-edge-list.csv.gz",
                "raw/relations/author___writes___paper/edge_reltype.csv.gz",
                "raw/node-feat/paper/node-feat.csv.gz", "raw/node-label/paper/node-label.csv.gz",
                "split/random/nodetype-has-split.csv.gz", "split/random/paper/train.csv.gz",
                "split/random/paper/valid.csv.gz", "split/random/paper/test.csv.gz", "master.csv"):
        assert (folder / rel).is_file(), rel
    # ogb's own loader, given the master column graphsys wrote
    from graphsys.datasets.ogb import _read_master_column

    real = NodePropPredDataset("ogbn-smag", root=str(tmp_path), meta_dict=_read_master_column(folder))
    graph_dict, labels = real[0]
    assert graph_dict["num_nodes_dict"] == ds.num_nodes
    assert set(graph_dict["edge_index_dict"]) == set(ds.graph.edge_types)
    for edge_type, edge_index in ds.graph.to_edge_index_dict().items():
        assert np.array_equal(graph_dict["edge_index_dict"][edge_type], edge_index.numpy()), edge_type
    assert np.array_equal(graph_dict["node_feat_dict"]["paper"], ds.x["paper"].numpy())
    assert np.array_equal(labels["paper"].reshape(-1), ds.y.numpy())
    split = real.get_idx_split()
    assert np.array_equal(np.sort(split["test"]["paper"]), ds.test_idx.numpy())
    for _ in range(2):  # the second load reads ogb's processed copy
        same_dataset(load("ogbn-smag", root=tmp_path), ds)
    undirected = load("ogbn-smag", root=tmp_path, undirected=True)
    assert ("paper", "rev_writes", "author") in undirected.graph.edge_types
    scores = torch.nn.functional.one_hot(ds.y[ds.test_idx], 349).float()
    assert evaluate("ogbn-mag", ds.y[ds.test_idx], scores) == {"acc": 1.0}  # ogb's Evaluator for ogbn-mag
    bad = HeteroNodeDataset("bad", HeteroGraph.from_edge_index_dict({("a/b", "r", "paper"): torch.tensor([[0], [0]])}),
                            {}, torch.tensor([0]), torch.tensor([0]), torch.tensor([], dtype=torch.int64),
                            torch.tensor([], dtype=torch.int64), 1, "paper")
    with pytest.raises(ValueError, match=r"node type 'a/b' cannot be written in OGB's raw layout"):
        write_ogb_node_dataset(bad, tmp_path, "ogbn-bad")
    with pytest.raises(ValueError, match="is an official OGB dataset"):
        write_ogb_node_dataset(ds, tmp_path, "ogbn-mag")


def test_relations_carry_the_class_signal_beyond_paper_features():
    """A linear model of paper features alone against the same model given the mean of each
    paper's authors' and fields' derived features: the relations must add > 10 points, and
    neither may reach 100 % (label noise)."""
    torch.manual_seed(0)
    ds = mean_features(load("synthetic-mag", scale=0.02, seed=0))
    n = ds.num_nodes["paper"]
    ei = ds.graph.to_edge_index_dict()
    authors = scatter_mean(ds.x["author"], ei[WRITES][0], ei[WRITES][1], n)
    fields = scatter_mean(ds.x["field_of_study"], ei[TOPIC][1], ei[TOPIC][0], n)

    def accuracy(features):
        x = (features - features.mean(0)) / features.std(0).clamp(min=1e-6)
        model = torch.nn.Linear(x.shape[1], ds.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(60):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[ds.train_idx]), ds.y[ds.train_idx]).backward()
            opt.step()
        with torch.no_grad():
            return float((model(x[ds.test_idx]).argmax(1) == ds.y[ds.test_idx]).float().mean())

    papers_only = accuracy(ds.x["paper"])
    with_relations = accuracy(torch.cat([ds.x["paper"], authors, fields], dim=1))
    assert 0.1 < papers_only < 0.5 and with_relations < 0.95
    assert with_relations > papers_only + 0.10, (papers_only, with_relations)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"unknown dataset 'synthetic-mag2'; known: .*synthetic-mag, "
                                         "synthetic-mag240m"):
        load("synthetic-mag2")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="scale must be a"):
            load("synthetic-mag", scale=bad)
    with pytest.raises(TypeError, match="synthetic presets take no options"):
        load("synthetic-mag", scale=0.002, undirected=True)
    with pytest.raises(ValueError, match="it needs at least .* of memory and this machine has"):
        load("synthetic-mag240m", scale=50.0)
    ds = tiny_dataset()
    with pytest.raises(ValueError, match=r"tiny: x\['author'\] must have shape \[3, F\] \(one row per 'author' "
                                         r"node\), got \(2, 2\)"):
        HeteroNodeDataset("tiny", ds.graph, {"author": torch.zeros(2, 2)}, ds.y, ds.train_idx, ds.val_idx,
                          ds.test_idx, 2, "paper")
    with pytest.raises(ValueError, match=r"target 'venue' is not a node type of the graph"):
        HeteroNodeDataset("tiny", ds.graph, {}, ds.y, ds.train_idx, ds.val_idx, ds.test_idx, 2, "venue")
    with pytest.raises(IndexError, match=r"tiny: val_idx holds node id 4, outside \[0, 4\) \('paper' nodes\)"):
        HeteroNodeDataset("tiny", ds.graph, {}, ds.y, ds.train_idx, torch.tensor([4]), ds.test_idx, 2, "paper")
    with pytest.raises(TypeError, match=r"tiny: x\['paper'\] must be a float tensor, got torch.int64"):
        HeteroNodeDataset("tiny", ds.graph, {"paper": torch.zeros(4, 2, dtype=torch.long)}, ds.y, ds.train_idx,
                          ds.val_idx, ds.test_idx, 2, "paper")
    with pytest.raises(ValueError, match=r"tiny: y must have shape \[4\]"):
        HeteroNodeDataset("tiny", ds.graph, {}, ds.y[:3], ds.train_idx, ds.val_idx, ds.test_idx, 2, "paper")
