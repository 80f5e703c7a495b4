"""Distributed runs prepare their data in turns (``DistContext.in_turns``): rank 0 generates or derives
what lands on disk before any other rank opens it, and a rank that fails there stops every rank with
an error instead of leaving the others waiting at a barrier. Two gloo ranks on the CPU."""
import time

import pytest
from _dist import as_rank, read_ranks, spawn_ranks, write_rank

from graphsys.train import TrainConfig, train
from graphsys.train.distributed import setup, teardown


def _train_worker(rank: int, world: int, port: int, out_dir: str, root: str) -> None:
    as_rank(rank, world, port)
    from graphsys.train import loop

    load, spans = loop.load_dataset, []

    def timed_load(config):
        start = time.time()
        dataset = load(config)
        spans.append((start, time.time()))
        return dataset

    loop.load_dataset = timed_load
    train(TrainConfig("synthetic-arxiv", root=root, scale=0.002, layers=2, fanouts=(5, 3), hidden=16, epochs=1,
                      eval_every=0, features="cpu", graph="cpu", device="cpu", quiet=True, seed=1, checkpoint=None))
    write_rank(out_dir, rank, {"spans": spans})


def test_rank_zero_generates_the_dataset_before_another_rank_opens_it(tmp_path):
    """On a fresh root, rank 0 generates the preset alone; rank 1 starts loading once it is written."""
    spawn_ranks(_train_worker, 2, str(tmp_path), str(tmp_path / "data"))
    (first,), (second,) = (r["spans"] for r in read_ranks(tmp_path, 2))
    assert second[0] >= first[1], f"rank 1 began loading at {second[0]}, before rank 0 finished at {first[1]}"


def _failing_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    as_rank(rank, world, port)
    ctx = setup(use_cuda=False, timeout_s=120)
    outcome = "returned"
    try:
        ctx.in_turns(lambda: 1 / 0 if ctx.rank == 0 else "loaded")
    except ZeroDivisionError:
        outcome = "its own error"
    except RuntimeError as err:
        outcome = str(err)
    finally:
        teardown(ctx)
    write_rank(out_dir, rank, outcome)


def test_a_rank_failing_in_its_turn_stops_every_rank_without_a_hang(tmp_path):
    start = time.time()
    spawn_ranks(_failing_worker, 2, str(tmp_path))
    zero, one = read_ranks(tmp_path, 2)
    assert zero == "its own error"
    assert one.startswith("rank 0 failed while preparing the run") and "rank 1 stops too" in one
    assert time.time() - start < 100, "the ranks must not wait for the collective timeout"


def test_one_process_just_runs_the_work():
    from graphsys.train.distributed import DistContext

    assert DistContext().in_turns(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        DistContext().in_turns(lambda: 1 / 0)
