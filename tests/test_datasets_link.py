"""Link-prediction datasets: LinkDataset, evaluate_link, random_link_split, synthetic-citation2,
the ogbl-* loader and writer (read back through ogb's own LinkPropPredDataset, offline), the CLI."""
import json
import shutil

import pytest
import torch
from _datasets import assert_cache_refuses_tampering, on_one_and_all_threads

from graphsys.cli import main
from graphsys.datasets import (
    LinkDataset,
    LinkSplit,
    evaluate_link,
    load,
    load_link,
    random_link_split,
    write_ogb_link_dataset,
)
from graphsys.datasets.link_synthetic import PRESETS
from graphsys.graph import Graph
from graphsys.io import MANIFEST, OutputError


def edge_set(graph: Graph) -> set[tuple[int, int]]:
    return set(map(tuple, graph.to_edge_index().t().tolist()))


def tiny(metric: str = "hits@50", undirected: bool = True) -> LinkDataset:
    """5 nodes; links 0-1, 1-2, 2-3 train, 3-4 val, 0-4 test (both ways in the graph when undirected)."""
    train = torch.tensor([[0, 1, 2], [1, 2, 3]])
    graph = Graph.from_edge_index(train, 5, symmetrize=undirected)
    negs = {"edge_neg": torch.tensor([[0, 1], [2, 3]])} if metric != "mrr" else \
        {"target_node_neg": torch.tensor([[0, 1, 2]])}
    val = LinkSplit(torch.tensor([[3], [4]]), **negs)
    test = LinkSplit(torch.tensor([[0], [4]]), **negs)
    return LinkDataset("tiny", graph, torch.randn(5, 3), LinkSplit(train), val, test, metric, undirected)


# ----------------------------------------------------------------------------- the result type
def test_link_dataset_fields_and_checks():
    ds = tiny()
    assert ds.num_nodes == 5 and ds.num_features == 3 and ds.split("valid") is ds.val
    assert torch.equal(ds.test.source_node, torch.tensor([0])) and torch.equal(ds.test.target_node, torch.tensor([4]))
    data = ds.to_pyg()
    assert data.num_nodes == 5 and data.edge_index.shape == (2, 6)
    with pytest.raises(ValueError, match="metric must be one of"):
        LinkDataset("t", ds.graph, None, ds.train, ds.val, ds.test, "precision")
    with pytest.raises(ValueError, match="scores val against val.target_node_neg, which is None"):
        LinkDataset("t", ds.graph, None, ds.train, ds.val, ds.test, "mrr")
    with pytest.raises(TypeError, match=r"train.edge must be an int64 tensor, got torch.int32"):
        LinkSplit(torch.tensor([[0], [1]], dtype=torch.int32)).check("t", "train", 5)
    with pytest.raises(ValueError, match=r"train.edge must have shape \[2, E\]"):
        LinkSplit(torch.tensor([[0, 1]])).check("t", "train", 5)
    with pytest.raises(IndexError, match=r"val.edge_neg holds node id 9, outside \[0, 5\)"):
        LinkSplit(torch.tensor([[0], [1]]), edge_neg=torch.tensor([[0], [9]])).check("t", "val", 5)
    with pytest.raises(ValueError, match=r"test.target_node_neg must have shape \[1, K\]"):
        LinkSplit(torch.tensor([[0], [1]]), target_node_neg=torch.tensor([1, 2])).check("t", "test", 5)
    with pytest.raises(ValueError, match=r"train.weight must have shape \[1\]"):
        LinkSplit(torch.tensor([[0], [1]]), weight=torch.ones(2)).check("t", "train", 5)
    with pytest.raises(TypeError, match="train.year must be an integer tensor"):
        LinkSplit(torch.tensor([[0], [1]]), year=torch.ones(1)).check("t", "train", 5)
    with pytest.raises(ValueError, match="part must be"):
        ds.split("dev")


