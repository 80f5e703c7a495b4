"""graphsys.metrics_tensorboard and `--tensorboard` on `graphsys pipeline`: the scalars written,
read back with TensorBoard's own reader, and the error without the tensorboard package."""
import json
import sys

import pytest

import graphsys.datasets
from graphsys.cli import main
from graphsys.metrics_tensorboard import TensorBoardUnavailable, TensorBoardWriter, require_tensorboard, scalars
from tests.test_pipeline_units import tiny_dataset


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in ``log_dir``'s event files, by tag: ``[(step, value), ...]``."""
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_scalars_flattens_numbers_and_drops_the_rest():
    record = {"epoch": 3, "loss": 0.5, "val_acc": None, "mode": "sync", "ok": True, "nan": float("nan"),
              "comm_by_kind": {"halo": 10, "eval": 2}, "per_rank": [{"rank": 0, "wait_s": 0.25}]}
    assert scalars(record) == {"epoch": 3.0, "loss": 0.5, "comm_by_kind/halo": 10.0, "comm_by_kind/eval": 2.0,
                               "per_rank/0/rank": 0.0, "per_rank/0/wait_s": 0.25}
    assert scalars({"loss": 1}, prefix="embed/") == {"embed/loss": 1.0}


def test_writer_round_trip(tmp_path):
    pytest.importorskip("tensorboard")
    with TensorBoardWriter(tmp_path / "tb", prefix="run") as board:
        assert board.write({"loss": 2.0, "scores": {"val": 0.5}, "test_acc": None}, step=0) == 2
        assert board.write({"loss": 1.0, "scores": {"val": 0.75}}, step=1) == 2
    found = read_scalars(tmp_path / "tb")
    assert found == {"run/loss": [(0, 2.0), (1, 1.0)], "run/scores/val": [(0, 0.5), (1, 0.75)]}
    with pytest.raises(RuntimeError, match="closed"):
        board.write({"loss": 0.0}, step=2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        TensorBoardWriter(tmp_path / "file")


def test_without_tensorboard_the_flag_fails_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    needs = r"--tensorboard needs the tensorboard package.*graphsys\[tensorboard\]"
    with pytest.raises(TensorBoardUnavailable, match=needs):
        require_tensorboard()
    with pytest.raises(ImportError):
        TensorBoardWriter(tmp_path / "tb")

    def no_load(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the flag was checked")

    monkeypatch.setattr(graphsys.datasets, "load", no_load)
    argv = ["pipeline", "--dataset", "tiny", "--stages", "1", "--layers", "2", "--tensorboard", str(tmp_path / "tb")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--tensorboard needs the tensorboard package" in err and "pip install 'graphsys[tensorboard]'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "tb").exists()


def test_tensorboard_flag_refuses_a_file(tmp_path, capsys):
    (tmp_path / "tb").write_text("not a folder")
    assert main(["pipeline", "--dataset", "tiny", "--stages", "1", "--layers", "2",
                 "--tensorboard", str(tmp_path / "tb")]) == 2
    assert "--tensorboard" in capsys.readouterr().err


@pytest.mark.parametrize("stages", [1, 2], ids=["one-process", "spawned-S2"])
def test_pipeline_writes_every_epoch(tmp_path, monkeypatch, capsys, stages):
    pytest.importorskip("tensorboard")
    monkeypatch.setattr(graphsys.datasets, "load", lambda *args, **kwargs: tiny_dataset())
    metrics, tb = tmp_path / "m.jsonl", tmp_path / "tb"
    assert main(["pipeline", "--dataset", "tiny", "--stages", str(stages), "--layers", "2", "--hidden", "8",
                 "--chunks", "2", "--epochs", "3", "--eval-every", "2", "--timeout", "60", "--quiet",
                 "--metrics-out", str(metrics), "--tensorboard", str(tb)]) == 0
    capsys.readouterr()
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    found = read_scalars(tb)
    for key in ("loss", "epoch_s", "eval_s", "comm_bytes", "stale_fraction", "per_rank/0/epoch_s"):
        assert [step for step, _ in found[key]] == [0, 1, 2], key
    assert [v for _, v in found["loss"]] == pytest.approx([line["loss"] for line in lines])
    # Accuracies only in the epochs that evaluated (the 2nd, and the last).
    assert [step for step, _ in found["test_acc"]] == [1, 2]
    assert found["test_acc"][-1][1] == pytest.approx(lines[-1]["test_acc"])
    if stages == 2:
        assert "per_rank/1/wait_s" in found and "comm_by_kind/activations" in found


def test_train_writes_every_epoch(tmp_path, shared_data, capsys):
    pytest.importorskip("tensorboard")
    root = shared_data("planetoid/cora").parent
    metrics, tb = tmp_path / "m.jsonl", tmp_path / "tb"
    assert main(["train", "--dataset", "cora", "--root", str(root), "--layers", "2", "--fanouts", "5,5",
                 "--hidden", "16", "--batch-size", "70", "--epochs", "3", "--eval-every", "2", "--features", "cpu",
                 "--graph", "cpu", "--quiet", "--metrics-out", str(metrics), "--tensorboard", str(tb)]) == 0
    capsys.readouterr()
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    found = read_scalars(tb)
    for key in ("loss", "epoch_s", "sample_s", "gather_s", "compute_s", "seeds_per_s"):
        assert [step for step, _ in found[key]] == [1, 2, 3], key
    assert [v for _, v in found["loss"]] == pytest.approx([line["loss"] for line in lines])
    assert [step for step, _ in found["test_acc"]] == [2, 3]


def test_train_without_tensorboard_fails_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    assert main(["train", "--dataset", "cora", "--root", str(tmp_path / "nothing-here"),
                 "--tensorboard", str(tmp_path / "tb")]) == 2
    assert "--tensorboard needs the tensorboard package" in capsys.readouterr().err
