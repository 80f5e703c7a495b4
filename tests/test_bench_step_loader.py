"""benchmarks/bench_step.py and bench_loader.py: bad inputs, what --overlap counts, the --configs options,
the per-stream profile and the ratios against gpu_resident."""
import re
from types import SimpleNamespace

import pytest
import torch

from benchmarks import bench_loader, bench_step
from graphsys import Graph


def _dataset(num_nodes=300, train=100):
    g = torch.Generator().manual_seed(0)
    graph = Graph.from_edge_index(torch.randint(0, num_nodes, (2, 3000), generator=g), num_nodes)
    return SimpleNamespace(graph=graph, train_idx=torch.arange(train))


@pytest.mark.parametrize("variant", ["fp16", "fp32+fused", "fp32+spmm", "fp32+pyg_trim+pyg_trim"])
def test_step_refuses_an_unknown_variant(variant):
    with pytest.raises(ValueError, match=re.escape(f"unknown variant '{variant}'")):
        bench_step.Step(variant, 4, 3, [2, 2], torch.device("cpu"))


def test_overlap_counts_repeated_rows_and_refuses_a_group_larger_than_the_seeds():
    ds = _dataset()
    args = bench_loader.parse_args(["--batch-size", "20", "--cache-fraction", "0.2"])
    (row,) = bench_loader.group_overlap(ds, args, [3, 3], [2])
    assert row["gather_group"] == 2 and 0 < row["repeated_share"] < 1
    assert 0 <= row["repeated_share_of_cache_misses"] < 1
    with pytest.raises(ValueError, match="a group of 6 batches of 20 needs 120 training seeds, the dataset has 100"):
        bench_loader.group_overlap(ds, args, [3, 3], [6])


def test_config_options_and_their_defaults():
    args = bench_loader.parse_args(["--gather-group", "3"])
    plain = bench_loader.parse_config("pinned_features", args)
    assert (plain.base, plain.programs_per_sm, plain.gather_group, plain.bf16) == ("pinned_features", None, 3, False)
    full = bench_loader.parse_config("pinned_features_cache@0.125+g4+bf16", args)
    assert (full.base, full.programs_per_sm, full.gather_group, full.bf16) == ("pinned_features_cache", 0.125, 4, True)
    assert bench_loader.parse_config("gpu_resident", bench_loader.parse_args([])).gather_group is None


@pytest.mark.parametrize("label, message", [
    ("pinned_features+g0", "unknown option +g0"),
    ("pinned_features+distinct", "unknown option +distinct"),
    ("pinned_features@wide", "@wide must be a number of programs per SM"),
    ("pinned_features@-1", "@-1 must be a number of programs per SM"),
])
def test_a_bad_config_option_is_named(label, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bench_loader.parse_config(label, bench_loader.parse_args([]))


def test_stream_rows_take_the_union_of_each_streams_kernels():
    def kernel(stream, ts, dur, name):
        return {"cat": "kernel", "ts": ts, "dur": dur, "name": name, "args": {"stream": stream}}

    trace = {"traceEvents": [
        kernel(7, 0, 10, "gemm"), kernel(7, 5, 10, "gemm"), kernel(7, 30, 5, "relu"),  # union 15 + 5
        kernel(13, 10, 40, "_gather_kernel"),
        {"cat": "cpu_op", "ts": 0, "dur": 100, "name": "aten::mm"},
    ]}
    rows = bench_loader.stream_rows(trace, batches=2)
    by_stream = {row["stream"]: row for row in rows}
    assert by_stream[7]["kernels"] == 3 and by_stream[7]["busy_ms_per_batch"] == pytest.approx(20 / 1e3 / 2)
    assert by_stream[7]["top_kernel"] == "gemm" and by_stream[7]["top_kernel_share"] == pytest.approx(20 / 25)
    assert by_stream[13]["busy_ms_per_batch"] == pytest.approx(40 / 1e3 / 2)
    # union over streams: [0, 50); wall from 0 to 50
    assert by_stream["any"]["busy_ms_per_batch"] == pytest.approx(50 / 1e3 / 2)
    assert by_stream["any"]["wall_ms_per_batch"] == pytest.approx(50 / 1e3 / 2)


def test_ratios_average_rounds_and_compare_a_bf16_table_with_its_own_reference():
    rows = [{"config": "gpu_resident", "train_batches_per_s": 200.0},
            {"config": "pinned_features", "train_batches_per_s": 170.0},
            {"config": "gpu_resident", "train_batches_per_s": 220.0},
            {"config": "pinned_features", "train_batches_per_s": 190.0},
            {"config": "gpu_resident+bf16", "train_batches_per_s": 250.0},
            {"config": "pinned_features+bf16", "train_batches_per_s": 240.0},
            {"config": "train_only", "train_batches_per_s": 300.0}]
    found = bench_loader.versus_gpu_resident(rows, trained=True)
    assert found["vs_gpu_resident"]["pinned_features"] == pytest.approx(180 / 210)
    assert found["vs_gpu_resident"]["pinned_features+bf16"] == pytest.approx(240 / 250)
    assert found["within_10_percent"] is False
    assert bench_loader.versus_gpu_resident(rows[1:2], trained=True) == {}