def test_evaluate_link_matches_ogb_and_hand_counts():
    from ogb.linkproppred import Evaluator

    pos = torch.tensor([3.0, 1.0, 0.5])
    neg = torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.5, 0.7], [1.0, 2.0, 3.0]])
    out = evaluate_link("mrr", pos, neg)
    assert out["mrr"] == pytest.approx((1 + 1 + 1 / 4) / 3)
    assert out["hits@1"] == pytest.approx(2 / 3) and out["hits@10"] == 1.0
    ogb_out = Evaluator("ogbl-citation2").eval({"y_pred_pos": pos, "y_pred_neg": neg})
    assert out["mrr"] == pytest.approx(float(ogb_out["mrr_list"].mean()))
    flat = neg.reshape(-1)  # 9 negatives; the 2nd largest is 2.0
    assert evaluate_link("hits@2", pos, flat) == {"hits@2": pytest.approx(1 / 3)}
    assert evaluate_link("hits@50", pos, torch.arange(60.0) / 100) == \
        Evaluator("ogbl-collab").eval({"y_pred_pos": pos, "y_pred_neg": torch.arange(60.0) / 100})
    assert evaluate_link("auc", torch.tensor([2.0, 3.0]), torch.tensor([1.0, 2.5])) == {"auc": pytest.approx(0.75)}
    for bad, match in (("hits@0", "positive integer"), ("hits@x", "positive integer"), ("f1", "unknown link metric")):
        with pytest.raises(ValueError, match=match):
            evaluate_link(bad, pos, flat)
    with pytest.raises(ValueError, match=r"for mrr, neg_score must have shape \[3, K\]"):
        evaluate_link("mrr", pos, flat)
    with pytest.raises(ValueError, match="for hits@50, neg_score must be 1-D"):
        evaluate_link("hits@50", pos, neg)
    assert tiny("mrr").evaluate(torch.tensor([1.0]), torch.tensor([[0.0, 2.0, 0.5]]))["mrr"] == 0.5


# ----------------------------------------------------------------------------- random split
@pytest.fixture
def cora(shared_data):
    return load("cora", root=shared_data("planetoid/cora").parent)


def test_random_split_of_cora_as_pyg_counts_it(cora):
    from torch_geometric.transforms import RandomLinkSplit

    ds = random_link_split(cora, seed=3)
    assert ds.undirected and ds.metric == "auc" and ds.x is cora.x
    train_pyg, val_pyg, test_pyg = RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True)(cora.to_pyg())
    assert ds.val.num_edges == int(val_pyg.edge_label.sum()) == 263
    assert ds.test.num_edges == int(test_pyg.edge_label.sum()) == 527
    assert ds.graph.num_edges == train_pyg.edge_index.shape[1] == 2 * ds.train.num_edges
    assert ds.val.edge_neg.shape == (2, 263) and ds.test.edge_neg.shape == (2, 527)
    full, train = edge_set(cora.graph), edge_set(ds.graph)
    links = {(min(u, v), max(u, v)) for u, v in full if u != v}
    parts = [set(map(tuple, getattr(ds, p).edge.t().tolist())) for p in ("train", "val", "test")]
    assert sum(map(len, parts)) == len(links) and set().union(*parts) == links  # disjoint, complete
    for held in parts[1:]:
        for u, v in held:
            assert (u, v) not in train and (v, u) not in train  # both directions held out
    assert {(u, v) for u, v in train} == {e for u, v in parts[0] for e in ((u, v), (v, u))}
    for part in ("val", "test"):
        for u, v in getattr(ds, part).edge_neg.t().tolist():
            assert u != v and (u, v) not in full
    again = random_link_split(cora, seed=3)
    other = random_link_split(cora, seed=4)
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(again, part).edge, getattr(ds, part).edge)
    assert torch.equal(again.test.edge_neg, ds.test.edge_neg)
    assert not torch.equal(other.test.edge, ds.test.edge)


def test_random_split_of_a_directed_edge_list(shared_data):
    ds = load_link(shared_data("gnutella/p2p-Gnutella08.edgelist"), val=0.1, test=0.2, seed=1)
    assert not ds.undirected and ds.train.num_edges + ds.val.num_edges + ds.test.num_edges == 20_777
    assert ds.val.num_edges == 2077 and ds.test.num_edges == 4155 and ds.graph.num_edges == ds.train.num_edges
    train = edge_set(ds.graph)
    assert not any(tuple(e) in train for e in ds.test.edge.t().tolist())


