"""graphsys train on an OGB-format dataset: written here, read by ogb's loader, scored by ogb's Evaluator."""
import json

import pytest
from toy_data import toy_dataset

from graphsys.cli import main
from graphsys.datasets import NodeDataset

ogb_eval = pytest.importorskip("ogb.nodeproppred")
write_ogb_node_dataset = pytest.importorskip("graphsys.datasets.ogb").write_ogb_node_dataset


def _toy() -> NodeDataset:
    return toy_dataset(300, edges_per_node=4, num_features=6, num_classes=3, num_train=180, num_val=60)


def test_ogb_format_dataset_trains_and_is_scored_by_ogb_evaluator(tmp_path, monkeypatch, capsys):
    write_ogb_node_dataset(_toy(), tmp_path, "ogbn-graphsys-toy")
    calls = []
    original = ogb_eval.Evaluator.eval

    def spy(self, input_dict):
        result = original(self, input_dict)
        calls.append((input_dict["y_true"].shape, result))
        return result

    monkeypatch.setattr(ogb_eval.Evaluator, "eval", spy)
    metrics = tmp_path / "metrics.jsonl"
    code = main(["train", "--dataset", "ogbn-graphsys-toy", "--root", str(tmp_path), "--layers", "2",
                 "--fanouts", "5,5", "--hidden", "32", "--batch-size", "64", "--epochs", "6", "--lr", "0.02",
                 "--undirected", "--features", "cpu", "--graph", "cpu", "--eval-every", "3",
                 "--metrics-out", str(metrics),
                 "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["metric"] for r in lines] == ["acc"] * 6
    assert lines[-1]["val_acc"] > 0.6 and lines[-1]["test_acc"] > 0.6  # 3 classes: chance is 1/3
    # two evaluations x (train, val, test), each an ogb Evaluator call on [n, 1] labels
    assert [shape for shape, _ in calls] == [(180, 1), (60, 1), (60, 1)] * 2
    assert calls[-1][1]["acc"] == pytest.approx(lines[-1]["test_acc"])
    assert "train acc" in out.out and "best val acc" in out.out
