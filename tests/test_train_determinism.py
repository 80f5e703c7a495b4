"""graphsys train: resuming equals never stopping, Ctrl-C keeps the last checkpoint, DDP replicas stay identical."""
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _dist import as_rank, read_ranks, spawn_ranks, write_rank
from toy_data import toy_dataset as make_toy

from graphsys.datasets import NodeDataset
from graphsys.train import TrainConfig, load_checkpoint, train


def toy_dataset() -> NodeDataset:
    return make_toy(400, edges_per_node=4, num_features=8, num_classes=3, num_train=200, num_val=100)


def config(tmp_path, **overrides) -> TrainConfig:
    args = dict(layers=2, fanouts=(5, 3), hidden=16, batch_size=64, epochs=4, lr=0.01, features="cpu",
                graph="cpu", eval_every=2, quiet=True, seed=7, checkpoint=str(tmp_path / "ckpt.pt"))
    args.update(overrides)
    return TrainConfig("toy", **args)


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_resume_after_interrupt_matches_uninterrupted_run(tmp_path):
    ds = toy_dataset()
    straight = train(config(tmp_path / "a", metrics_out=str(tmp_path / "a" / "m.jsonl")), dataset=ds)
    lines = [json.loads(line) for line in (tmp_path / "a" / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    for key in ("loss", "train_acc", "val_acc", "test_acc", "epoch_s", "sample_s", "gather_s", "compute_s"):
        assert key in lines[0]
    assert lines[0]["val_acc"] is None and lines[1]["val_acc"] is not None

    def interrupt(epoch, step, model):
        if epoch == 3 and step == 2:
            raise KeyboardInterrupt

    cfg_b = config(tmp_path / "b", metrics_out=str(tmp_path / "b" / "m.jsonl"))
    with pytest.raises(KeyboardInterrupt):
        train(cfg_b, dataset=ds, on_step=interrupt)
    kept = load_checkpoint(cfg_b.checkpoint, fingerprint=cfg_b.fingerprint())
    assert kept.epoch == 2 and len(kept.history) == 2
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        ".ckpt.pt.graphsys.json", ".m.jsonl.graphsys.json", "ckpt.pt", "m.jsonl",
    ]

    resumed = train(config(tmp_path / "b", resume=True, metrics_out=str(tmp_path / "b" / "m.jsonl")), dataset=ds)
    assert [m.epoch for m in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(params(straight.model), params(resumed.model), strict=True):
        assert torch.equal(a, b)
    assert resumed.history[-1].loss == straight.history[-1].loss
    assert resumed.scores == straight.scores


def test_resume_refuses_other_settings(tmp_path):
    ds = toy_dataset()
    train(config(tmp_path, epochs=1), dataset=ds)
    with pytest.raises(ValueError, match=r"other settings \(hidden: checkpoint 16, now 32\)"):
        train(config(tmp_path, hidden=32, resume=True), dataset=ds)


def _digest(model) -> str:
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return hashlib.sha1(flat.numpy().tobytes()).hexdigest()


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    """One torchrun-style rank; records its parameter digests, seeds and feature sharing."""
    as_rank(rank, world, port)
    digests, seeds_seen = [], []
    tmp = Path(out_dir)
    cfg = config(tmp, epochs=2, eval_every=0, checkpoint=None)
    from graphsys.train import loop

    original = loop.shard_seeds

    def spy(*args, **kwargs):
        shard = original(*args, **kwargs)
        seeds_seen.append(shard.tolist())
        return shard

    loop.shard_seeds = spy
    from graphsys.train import data

    share, shared = data.share_across_ranks, []

    def share_spy(*args, **kwargs):
        table = share(*args, **kwargs)
        shared.append(table.data_ptr() != args[0].data_ptr())  # served from the mapped shared file
        return table

    data.share_across_ranks = share_spy
    train(cfg, dataset=toy_dataset(), on_step=lambda epoch, step, model: digests.append(_digest(model)))
    write_rank(tmp, rank, {"digests": digests, "seeds": seeds_seen, "shared": shared})


def test_two_gloo_ranks_hold_identical_parameters_after_every_step(tmp_path):
    world = 2
    port = spawn_ranks(_worker, world, str(tmp_path))
    # the feature table both ranks read was shared through one file, unlinked once mapped
    assert not [p for p in Path(tempfile.gettempdir()).glob("graphsys-*") if f"-{port}." in p.name]
    assert not [p for p in Path("/dev/shm").glob("graphsys-*") if f"-{port}." in p.name]
    ranks = read_ranks(tmp_path, world)
    assert ranks[0]["shared"] == ranks[1]["shared"] == [True]
    assert len(ranks[0]["digests"]) == 2 * 2  # 200 seeds / 2 ranks / 64 per batch: 2 steps, 2 epochs
    assert ranks[0]["digests"] == ranks[1]["digests"]
    assert len(set(ranks[0]["digests"])) == len(ranks[0]["digests"])  # and they do change every step
    for epoch in range(2):
        a, b = set(ranks[0]["seeds"][epoch]), set(ranks[1]["seeds"][epoch])
        assert not a & b and len(a | b) == 200  # each rank trains on its own half of the seeds


def test_half_precision_features_train(tmp_path):
    ds = toy_dataset()
    half = NodeDataset("toy", ds.graph, ds.x.half(), ds.y, ds.train_idx, ds.val_idx, ds.test_idx, 3)
    result = train(config(tmp_path, epochs=2, checkpoint=None), dataset=half)
    assert all(np.isfinite(m.loss) for m in result.history) and result.scores.val > 0.4
