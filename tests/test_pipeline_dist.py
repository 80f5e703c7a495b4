"""Pipelined and graph-parallel training across real gloo processes: equality with one process,
and a killed stage turning into an error within the timeout instead of a hang."""
from __future__ import annotations

import datetime
import multiprocessing
import os
import signal
import threading
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_pipeline_units import reference, tiny_dataset

from graphsys.pipeline import PipelineConfig, run_rank, train
from graphsys.pipeline.run import _free_port


@pytest.mark.parametrize(
    "stages, groups, chunks, model",
    [(2, 1, 3, "gcn"), (1, 2, 2, "sage")],
    ids=["pipeline-S2", "graph-parallel-G2"],
)
def test_staleness_free_run_equals_single_process(stages, groups, chunks, model):
    ds = tiny_dataset()
    cfg = PipelineConfig(model=model, layers=4, hidden=16, stages=stages, graph_parallel=groups, chunks=chunks,
                         epochs=1, warmup_epochs=1, dropout=0.3, seed=5, timeout_s=60)
    result = train(cfg, ds)
    ref_logits, ref_grads = reference(ds, cfg)
    assert len(result.reports) == stages * groups
    covered = set()
    for report in result.reports:
        if report.logits is not None:
            torch.testing.assert_close(report.logits, ref_logits[report.node_ids], rtol=1e-5, atol=1e-5)
        for name, grad in report.grads.items():  # already all-reduced over the groups
            torch.testing.assert_close(grad, ref_grads[name], rtol=1e-5, atol=1e-6, msg=name)
            covered.add(name)
    assert covered == ref_grads.keys()
    epoch = result.metrics[0]
    n, width = ds.graph.num_nodes, cfg.hidden * 4
    if stages == 2:  # one embedding per node across the boundary each way, nothing else
        assert epoch.comm_by_kind["activations"] == epoch.comm_by_kind["gradients"] == n * width
        assert epoch.comm_bytes == 2 * n * width
    else:
        assert epoch.comm_by_kind["activations"] == 0 and epoch.comm_by_kind["halo"] > 0
    assert epoch.max_staleness == 0
    for rank in epoch.per_rank:  # waits are part of each rank's training time
        assert 0.0 <= rank["wait_s"] <= rank["epoch_s"]


def _rank_main(rank: int, port: int, cfg: PipelineConfig, metrics_out: str) -> None:
    """A rank started by the test itself, so the test can kill one and watch the other."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=cfg.timeout_s))
    run_rank(rank, cfg, tiny_dataset(), metrics_out=metrics_out)


def _wait_for(path, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            pytest.fail(f"no epoch finished within {deadline_s} s")
        time.sleep(0.2)


def test_killed_stage_makes_the_survivor_fail_within_timeout(tmp_path):
    cfg = PipelineConfig(layers=4, hidden=16, stages=2, chunks=2, epochs=100_000, warmup_epochs=1, timeout_s=20)
    metrics = str(tmp_path / "metrics.jsonl")
    ctx = mp.start_processes(_rank_main, args=(_free_port(), cfg, metrics), nprocs=2, join=False,
                             start_method="spawn")
    survivor, victim = ctx.processes
    try:
        _wait_for(metrics, 120)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        survivor.join(cfg.timeout_s + 10)
        assert not survivor.is_alive(), "the surviving stage hung after its peer died"
        assert survivor.exitcode != 0
        assert time.monotonic() - killed_at <= cfg.timeout_s + 10
    finally:
        for process in ctx.processes:
            if process.is_alive():
                process.kill()


def test_launcher_stops_every_rank_and_names_the_dead_one(tmp_path):
    cfg = PipelineConfig(layers=4, hidden=16, stages=2, chunks=2, epochs=100_000, warmup_epochs=1, timeout_s=20)
    metrics = tmp_path / "metrics.jsonl"

    def kill_last_rank():
        _wait_for(metrics, 120)
        children = sorted(multiprocessing.active_children(), key=lambda p: int(p.name.rsplit("-", 1)[-1]))
        os.kill(children[-1].pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_last_rank)
    killer.start()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"pipeline rank 1 \(stage 1, group 0\) died \(signal SIGKILL\)"):
        train(cfg, tiny_dataset(), metrics_out=metrics)
    killer.join()
    assert time.monotonic() - started < 120 + cfg.timeout_s
    assert not multiprocessing.active_children()