def test_bad_fractions_name_the_values(cora):
    for val, test, match in ((0.5, 0.5, "val=0.5 and test=0.5 sum to 1"), (-0.1, 0.1, "val fraction .* got -0.1"),
                             (0.05, 0.0, "test fraction .* got 0.0"), (0.05, 1.2, "test fraction .* got 1.2"),
                             (0.6, 0.6, "sum to 1.2")):
        with pytest.raises(ValueError, match=match):
            random_link_split(cora, val, test)
        with pytest.raises(ValueError, match=match):
            load_link("cora", "/nonexistent", val=val, test=test)  # checked before loading
    graph = Graph.from_edge_index(torch.tensor([[0, 1, 2], [1, 2, 3]]), 4, symmetrize=True)
    none = torch.empty(0, dtype=torch.int64)
    small = type(cora)("small", graph, None, torch.zeros(4, dtype=torch.int64), none, none, none, num_classes=1)
    with pytest.raises(ValueError, match=r"of 3 links give 3 train, 0 val and 0 test links"):
        random_link_split(small, 0.05, 0.1)


# ----------------------------------------------------------------------------- synthetic-citation2
def test_preset_is_shaped_like_ogbl_citation2():
    p = PRESETS["synthetic-citation2"]
    assert (p.num_nodes, p.num_edges, p.num_features) == (2_927_963, 30_561_187, 128)
    assert (p.val_sources, p.test_sources, p.num_negatives) == (86_596, 86_596, 1000)


def test_synthetic_citation2_splits():
    ds = load("synthetic-citation2", scale=0.002, seed=5)
    p = PRESETS["synthetic-citation2"].at(0.002)
    assert isinstance(ds, LinkDataset) and ds.metric == "mrr" and not ds.undirected
    assert ds.num_nodes == p.num_nodes and ds.num_features == 128 and ds.x.dtype == torch.float32
    assert ds.val.num_edges == ds.test.num_edges == 173
    assert ds.graph.num_edges == ds.train.num_edges == p.num_edges - 2 * 173
    assert ds.val.target_node_neg.shape == ds.test.target_node_neg.shape == (173, 1000)
    train = edge_set(ds.graph)
    assert set(map(tuple, ds.train.edge.t().tolist())) == train
    sources = torch.cat([ds.val.source_node, ds.test.source_node])
    assert sources.unique().numel() == 2 * 173  # one held-out edge per source, disjoint splits
    out_degree = torch.bincount(ds.train.edge[0], minlength=ds.num_nodes)
    assert (out_degree[sources] >= 1).all()  # every source keeps a citation to learn from
    for part in ("val", "test"):
        split = ds.split(part)
        for (s, t), negs in zip(split.edge.t().tolist(), split.target_node_neg.tolist(), strict=True):
            assert (s, t) not in train
            cited = {t} | {v for v in negs if (s, v) in train}
            assert s not in negs and t not in negs and cited == {t}  # never the source, never cited


def test_synthetic_citation2_same_bytes_on_any_thread_count():
    one, many = on_one_and_all_threads(lambda: load("synthetic-citation2", scale=0.002, seed=7))
    same_link_dataset(one, many)
    other = load("synthetic-citation2", scale=0.002, seed=8)
    assert not torch.equal(other.test.target_node_neg, one.test.target_node_neg)


def same_link_dataset(a: LinkDataset, b: LinkDataset) -> None:
    assert torch.equal(a.graph.indptr, b.graph.indptr)
    assert torch.equal(a.graph.indices.long(), b.graph.indices.long())
    assert (a.x is None and b.x is None) or torch.equal(a.x, b.x)
    assert (a.metric, a.undirected) == (b.metric, b.undirected)
    for part in ("train", "val", "test"):
        for field in ("edge", "edge_neg", "target_node_neg", "weight", "year"):
            x, y = getattr(getattr(a, part), field), getattr(getattr(b, part), field)
            assert (x is None) == (y is None), (part, field)
            if x is not None:
                assert torch.equal(x, y), (part, field)


def test_synthetic_citation2_cache_reopens_and_refuses_tampering(tmp_path):
    made = load("synthetic-citation2", root=tmp_path, scale=0.002, seed=2)
    folder = tmp_path / "synthetic-citation2_scale0.002_seed2"
    assert made.path == folder and (folder / MANIFEST).is_file()
    assert not list(tmp_path.glob("*tmp*"))  # written under a temporary name, renamed in place
    again = load("synthetic-citation2", root=tmp_path, scale=0.002, seed=2)
    same_link_dataset(again, made)
    same_link_dataset(again, load("synthetic-citation2", scale=0.002, seed=2))
    assert_cache_refuses_tampering(tmp_path, "synthetic-citation2", "test_target_node_neg.npy", scale=0.002, seed=2)


