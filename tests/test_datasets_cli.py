"""``graphsys data`` through graphsys.cli.main."""
import json
import sys

import torch

from graphsys.cli import main
from graphsys.datasets import load


def test_info_table_and_json(shared_data, capsys):
    root = shared_data("planetoid/cora").parent
    assert main(["data", "info", "cora", "--root", str(root)]) == 0
    table = capsys.readouterr().out
    assert "nodes          2,708" in table and "edges          10,556" in table and "train          140" in table
    assert main(["data", "info", "cora", "--root", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == {"name": "cora", "nodes": 2708, "edges": 10556, "features": 1433, "feature_dtype": "float32",
                    "classes": 7, "multilabel": False, "train": 140, "val": 500, "test": 1000}


def test_info_edge_list_and_list(shared_data, capsys):
    path = shared_data("gnutella/p2p-Gnutella08.edgelist")
    assert main(["data", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["nodes"], info["edges"], info["features"], info["classes"]) == (6301, 20777, 0, 0)
    assert main(["data", "list"]) == 0
    assert "synthetic-products" in capsys.readouterr().out.split()


def test_generate_then_info_reopens(tmp_path, capsys):
    out = tmp_path / "data"
    scale = ["--scale", "0.004", "--seed", "3"]
    assert main(["data", "generate", "synthetic-arxiv", "--out", str(out), *scale, "--quiet", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["nodes"] == 677 and made["path"] == str(out / "synthetic-arxiv_scale0.004_seed3")
    assert main(["data", "info", "synthetic-arxiv", "--root", str(out), *scale, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["edges"] == made["edges"] and info["train"] == made["train"]
    reopened = load("synthetic-arxiv", out, scale=0.004, seed=3)
    assert torch.equal(reopened.x, load("synthetic-arxiv", scale=0.004, seed=3).x)


def test_info_quiet_turns_the_progress_bars_off(monkeypatch, capsys):
    import graphsys.datasets

    seen = []
    real = graphsys.datasets.load

    def load(*args, quiet, **kwargs):
        seen.append(quiet)
        return real(*args, quiet=quiet, **kwargs)

    monkeypatch.setattr(graphsys.datasets, "load", load)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: bars by default
    for extra in ([], ["--quiet"]):
        assert main(["data", "info", "synthetic-arxiv", "--scale", "0.002", "--json", *extra]) == 0
    assert seen == [False, True]


def test_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["data", "info", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphsys data: error: unknown dataset 'nope'") and err.count("\n") == 1
    assert main(["data", "generate", "cora", "--out", str(tmp_path)]) == 2
    assert "unknown preset 'cora'" in capsys.readouterr().err
    assert main(["data", "generate", "synthetic-arxiv", "--out", str(tmp_path), "--scale", "-1"]) == 2
    assert "--scale must be positive, got -1.0" in capsys.readouterr().err
    assert main(["data", "info", "cora", "--root", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.edgelist"
    bad.write_text("0 1\n1 two\n")
    assert main(["data", "info", str(bad)]) == 2
    assert "bad.edgelist, line 2" in capsys.readouterr().err
