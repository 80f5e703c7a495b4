"""OGB format: our writer -> ogb's own NodePropPredDataset loader, offline; evaluation."""
import numpy as np
import pytest
import torch

from graphsys.datasets import NodeDataset, evaluate, load, write_ogb_node_dataset
from graphsys.graph import Graph


def test_ogb_questions_reach_the_terminal(monkeypatch, tmp_path):
    """ogb asks (with input()) before downloads over 1 GB; with its prints captured the question
    was invisible and the load seemed to hang."""
    import builtins
    import io
    import sys

    import ogb.nodeproppred

    asked, original = [], builtins.input

    class Asking:
        def __init__(self, name, root, meta_dict=None):
            print("Downloading ...")  # ogb's chatter stays captured
            asked.append(input("This will download 1.38GB. Will you proceed? (y/N)\n"))
            raise RuntimeError("stop here")

    terminal = io.StringIO()
    monkeypatch.setattr(ogb.nodeproppred, "NodePropPredDataset", Asking)
    monkeypatch.setattr(sys, "__stdout__", terminal)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    with pytest.raises(RuntimeError, match="stop here"):
        load("ogbn-products", root=tmp_path)
    assert asked == ["n"] and terminal.getvalue() == "This will download 1.38GB. Will you proceed? (y/N)\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(RuntimeError, match="standard input is closed"):
        load("ogbn-products", root=tmp_path)
    assert builtins.input is original


def test_round_trip_single_label(tmp_path, offline):
    ds = load("synthetic-arxiv", scale=0.003, seed=4)
    folder = write_ogb_node_dataset(ds, tmp_path, "ogbn-synth")
    assert folder == tmp_path / "ogbn_synth"
    for rel in ("raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node-label.csv.gz", "raw/num-node-list.csv.gz",
                "raw/num-edge-list.csv.gz", "split/random/train.csv.gz", "split/random/valid.csv.gz",
                "split/random/test.csv.gz", "RELEASE_v1.txt", "master.csv"):
        assert (folder / rel).is_file(), rel
    for _ in range(2):  # the second load reads ogb's processed copy
        back = load("ogbn-synth", root=tmp_path)
        assert back.name == "ogbn-synth" and back.num_classes == ds.num_classes and not back.multilabel
        assert torch.equal(back.graph.indptr, ds.graph.indptr)
        assert torch.equal(back.graph.indices.long(), ds.graph.indices.long())
        assert torch.equal(back.x, ds.x) and torch.equal(back.y, ds.y)
        for split in ("train_idx", "val_idx", "test_idx"):
            assert torch.equal(getattr(back, split), getattr(ds, split))


def test_round_trip_multilabel_featureless_with_unlabelled(tmp_path, offline):
    graph = Graph.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]), 5, symmetrize=True)
    y = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    ds = NodeDataset("tiny", graph, None, y, torch.tensor([0, 1]), torch.tensor([2]), torch.tensor([3, 4]),
                     num_classes=3, multilabel=True)
    write_ogb_node_dataset(ds, tmp_path, "ogbn-tiny")
    back = load("ogbn-tiny", root=tmp_path)
    assert back.multilabel and back.num_classes == 3 and back.x is None
    assert torch.equal(back.y, y) and back.graph.num_nodes == 5 and back.graph.num_edges == 8

    single = NodeDataset("u", graph, torch.ones(5, 2), torch.tensor([0, -1, 1, -1, 0]), torch.tensor([0]),
                         torch.tensor([2]), torch.tensor([4]), num_classes=2)
    write_ogb_node_dataset(single, tmp_path, "ogbn-unlabelled")
    assert load("ogbn-unlabelled", root=tmp_path).y.tolist() == [0, -1, 1, -1, 0]


def test_undirected_option(tmp_path, offline):
    graph = Graph.from_edge_index(torch.tensor([[0, 1], [1, 2]]), 3)
    ds = NodeDataset("d", graph, torch.zeros(3, 1), torch.tensor([0, 1, 0]), torch.tensor([0]),
                     torch.tensor([1]), torch.tensor([2]), num_classes=2)
    write_ogb_node_dataset(ds, tmp_path, "ogbn-dir")
    assert load("ogbn-dir", root=tmp_path).graph.num_edges == 2
    assert load("ogbn-dir", root=tmp_path, undirected=True).graph.num_edges == 4


def test_writer_rejects_bad_names(tmp_path):
    ds = load("synthetic-arxiv", scale=0.002)
    with pytest.raises(ValueError, match="must start with 'ogbn-'"):
        write_ogb_node_dataset(ds, tmp_path, "mine")
    with pytest.raises(ValueError, match="official OGB dataset"):
        write_ogb_node_dataset(ds, tmp_path, "ogbn-arxiv")
    assert not list(tmp_path.iterdir())


def test_unknown_custom_ogb_name(tmp_path):
    with pytest.raises(ValueError, match="unknown OGB dataset 'ogbn-none'.*master.csv"):
        load("ogbn-none", root=tmp_path)


def test_malformed_master_csv(tmp_path):
    folder = tmp_path / "ogbn_bad"
    folder.mkdir()
    (folder / "master.csv").write_text(",ogbn-bad\nnum tasks,1\nbroken\n")
    with pytest.raises(ValueError, match=r"master\.csv, line 3"):
        load("ogbn-bad", root=tmp_path)


def test_evaluate_accuracy_and_ogb():
    y = torch.tensor([0, 1, 2, -1])
    assert evaluate("cora", y, torch.tensor([0, 1, 0, 2])) == {"acc": pytest.approx(2 / 3)}
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    assert evaluate("synthetic-arxiv", y, logits)["acc"] == 1.0
    # ogb's Evaluator for official names: labels [N] or [N, 1], predictions ids or logits.
    truth = torch.tensor([3, 1, 4, 1])
    assert evaluate("ogbn-arxiv", truth, torch.tensor([3, 1, 0, 1])) == {"acc": 0.75}
    assert evaluate("ogbn-products", truth.view(-1, 1), torch.nn.functional.one_hot(truth, 5))["acc"] == 1.0
    scores = torch.tensor(np.random.default_rng(0).random((6, 112)))
    proteins_truth = torch.tensor(np.random.default_rng(1).integers(0, 2, (6, 112)))
    assert 0.0 <= evaluate("ogbn-proteins", proteins_truth, scores)["rocauc"] <= 1.0


def test_evaluate_multilabel_f1_and_errors():
    truth = torch.tensor([[1, 0], [0, 1], [1, 1]])
    pred = torch.tensor([[1, 0], [1, 1], [1, 0]])
    out = evaluate("blogcatalog", truth, pred)
    assert out["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert out["macro_f1"] == pytest.approx((4 / 5 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="0/1 predictions"):
        evaluate("blogcatalog", truth, torch.rand(3, 2))
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        evaluate("blogcatalog", truth, torch.ones(3, 3))
    with pytest.raises(ValueError, match="y_pred has shape"):
        evaluate("cora", torch.tensor([0, 1]), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="no labelled node"):
        evaluate("cora", torch.tensor([-1, -1]), torch.tensor([0, 1]))
