"""graphsys train on Cora (standard Planetoid split): GraphSAGE and GCN reach 79% test accuracy."""
import json

import numba
import pytest
import torch

from graphsys.cli import main


@pytest.fixture(autouse=True)
def one_thread():
    """One torch and one numba thread: Cora's batches are too small to gain from threads, and
    thread pools spinning on shared cores slow these runs several-fold."""
    torch_threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(torch_threads)
    numba.set_num_threads(numba_threads)


@pytest.mark.parametrize("model, epochs", [("sage", 50), ("gcn", 100)])
def test_cora_test_accuracy(shared_data, tmp_path, capsys, model, epochs):
    root = shared_data("planetoid/cora").parent
    metrics = tmp_path / "metrics.jsonl"
    code = main(["train", "--dataset", "cora", "--root", str(root), "--model", model, "--layers", "2",
                 "--fanouts", "10,10", "--hidden", "64", "--batch-size", "140", "--epochs", str(epochs),
                 "--lr", "0.01", "--weight-decay", "5e-3", "--features", "cpu", "--graph", "cpu",
                 "--eval-every", str(epochs), "--metrics-out", str(metrics), "--quiet"])
    assert code == 0, capsys.readouterr().err
    last = json.loads(metrics.read_text().splitlines()[-1])
    assert last["epoch"] == epochs and last["metric"] == "acc"
    assert last["test_acc"] >= 0.79, last
