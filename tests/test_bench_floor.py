"""benchmarks/bench_floor.py on the CPU: the result file's structure, each run's floor replayed over the
epoch's own batches (the same losses) and below its epoch. A small model (2 layers of 8, fanouts 10,10,
batches of 128), so that the loader's share of the epoch (about half) stands out of the steps' timing
noise, and 3 timed epochs, so that the medians compared shrug off one epoch slowed by another process."""
import json

import pytest

from benchmarks import bench_floor, common

SMOKE = ["--scale", "0.01", "--papers-scale", "0.001", "--device", "cpu", "--epochs", "4", "--hidden", "8",
         "--fanouts", "10,10", "--batch-size", "128", "--quiet"]
RUNS = ["products cpu fp32", "products cpu bf16", "papers100m cpu fp32"]


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "RESULTS", results)
        patch.delenv("OUT", raising=False)
        assert bench_floor.main(SMOKE) == 0
    return json.loads((results / "bench_floor_cpu.json").read_text())


def test_the_result_names_the_machine_the_command_and_every_run(smoke_result):
    assert smoke_result["benchmark"] == "bench_floor_cpu"
    assert "bench_floor" in smoke_result["command"] and smoke_result["machine"]["cpu_count"] >= 1
    figures = smoke_result["figures"]
    assert list(figures["epoch_over_step_floor"]) == RUNS
    assert list(figures["runs"]) == RUNS and [row["run"] for row in smoke_result["rows"]] == RUNS
    assert figures["papers100m_epoch_s"] == smoke_result["rows"][2]["epoch_s"]
    assert set(figures["bf16_over_fp32"]) == {"products cpu"}
    assert set(figures["bf16_over_fp32"]["products cpu"]) == {"epoch_s", "step_floor_s"}


def test_each_floor_replays_the_epochs_own_batches_and_lies_below_the_epoch(smoke_result):
    for row in smoke_result["rows"]:
        assert row["epochs_timed"] == 3 and [e["epoch"] for e in row["per_epoch"]] == [2, 3, 4]
        assert row["batches"] == (16 if row["dataset"] == "synthetic-products" else 10)
        for epoch in row["per_epoch"]:
            # the same batches and the same dropout masks from the same starting state: the same loss
            assert epoch["replay_loss"] == pytest.approx(epoch["loss"], rel=1e-6)
            assert epoch["step_floor_s"] > 0
        assert row["step_floor_s"] < row["epoch_s"] and row["epoch_over_step_floor"] > 1
        assert row["step_ms_per_batch"] == pytest.approx(1e3 * row["step_floor_s"] / row["batches"])
        figures = smoke_result["figures"]["runs"][row["run"]]
        assert figures == {key: row[key] for key in ("batches", "epoch_s", "step_floor_s", "step_ms_per_batch")}


def test_fewer_than_two_timed_epochs_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench_floor.parse_args(["--epochs", "2"])
    assert "at least 2 must be" in capsys.readouterr().err
