"""`graphsys embed` and `graphsys export`: files, formats, resume, and the error paths."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from graphsys.cli import main


def _edge_list(path, n=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(2 * n) // n
    prob = torch.where(labels[:, None] == labels[None, :], 0.3, 0.02)
    adj = torch.triu(torch.rand(2 * n, 2 * n, generator=gen) < prob, 1)
    src, dst = adj.nonzero(as_tuple=True)
    lines = "".join(f"{s} {d}\n" for s, d in zip(src.tolist(), dst.tolist(), strict=True))
    path.write_text("# two communities\n" + lines)
    return path


def read_w2v(path):
    """A word2vec text reader (gensim's format): header 'N dim', then 'key v_1 .. v_dim'."""
    lines = path.read_text().splitlines()
    n, dim = map(int, lines[0].split())
    assert len(lines) == n + 1
    keys, vectors = [], np.empty((n, dim), dtype=np.float32)
    for i, line in enumerate(lines[1:]):
        parts = line.split(" ")
        assert len(parts) == dim + 1
        keys.append(parts[0])
        vectors[i] = np.asarray(parts[1:], dtype=np.float32)
    return keys, vectors


SMALL = ["--dim", "12", "--epochs", "20", "--lr", "0.05", "--walk-length", "8", "--augmentation-step", "2",
         "--pool-size", "20000", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed")
    graph = _edge_list(root / "two.edgelist")
    out = root / "emb"
    args = [a if a != "20" else "100" for a in SMALL]
    assert main(["embed", "--graph", str(graph), "--out", str(out), "--link-prediction", "0.1", *args]) == 0
    return out


def test_embed_writes_the_directory(trained):
    meta = json.loads((trained / "meta.json").read_text())
    vertex = np.load(trained / "vertex.npy")
    assert vertex.shape == (60, 12) and np.load(trained / "context.npy").shape == (60, 12)
    assert np.array_equal(np.load(trained / "node_ids.npy"), np.arange(60))
    assert meta["config"]["dim"] == 12 and meta["samples_trained"] > 0
    assert meta["scores"]["link_prediction_auc"] > 0.6
    assert (trained / "checkpoint.pt").is_file()
    assert not [p for p in trained.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_export_w2v_round_trip(trained, tmp_path):
    out = tmp_path / "emb.w2v"
    assert main(["export", str(trained), "--format", "w2v", "--out", str(out), "--quiet"]) == 0
    keys, vectors = read_w2v(out)
    assert keys == [str(i) for i in range(60)]
    assert np.array_equal(vectors, np.load(trained / "vertex.npy") + np.load(trained / "context.npy"))


def test_export_npy_and_pt(trained, tmp_path):
    vertex, context = np.load(trained / "vertex.npy"), np.load(trained / "context.npy")
    assert main(["export", str(trained), "--which", "vertex", "--out", str(tmp_path / "e.npy")]) == 0  # npy: suffix
    table = np.load(tmp_path / "e.npy")
    assert np.array_equal(table["id"], np.arange(60)) and np.array_equal(table["embedding"], vertex)
    assert main(["export", str(trained), "--format", "pt", "--which", "context", "--out", str(tmp_path / "c.pt")]) == 0
    saved = torch.load(tmp_path / "c.pt")
    assert torch.equal(saved["node_ids"], torch.arange(60)) and np.array_equal(saved["embeddings"].numpy(), context)


def test_export_errors(trained, tmp_path, capsys):
    assert main(["export", str(trained), "--format", "csv", "--out", str(tmp_path / "e.csv")]) == 2
    assert "unknown format 'csv'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), "--format", "npy", "--out", str(tmp_path / "e.npy")]) == 2
    assert "not an embedding directory" in capsys.readouterr().err
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert main(["export", str(trained), "--format", "parquet", "--out", str(tmp_path / "e.parquet")]) == 2
        assert "needs pyarrow" in capsys.readouterr().err
        assert not (tmp_path / "e.parquet").exists()


def test_export_parquet_with_node_ids(trained, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    vertex, context = np.load(trained / "vertex.npy"), np.load(trained / "context.npy")
    out = tmp_path / "emb.parquet"
    for which, want in (("sum", vertex + context), ("vertex", vertex)):  # the second replaces the first export
        assert main(["export", str(trained), "--which", which, "--out", str(out), "--quiet"]) == 0  # from the suffix
        table = pq.read_table(out)
        assert table.column_names == ["id", "embedding"]
        assert str(table.schema.field("id").type) == "int64"
        assert table.schema.field("embedding").type.list_size == 12
        assert str(table.schema.field("embedding").type.value_type) == "float"  # float32
        assert np.array_equal(table.column("id").to_numpy(), np.load(trained / "node_ids.npy"))
        rows = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, 12)
        assert np.array_equal(rows, want)
    other = tmp_path / "other.bin"
    assert main(["export", str(trained), "--format", "PARQUET", "--out", str(other), "--quiet"]) == 0
    assert pq.read_table(other).num_rows == 60


def test_embed_tensorboard(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tests.test_metrics_tensorboard import read_scalars

    graph = _edge_list(tmp_path / "two.edgelist")
    tb = tmp_path / "tb"
    assert main(["embed", "--graph", str(graph), "--out", str(tmp_path / "emb"), "--link-prediction", "0.1",
                 "--tensorboard", str(tb), *SMALL, "--pool-size", "2000"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    found = read_scalars(tb)
    steps = [step for step, _ in found["embed/samples"]]
    assert len(steps) > 1 and steps == sorted(steps) and steps[-1] == printed["samples"]
    assert all(value > 0 for _, value in found["embed/samples_per_s"])
    assert found["embed/epochs"][-1][1] == pytest.approx(20, rel=0.05)
    assert "embed/loss" in found and "embed/trainer_wait_s" in found
    assert found["embed/link_prediction_auc"] == [(printed["samples"], pytest.approx(printed["link_prediction_auc"]))]


def test_resume_trains_to_the_new_target(tmp_path):
    graph = _edge_list(tmp_path / "g.edgelist", n=15)
    out = tmp_path / "emb"
    args = ["embed", "--graph", str(graph), "--out", str(out), *SMALL]
    assert main(args) == 0
    first = json.loads((out / "meta.json").read_text())["samples_trained"]
    assert main(args[:-len(SMALL)] + [a if a != "20" else "40" for a in SMALL] + ["--resume"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["samples_trained"] >= 2 * first - 8 and meta["fit"]["samples"] < meta["samples_trained"]


def test_embed_errors(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["embed", "--graph", str(tmp_path / "missing.edgelist"), "--out", out, "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err
    loops = tmp_path / "loops.edgelist"
    loops.write_text("0 0\n1 1\n")  # self loops only: nothing left once they are dropped
    assert main(["embed", "--graph", str(loops), "--out", out, "--quiet"]) == 2
    assert "no edges" in capsys.readouterr().err
    assert main(["embed", "--graph", "no-such-dataset", "--out", out, "--quiet"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    graph = _edge_list(tmp_path / "g.edgelist", n=10)
    assert main(["embed", "--graph", str(graph), "--out", out, "--resume", "--quiet"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["embed", "--graph", str(graph), "--out", out, "--model", "deepwalk", "--p", "2", "--quiet"]) == 2
    assert "node2vec only" in capsys.readouterr().err
    bad = tmp_path / "bad.edgelist"
    bad.write_text("0 1\n1 x\n")
    assert main(["embed", "--graph", str(bad), "--out", out, "--quiet"]) == 2
    assert "line 2" in capsys.readouterr().err


def test_embed_under_torchrun_trains_on_every_rank_and_rank_zero_saves(tmp_path):
    graph = _edge_list(tmp_path / "g.edgelist")
    out = tmp_path / "emb"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "graphsys",
           "embed", "--graph", str(graph), "--out", str(out), "--device", "cpu", "--link-prediction", "0.1",
           *[a if a != "20" else "100" for a in SMALL]]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["ranks"] == 2 and meta["config"]["num_partitions"] == 2  # P raised to the two workers
    assert np.load(out / "vertex.npy").shape == (60, 12) and meta["scores"]["link_prediction_auc"] > 0.6
    assert len(done.stdout.strip().splitlines()) == 1  # one report, from rank 0


def test_embed_under_torchrun_refuses_a_device_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    graph = _edge_list(tmp_path / "g.edgelist", n=10)
    assert main(["embed", "--graph", str(graph), "--out", str(tmp_path / "o"), "--device", "cuda:0,cuda:1",
                 "--quiet"]) == 2
    assert "under torchrun each rank trains on its own device" in capsys.readouterr().err
