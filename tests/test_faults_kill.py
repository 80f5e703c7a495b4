"""SIGKILL at random points: `graphsys data generate`, `train` and `embed` are killed mid-run (several
seeds), and what is on disk must be complete and loadable (the previous result or the new one), and
the next run must finish and leave no temporary names behind."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphsys.datasets.cache import open_dataset
from graphsys.datasets.synthetic import cache_dir
from graphsys.io import read_npy, verify_dir, verify_file
from graphsys.train import load_checkpoint

SEEDS = (0, 1, 2)
ROOT = Path(__file__).resolve().parents[1]


def graphsys_cmd(*args: str, kill_after: float | None = None) -> int | None:
    """Run ``python -m graphsys ARGS``; with ``kill_after``, SIGKILL it then (None if it was killed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "graphsys", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        return 0
    try:
        proc.wait(timeout=kill_after)
        return proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".old")))


@pytest.mark.parametrize("seed", SEEDS)
def test_data_generate_killed_anywhere_leaves_no_dataset_or_a_complete_one(tmp_path, seed):
    delay = np.random.default_rng(seed).uniform(1.0, 2.8)
    args = ("data", "generate", "synthetic-arxiv", "--scale", "0.2", "--out", str(tmp_path), "--quiet")
    graphsys_cmd(*args, kill_after=delay)
    target = cache_dir(tmp_path, "synthetic-arxiv", 0.2, 0)
    if target.exists():
        assert open_dataset(target).num_nodes > 0
    graphsys_cmd(*args)
    assert open_dataset(target).num_nodes > 0
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_train_killed_anywhere_keeps_a_loadable_checkpoint_and_metrics(tmp_path, seed):
    data = tmp_path / "data"
    common = ("train", "--dataset", "synthetic-arxiv", "--scale", "0.02", "--root", str(data), "--layers", "2",
              "--fanouts", "4,4", "--hidden", "16", "--batch-size", "64", "--features", "cpu", "--graph", "cpu",
              "--device", "cpu", "--eval-every", "0", "--quiet", "--checkpoint", str(tmp_path / "c.pt"),
              "--metrics-out", str(tmp_path / "m.jsonl"))
    graphsys_cmd(*common, "--epochs", "2")  # the previous complete result
    graphsys_cmd(*common, "--epochs", "40", kill_after=np.random.default_rng(seed).uniform(2.5, 6.0))
    ckpt = load_checkpoint(tmp_path / "c.pt")
    verify_file(tmp_path / "m.jsonl", "graphsys.metrics")
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == list(range(1, len(lines) + 1))
    assert ckpt.epoch >= 1
    graphsys_cmd(*common, "--epochs", str(ckpt.epoch + 1), "--resume")
    assert load_checkpoint(tmp_path / "c.pt").epoch == ckpt.epoch + 1
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_embed_killed_anywhere_leaves_one_runs_complete_folder(tmp_path, seed):
    edges = tmp_path / "edges.txt"
    edges.write_text("".join(f"{i} {(i * 7 + 1) % 3000}\n{i} {(i * 13 + 5) % 3000}\n" for i in range(3000)))
    out = tmp_path / "emb"
    common = ("embed", "--graph", str(edges), "--out", str(out), "--dim", "16", "--quiet", "--label-ratios", "none",
              "--checkpoint-every", "0.05")
    graphsys_cmd(*common, "--epochs", "1", "--seed", "1")  # the previous complete result
    before = (out / "vertex.npy").read_bytes()
    graphsys_cmd(*common, "--epochs", "60", "--seed", "2", kill_after=np.random.default_rng(seed).uniform(2.5, 6.0))
    manifest = verify_dir(out, "graphsys.embedding")
    meta = json.loads((out / "meta.json").read_text())
    vertex = read_npy(out / "vertex.npy")
    assert vertex.shape[0] == read_npy(out / "node_ids.npy").shape[0] == meta["num_nodes"]
    seed = meta["config"]["seed"]
    assert seed in (1, 2) and (seed == 1) == (vertex.tobytes() == before[-vertex.nbytes:])
    assert set(manifest["files"]) == {"checkpoint.pt", "context.npy", "meta.json", "node_ids.npy", "vertex.npy"}
    partial = tmp_path / ".emb.graphsys-partial" / "checkpoint.pt"
    if partial.exists():
        verify_file(partial, "graphsys.embedding.checkpoint")
    resume = ["--resume"] if partial.exists() else []
    graphsys_cmd(*common, "--epochs", "60", "--seed", "2", "--time-budget", "1", *resume)
    assert json.loads((out / "meta.json").read_text())["config"]["seed"] == 2
    assert not partial.parent.exists()
    graphsys_cmd("export", str(out), "--out", str(tmp_path / "e.npy"))
    assert temporaries(tmp_path) == []