def test_synthetic_citation2_rewards_reading_the_graph():
    """Neighbour-averaged features (what a GNN's layers compute) rank held-out citations far
    better than a node's own features, and the in-degree (popularity) adds to that."""
    ds = load("synthetic-citation2", scale=0.01, seed=0)
    n = ds.num_nodes
    src, dst = Graph.from_edge_index(ds.graph.to_edge_index(), n, symmetrize=True).to_edge_index()
    degree = torch.bincount(dst, minlength=n).float()[:, None] + 1
    x = ds.x.clone()
    h = (x.index_add(0, dst, x[src]) / degree)
    h = (h.index_add(0, dst, h[src]) / degree)
    popularity = torch.log1p((ds.graph.indptr[1:] - ds.graph.indptr[:-1]).float())
    s, t, negs = ds.test.source_node, ds.test.target_node, ds.test.target_node_neg

    def mrr(score):
        return ds.evaluate(score(s, t), score(s[:, None].expand_as(negs), negs))["mrr"]

    own = mrr(lambda a, b: (x[a] * x[b]).sum(-1))
    read = mrr(lambda a, b: (h[a] * h[b]).sum(-1))
    read_popular = mrr(lambda a, b: torch.nn.functional.cosine_similarity(h[a], h[b], dim=-1) * 4 + popularity[b])
    print(f"test MRR: own features {own:.3f}, neighbour-averaged {read:.3f}, with in-degree {read_popular:.3f}")
    assert own < 0.1 and read > 3 * own and read_popular > read + 0.05, (own, read, read_popular)


# ----------------------------------------------------------------------------- OGB format
def test_ogb_round_trip_mrr_through_ogbs_own_loader(tmp_path, offline):
    from ogb.linkproppred import Evaluator, LinkPropPredDataset

    ds = load("synthetic-citation2", scale=0.001, seed=1)
    folder = write_ogb_link_dataset(ds, tmp_path, "ogbl-synth")
    assert folder == tmp_path / "ogbl_synth" and (folder / MANIFEST).is_file()
    for rel in ("raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz",
                "split/random/train.pt", "split/random/valid.pt", "split/random/test.pt", "RELEASE_v1.txt",
                "master.csv"):
        assert (folder / rel).is_file(), rel
    for _ in range(2):  # the second load reads ogb's processed copy
        back = load("ogbl-synth", root=tmp_path)
        assert back.name == "ogbl-synth" and back.path == folder
        same_link_dataset(back, ds)
    # ogb alone (no graphsys in between) reads the split files a fresh copy holds
    plain = tmp_path / "plain"
    shutil.copytree(folder, plain / "ogbl_synth", ignore=shutil.ignore_patterns("data_processed"))
    from graphsys.datasets.ogb import _read_master_column

    meta = _read_master_column(plain / "ogbl_synth")
    split = LinkPropPredDataset("ogbl-synth", root=str(plain), meta_dict=meta).get_edge_split()
    assert torch.equal(split["test"]["target_node_neg"], ds.test.target_node_neg)
    assert torch.equal(split["valid"]["source_node"], ds.val.source_node)
    # scored by ogb's Evaluator
    gen = torch.Generator().manual_seed(0)
    pos = torch.rand(ds.test.num_edges, generator=gen)
    neg = torch.rand(ds.test.target_node_neg.shape, generator=gen)
    want = Evaluator("ogbl-citation2").eval({"y_pred_pos": pos, "y_pred_neg": neg})
    assert back.evaluate(pos, neg)["mrr"] == pytest.approx(float(want["mrr_list"].mean()))


def collab_like() -> LinkDataset:
    """An undirected dataset with weighted, dated links (a repeated pair in two years, as collab has)."""
    train = torch.tensor([[0, 1, 2, 0, 3], [1, 2, 3, 1, 5]])
    weight, year = torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0]), torch.tensor([2010, 2011, 2012, 2013, 2014])
    graph = Graph.from_edge_index(torch.cat([train, train.flip(0)], 1), 6, edge_weight=torch.cat([weight, weight]))
    val = LinkSplit(torch.tensor([[4], [5]]), edge_neg=torch.tensor([[0, 1], [4, 4]]), weight=torch.ones(1),
                    year=torch.tensor([2018]))
    test = LinkSplit(torch.tensor([[2, 0], [4, 5]]), edge_neg=torch.tensor([[1, 2], [5, 5]]), weight=torch.ones(2),
                     year=torch.tensor([2019, 2019]))
    x = torch.arange(12.0).view(6, 2) / 7
    return LinkDataset("collab-like", graph, x, LinkSplit(train, weight=weight, year=year), val, test, "hits@50")


