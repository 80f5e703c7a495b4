"""benchmarks/bench_step.py and bench_loader.py --overlap: their bad inputs, and what --overlap counts."""
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


@pytest.mark.parametrize("variant", ["fp16", "fp32+fused", "fp32+pyg_trim+spmm"])
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
