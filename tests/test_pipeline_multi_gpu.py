"""The multi-GPU run's driver (benchmarks/bench_multi_gpu.py): its checks and how a failed step is
reported. The steps themselves need minutes; `bash benchmarks/run_multi_gpu.sh --small --device cpu`
runs every one of them end to end on the CPU."""
from __future__ import annotations

import json
import sys

import pytest

from benchmarks.bench_multi_gpu import StepFailed, measured, median_after, parse_args, read_jsonl, run_step, torchrun


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--gpus", "0"], "--gpus must be at least 1, got 0"),
        (["--gpus", "2", "--parts", "train,bogus"], "unknown --parts bogus"),
        (["--gpus", "2", "--pipeline-epochs", "2", "--warmup", "2"], "leaves no epoch after --warmup 2"),
        (["--gpus", "4", "--train-counts", "2,4"], "must start with 1"),
        (["--gpus", "4", "--train-counts", "1,8"], "stay within 1..4"),
        (["--gpus", "4", "--train-counts", "1,two"], "must be comma-separated integers"),
    ],
)
def test_driver_rejects_bad_arguments(argv, match, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err


def test_small_mode_shrinks_every_part():
    args = parse_args(["--gpus", "2", "--device", "cpu", "--small"])
    assert args.parts == ["train", "pipeline", "embed"]
    assert (args.scale, args.embed_scale, args.layers) == (0.01, 0.01, 4)
    assert args.pipeline_epochs > args.warmup
    full = parse_args(["--gpus", "4"])
    assert (full.scale, full.layers, full.embed_epochs) == (1.0, 16, 4000.0)
    assert full.train_counts == [1, 2, 3, 4]
    assert parse_args(["--gpus", "8", "--train-counts", "1,2,4,8"]).train_counts == [1, 2, 4, 8]


def test_failed_step_names_its_exit_code_and_last_line(tmp_path):
    command = [sys.executable, "-c", "import sys; print('first'); print('the last words'); sys.exit(3)"]
    with pytest.raises(StepFailed, match=r"boom: exit code 3: the last words \(log: .*boom\.log\)"):
        run_step("boom", command, tmp_path, 1, timeout_s=60)
    assert "first" in (tmp_path / "boom.log").read_text()
    with pytest.raises(StepFailed, match=r"slow: no result within 0.5 s"):
        run_step("slow", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path, 1, timeout_s=0.5)
    assert run_step("fine", [sys.executable, "-c", "pass"], tmp_path, 1, timeout_s=60) > 0


def test_metrics_are_read_from_json_lines(tmp_path):
    with pytest.raises(StepFailed, match="was not written"):
        read_jsonl(tmp_path / "missing.jsonl")
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"epoch": e, "train_s": t}) + "\n" for e, t in enumerate([9.0, 2.0, 4.0, 3.0])))
    epochs = read_jsonl(path)
    assert median_after([e["train_s"] for e in epochs], 1) == 3.0  # the first epoch is not timed
    assert median_after([5.0], 1) == 5.0
    assert torchrun(3) == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "3"]


def test_a_failed_measurement_becomes_a_row_with_its_error(capsys):
    def fails() -> dict:
        raise StepFailed("train_k2: exit code 1: out of memory (log: x.log)")

    row = measured({"part": "train", "processes": 2}, fails)
    assert row == {"part": "train", "processes": 2, "error": "train_k2: exit code 1: out of memory (log: x.log)"}
    assert "FAILED: train_k2" in capsys.readouterr().out
    assert measured({"part": "train"}, lambda: {"epoch_s": 1.5}) == {"part": "train", "epoch_s": 1.5}
