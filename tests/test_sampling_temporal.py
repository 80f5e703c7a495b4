"""Temporal sampling (``edge_time``, ``seed_time``, ``temporal_strategy``): a tree follows only
edges no later than its seed's time; "last" keeps the latest; rows sorted by time; on the CPU,
through the Triton kernels (TRITON_INTERPRET=1) and on a GPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sampling import NeighborSampler
from sampling.csr import sort_rows_by
from tests.test_sampling_weighted import KINDS, _Sampler


class _Temporal(_Sampler):
    def sample(self, seeds, seed_time=None, last=False):
        self.call += 1
        if self.kind == "triton":
            g = self.impl._graph
            typed = g.seeds_by_type(seeds)
            order = [g.node_types.index(k) for k in seeds] if isinstance(seeds, dict) else [0]
            if isinstance(seed_time, dict):
                times = [seed_time[k] for k in g.node_types if k in seed_time]
            else:
                times = [seed_time]
            return self.impl.sample_disjoint(typed, order, times, 3, self.call, last)
        return self.impl.sample(seeds, seed_time)


def _timed_graph(n=30, e=160, seed=0):
    rng = np.random.default_rng(seed)
    dst = np.sort(rng.integers(0, n, e))
    indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n))]))
    indices = torch.from_numpy(rng.integers(0, n, e))
    time = torch.from_numpy(rng.integers(0, 50, e))
    order = sort_rows_by(indptr, time)
    return indptr, indices[order], time[order]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fanouts", [(3, 2), (-1, -1)])
@pytest.mark.parametrize("replace", [False, True])
def test_no_edge_is_later_than_its_seed(kind, fanouts, replace):
    if replace and fanouts[0] < 0:
        pytest.skip("fanout -1 takes every neighbour")
    indptr, indices, time = _timed_graph()
    extra = {} if kind == "triton" else {"temporal_strategy": "uniform"}
    sampler = _Temporal(kind, indptr, indices, fanouts, replace=replace, edge_time=time, **extra)
    seeds, seed_time = torch.tensor([1, 4, 4, 9]), torch.tensor([10, 25, 49, 0])
    out = sampler.sample(seeds, seed_time)
    batch, edge, col = out.batch.cpu(), out.edge.cpu(), out.col.cpu()
    assert (time[edge] <= seed_time[batch[col]]).all(), "an edge later than its tree's seed"
    assert torch.equal(batch[out.row.cpu()], batch[col])
    if fanouts[0] < 0:  # every edge no later than the seed time, at the first hop
        for i, (s, t) in enumerate(zip(seeds.tolist(), seed_time.tolist(), strict=True)):
            row = slice(int(indptr[s]), int(indptr[s + 1]))
            hop1 = edge[(col == i)]
            assert hop1.tolist() == [k for k in range(row.start, row.stop) if time[k] <= t]


@pytest.mark.parametrize("kind", KINDS)
def test_last_takes_the_latest_allowed_neighbours(kind):
    indptr = torch.tensor([0, 6] + [6] * 6)
    indices, time = torch.arange(1, 7), torch.arange(1, 7)
    extra = {} if kind == "triton" else {"temporal_strategy": "last"}
    sampler = _Temporal(kind, indptr, indices, (2,), edge_time=time, **extra)
    for _ in range(3):
        out = sampler.sample(torch.tensor([0, 0]), torch.tensor([3, 5]), last=True)
        got = sorted(zip(out.batch[out.col].tolist(), time[out.edge.cpu()].tolist(), strict=True))
        assert got == [(0, 2), (0, 3), (1, 4), (1, 5)]


@pytest.mark.parametrize("kind", KINDS)
def test_uniform_draws_spread_over_the_allowed_prefix(kind):
    indptr = torch.tensor([0, 8] + [8] * 8)
    indices, time = torch.arange(1, 9), torch.arange(8)
    sampler = _Temporal(kind, indptr, indices, (1,), edge_time=time)
    seen = set()
    for _ in range(30 if kind == "triton" else 200):
        out = sampler.sample(torch.tensor([0]), torch.tensor([3]))
        seen.update(time[out.edge.cpu()].tolist())
    assert seen == {0, 1, 2, 3}


@pytest.mark.parametrize("kind", KINDS)
def test_heterogeneous_edge_types_without_times_are_not_limited(kind):
    timed, plain = ("b", "to", "a"), ("c", "to", "a")
    indptr = {timed: torch.tensor([0, 2]), plain: torch.tensor([0, 2])}
    indices = {timed: torch.tensor([0, 1]), plain: torch.tensor([0, 1])}
    sampler = _Temporal(kind, indptr, indices, [-1], num_nodes={"a": 1, "b": 2, "c": 2},
                        edge_time={timed: torch.tensor([1, 7])})
    out = sampler.sample({"a": torch.tensor([0])}, {"a": torch.tensor([5])})
    assert out.node["b"].tolist() == [0] and out.node["c"].tolist() == [0, 1]


def test_weighted_and_temporal_together_on_the_cpu():
    indptr = torch.tensor([0, 4] + [4] * 4)
    sampler = NeighborSampler(indptr, torch.arange(1, 5), [2], edge_time=torch.tensor([1, 2, 3, 9]),
                              edge_weight=torch.tensor([0.0, 1.0, 1.0, 1.0]))
    out = sampler.sample(torch.tensor([0]), seed_time=torch.tensor([5]))
    assert sorted(out.node.tolist()) == [0, 2, 3]


def test_temporal_input_is_checked():
    indptr, indices = torch.tensor([0, 2, 2, 2]), torch.tensor([1, 2])
    with pytest.raises(ValueError, match=r"edge_time decreases within row 0: edge_time\[0\] = 5 > edge_time\[1\] = 1"):
        NeighborSampler(indptr, indices, [1], edge_time=torch.tensor([5, 1]))
    with pytest.raises(ValueError, match=r"edge_time has shape \(3,\); expected one time per edge, shape \(2,\)"):
        NeighborSampler(indptr, indices, [1], edge_time=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="temporal_strategy='latest'; expected 'uniform' or 'last'"):
        NeighborSampler(indptr, indices, [1], edge_time=torch.tensor([1, 2]), temporal_strategy="latest")
    sampler = NeighborSampler(indptr, indices, [1], edge_time=torch.tensor([1, 2]))
    assert sampler.disjoint and sampler.is_temporal
    with pytest.raises(ValueError, match="pass seed_time"):
        sampler.sample(torch.tensor([0]))
    with pytest.raises(ValueError, match=r"seed_time has shape \(2,\); expected one time per seed, \(1,\)"):
        sampler.sample(torch.tensor([0]), seed_time=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="seed_time is given but this sampler has no edge_time"):
        NeighborSampler(indptr, indices, [1]).sample(torch.tensor([0]), seed_time=torch.tensor([1]))


def test_sort_rows_by_sorts_within_rows_only():
    indptr = torch.tensor([0, 3, 3, 5])
    order = sort_rows_by(indptr, torch.tensor([9, 1, 5, 2, 0]))
    assert order.tolist() == [1, 2, 0, 4, 3]
