"""`graphsys train` on heterogeneous datasets (CPU): R-GCN over synthetic-mag beats a paper-only
MLP, resumes exactly, and refuses what it cannot train with a clear message."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _dist import as_rank, read_ranks, spawn_ranks, write_rank

from graphsys.train import TrainConfig, train
from graphsys.train.checkpoint import load_checkpoint

SCALE = 0.01
CPU = dict(features="cpu", graph="cpu", device="cpu", quiet=True)
ROOT = Path(__file__).resolve().parent.parent


def cli_test_accuracy(root: Path, tmp_path: Path, model: str, epochs: int, featureless: str = "mean") -> float:
    """``graphsys train`` on the CPU; the test accuracy at the best validation epoch."""
    metrics = tmp_path / f"{model}-{featureless}.jsonl"
    cmd = [sys.executable, "-m", "graphsys", "train", "--dataset", "synthetic-mag", "--scale", str(SCALE),
           "--root", str(root), "--model", model, "--featureless", featureless, "--embedding-lr", "0.1",
           "--layers", "2", "--fanouts", "10,5",
           "--hidden", "64", "--batch-size", "256", "--lr", "0.01", "--dropout", "0.2", "--epochs", str(epochs),
           "--features", "cpu", "--graph", "cpu", "--device", "cpu", "--quiet", "--metrics-out", str(metrics)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    history = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert len(history) == epochs
    return max(history, key=lambda m: m["val_acc"])["test_acc"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


def test_rgcn_through_the_cli_beats_a_paper_only_mlp(root, tmp_path):
    gnn = cli_test_accuracy(root, tmp_path, "rgcn", epochs=4)
    mlp = cli_test_accuracy(root, tmp_path, "mlp", epochs=4)
    assert gnn >= mlp + 0.10, f"R-GCN test accuracy {gnn:.3f}, paper-only MLP {mlp:.3f}"
    assert gnn < 1.0
    # the derived features were kept beside the cached dataset, as one unit with a manifest
    (derived,) = root.glob("**/mean_features/graphsys.manifest.json")
    assert derived.is_file()


@pytest.mark.parametrize("model, featureless", [("rgcn", "mean"), ("sage", "mean"), ("rgcn", "learn")])
def test_a_resumed_run_ends_with_the_parameters_of_one_that_never_stopped(root, tmp_path, model, featureless):
    common = dict(dataset="synthetic-mag", root=str(root), scale=SCALE, model=model, featureless=featureless,
                  layers=2, fanouts=(5, 3), hidden=16, embedding_dim=8, batch_size=512, eval_every=0, **CPU)
    straight = tmp_path / "straight.pt"
    train(TrainConfig(**common, epochs=2, checkpoint=str(straight)))
    stopped = tmp_path / "stopped.pt"
    train(TrainConfig(**common, epochs=1, checkpoint=str(stopped)))
    train(TrainConfig(**common, epochs=2, checkpoint=str(stopped), resume=True))
    a, b = load_checkpoint(straight), load_checkpoint(stopped)
    assert a.epoch == b.epoch == 2
    assert a.model.keys() == b.model.keys()
    for key in a.model:
        assert torch.equal(a.model[key], b.model[key]), key
    if featureless == "learn":  # the learned tables and their optimizer state resume too
        assert sorted(a.embeddings["tables"]) == ["author", "field_of_study", "institution"]
        for node_type, state in a.embeddings["tables"].items():
            assert torch.equal(state["weight"], b.embeddings["tables"][node_type]["weight"]), node_type
        assert a.embeddings["optimizer"].keys() == b.embeddings["optimizer"].keys()
    else:
        assert a.embeddings is None


def test_learned_embeddings_train_and_beat_the_mlp(root, tmp_path):
    gnn = cli_test_accuracy(root, tmp_path, "rgcn", epochs=3, featureless="learn")
    mlp = cli_test_accuracy(root, tmp_path, "mlp", epochs=3)
    assert gnn >= mlp + 0.10, f"R-GCN with learned embeddings {gnn:.3f}, paper-only MLP {mlp:.3f}"


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="rgcn"), "node types without features (author, institution, field_of_study); choose featureless"),
    (dict(model="gcn", featureless="mean"),
     "heterogeneous: train it with model 'rgcn' or 'sage' (or the graph-free 'mlp'), not 'gcn'"),
])
def test_what_cannot_be_trained_is_refused_by_name(root, kwargs, message):
    config = TrainConfig(dataset="synthetic-mag", root=str(root), scale=SCALE, layers=2, fanouts=(5, 3), epochs=1,
                         **kwargs, **CPU)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train(config)


def test_rgcn_on_a_homogeneous_dataset_is_refused():
    config = TrainConfig(dataset="synthetic-arxiv", scale=0.002, model="rgcn", layers=2, fanouts=(5, 3), epochs=1,
                         **CPU)
    with pytest.raises(ValueError, match="model 'rgcn' needs a heterogeneous dataset"):
        train(config)


def _rank(rank: int, world: int, port: int, root: str, out: str, featureless: str) -> None:
    """One torchrun-style rank training synthetic-mag; writes a digest of its model and tables per step."""
    import hashlib

    as_rank(rank, world, port)
    from graphsys.train import loop

    digests = []
    make = loop.Trainer

    class Spy(make):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainer = self

            def digest(epoch, step, model):
                parts = [p.detach().reshape(-1) for p in model.parameters()]
                parts += [t.weight.to(torch.float32).reshape(-1) if isinstance(t.weight, torch.Tensor)
                          else t.weight.host.reshape(-1) for t in trainer.data.embeddings.values()]
                digests.append(hashlib.sha1(torch.cat(parts).numpy().tobytes()).hexdigest())

            self.on_step = digest

    loop.Trainer = Spy
    train(TrainConfig(dataset="synthetic-mag", root=root, scale=SCALE, model="rgcn", featureless=featureless,
                      layers=2, fanouts=(4, 3), hidden=8, embedding_dim=8, batch_size=1024, epochs=2, eval_every=0,
                      **CPU))
    write_rank(out, rank, digests)


@pytest.mark.parametrize("featureless", ["mean", "learn"])
def test_two_gloo_ranks_keep_identical_models_and_learned_tables(root, tmp_path, featureless):
    from graphsys.datasets import load

    load("synthetic-mag", root, scale=SCALE)  # generated once, before the ranks open it
    world = 2
    spawn_ranks(_rank, world, str(root), str(tmp_path), featureless)
    a, b = read_ranks(tmp_path, world)
    assert len(a) == 2 * 4  # 6296 training papers / 2 ranks / 1024 per batch: 4 steps, 2 epochs
    assert a == b
    assert len(set(a)) == len(a)  # and they change every step