def test_ogb_round_trip_with_weights_and_years_and_the_official_collab_reader(tmp_path, offline):
    ds = collab_like()
    folder = write_ogb_link_dataset(ds, tmp_path, "ogbl-collab-like")
    assert (folder / "raw/edge_weight.csv.gz").is_file() and (folder / "raw/edge_year.csv.gz").is_file()
    back = load("ogbl-collab-like", root=tmp_path)
    assert back.undirected and back.metric == "hits@50"
    assert back.x.dtype == torch.float32 and torch.allclose(back.x, ds.x)
    same_link_dataset(back, LinkDataset(**{**ds.__dict__, "name": back.name, "x": back.x}))
    assert torch.equal(back.graph.edge_weight, ds.graph.edge_weight)
    # laid out as the official ogbl-collab (split "time"), read with ogb's own master-list entry
    official = tmp_path / "official" / "ogbl_collab"
    shutil.copytree(folder, official, ignore=shutil.ignore_patterns("data_processed", "master.csv", MANIFEST))
    (official / "split" / "random").rename(official / "split" / "time")
    collab = load("ogbl-COLLAB", root=tmp_path / "official")
    assert collab.name == "ogbl-collab" and collab.metric == "hits@50" and collab.undirected
    assert torch.equal(collab.train.year, ds.train.year) and torch.equal(collab.test.weight, ds.test.weight)
    assert torch.equal(collab.graph.edge_weight, ds.graph.edge_weight)
    pos, neg = torch.tensor([0.9, 0.1]), torch.tensor([0.5, 0.2])
    assert collab.evaluate(pos, neg) == {"hits@50": 1.0}  # fewer negatives than K: ogb gives 1


def test_ogb_round_trip_of_a_random_split(cora, tmp_path, offline):
    ds = random_link_split(cora, seed=0)
    write_ogb_link_dataset(ds, tmp_path, "ogbl-cora")
    back = load("ogbl-cora", root=tmp_path)
    assert back.metric == "auc"
    same_link_dataset(back, LinkDataset(**{**ds.__dict__, "name": back.name}))


def test_writer_refuses_bad_names_and_foreign_folders(tmp_path):
    ds = tiny()
    for name in ("ogbn-x", "cora", "ogbl-collab", "ogbl-Citation2", "ogbl-vessel"):
        with pytest.raises(ValueError, match="ogbl-"):
            write_ogb_link_dataset(ds, tmp_path, name)
    with pytest.raises(TypeError, match="must be a LinkDataset"):
        write_ogb_link_dataset(object(), tmp_path, "ogbl-x")
    (tmp_path / "ogbl_mine").mkdir()
    (tmp_path / "ogbl_mine" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError):
        write_ogb_link_dataset(ds, tmp_path, "ogbl-mine")
    assert sorted(p.name for p in (tmp_path / "ogbl_mine").iterdir()) == ["notes.txt"]
    folder = write_ogb_link_dataset(ds, tmp_path, "ogbl-tiny")
    write_ogb_link_dataset(tiny(), tmp_path, "ogbl-tiny")  # replaces what graphsys wrote
    assert (folder / MANIFEST).is_file()


def test_unknown_ogbl_name(tmp_path):
    with pytest.raises(ValueError, match="unknown OGB link dataset 'ogbl-nope'"):
        load("ogbl-nope", root=tmp_path)


# ----------------------------------------------------------------------------- CLI
def test_cli_generate_info_and_list(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["data", "generate", "synthetic-citation2", "--scale", "0.001", "--out", str(out), "--quiet",
                 "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["task"] == "link" and made["metric"] == "mrr" and made["test_negatives"] == 1000
    assert made["path"] == str(out / "synthetic-citation2_scale0.001_seed0")
    assert main(["data", "info", "synthetic-citation2", "--scale", "0.001", "--root", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in made.items() if k not in ("path", "seconds")} == info
    assert main(["data", "list"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"synthetic-citation2", "ogbl-citation2", "ogbl-collab", "ogbl-ppa", "ogbl-ddi"} <= set(listed)
