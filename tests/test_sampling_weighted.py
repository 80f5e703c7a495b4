"""Weighted neighbour sampling (``edge_weight``): draws proportional to edge weight, without
replacement distinct and ``min(k, #positive)`` of them, with replacement ``k`` independent ones;
on the CPU (numba), through the Triton kernels (under TRITON_INTERPRET=1 on the CPU) and on a GPU.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from sampling import NeighborSampler

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
KINDS = [
    pytest.param("cpu"),
    pytest.param("triton", marks=pytest.mark.skipif(not INTERPRET, reason="set TRITON_INTERPRET=1")),
    pytest.param("cuda", marks=pytest.mark.gpu),
    pytest.param("pinned", marks=pytest.mark.gpu),
]


class _Sampler:
    """One interface over the placements: ``sample(seeds)`` draws the next call."""

    def __init__(self, kind, indptr, indices, fanouts, replace=False, **values):
        self.kind, self.call = kind, 0
        if kind == "triton":
            from sampling._gpu_sampler import GpuNeighborSampler

            nodes = values.pop("num_nodes", None)
            self.impl = GpuNeighborSampler(indptr, indices, fanouts, replace, device=torch.device("cpu"),
                                           num_nodes=nodes, **values)
            return
        move = (lambda t: t.pin_memory()) if kind == "pinned" else (lambda t: t.to(kind))
        if kind != "cpu":
            def mv(d):
                return {k: move(v) for k, v in d.items()} if isinstance(d, dict) else move(d)

            indptr, indices = mv(indptr), mv(indices)
            values = {k: (mv(v) if k.startswith("edge_") else v) for k, v in values.items()}
        self.impl = NeighborSampler(indptr, indices, fanouts, replace=replace, seed=3, **values)

    def sample(self, seeds):
        self.call += 1
        if self.kind == "triton":
            return self.impl.sample(seeds, 3, self.call)
        return self.impl.sample(seeds)


def _star(weights):
    """Node 0 with in-neighbours 1..d carrying ``weights``; nodes 1..d have none."""
    d = len(weights)
    indptr = torch.tensor([0, d] + [d] * d)
    return indptr, torch.arange(1, d + 1), torch.tensor(weights, dtype=torch.float32)


def _counts(sampler, calls, d):
    """Draw counts of neighbours 1..d of seed 0 over ``calls`` samples, and each sample's size."""
    seeds = torch.tensor([0])
    counts = np.zeros(d + 1)
    sizes = []
    for _ in range(calls):
        out = sampler.sample(seeds)
        nbr = out.node[out.row].cpu().numpy()
        sizes.append(len(nbr))
        np.add.at(counts, nbr, 1)
    return counts[1:], sizes


def _chi_square_ok(observed, expected):
    """Pearson's statistic below the 0.999 quantile (approximated) for len - 1 degrees of freedom."""
    keep = expected > 0
    stat = float((((observed - expected) ** 2)[keep] / expected[keep]).sum())
    dof = int(keep.sum()) - 1
    bound = dof + 3.1 * np.sqrt(2 * dof) + 10  # generous: about the 0.999 quantile for small dof
    return stat < bound, stat, bound


@pytest.mark.parametrize("kind", KINDS)
def test_with_replacement_frequencies_follow_weights(kind):
    weights = [1.0, 2.0, 0.0, 5.0, 0.5, 3.5]
    calls = 60 if kind == "triton" else 3000
    sampler = _Sampler(kind, *_star(weights)[:2], (4,), replace=True, edge_weight=_star(weights)[2])
    counts, sizes = _counts(sampler, calls, len(weights))
    assert set(sizes) == {4}
    assert counts[2] == 0, "an edge of weight 0 is never drawn"
    expected = np.array(weights) / sum(weights) * 4 * calls
    ok, stat, bound = _chi_square_ok(counts, expected)
    assert ok, (counts, expected, stat, bound)


@pytest.mark.parametrize("kind", KINDS)
def test_without_replacement_is_distinct_and_follows_successive_draws(kind):
    weights = [1.0, 2.0, 0.0, 5.0, 0.5]
    calls = 60 if kind == "triton" else 3000
    indptr, indices, w = _star(weights)
    sampler = _Sampler(kind, indptr, indices, (2,), edge_weight=w)
    counts = np.zeros(len(weights))
    for _ in range(calls):
        out = sampler.sample(torch.tensor([0]))
        nbr = out.node[out.row].cpu()
        assert nbr.numel() == 2 and nbr.unique().numel() == 2, "distinct neighbours"
        counts[nbr.numpy() - 1] += 1
    # inclusion probability of each edge under two successive weighted draws without replacement
    p = np.array(weights) / sum(weights)
    incl = np.array([p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(len(p)) if j != i) for i in range(len(p))])
    assert counts[2] == 0
    ok, stat, bound = _chi_square_ok(counts, incl * calls)
    assert ok, (counts, incl * calls, stat, bound)


@pytest.mark.parametrize("kind", KINDS)
def test_a_node_gets_its_positive_weight_neighbours_when_they_are_few(kind):
    indptr, indices, w = _star([0.0, 3.0, 0.0, 1.0, 0.0])
    sampler = _Sampler(kind, indptr, indices, (4,), edge_weight=w)
    for _ in range(3):
        out = sampler.sample(torch.tensor([0]))
        assert sorted(out.node[out.row].tolist()) == [2, 4]
    replace = _Sampler(kind, indptr, indices, (3,), replace=True, edge_weight=torch.zeros(5))
    out = replace.sample(torch.tensor([0]))
    assert out.row.numel() == 0, "all weights 0: nothing to draw"


@pytest.mark.parametrize("kind", KINDS)
def test_long_rows_span_several_chunks(kind):
    """A row of 300 edges (the Triton kernel reads 64 at a time): weights 0 for the first 100."""
    d = 300
    weights = [0.0] * 100 + [float(i % 7 + 1) for i in range(200)]
    indptr, indices, w = _star(weights)
    calls = 25 if kind == "triton" else 1500
    for replace in (False, True):
        sampler = _Sampler(kind, indptr, indices, (6,), replace=replace, edge_weight=w)
        counts, sizes = _counts(sampler, calls, d)
        assert set(sizes) == {6}
        assert counts[:100].sum() == 0
        if kind != "triton":
            expected = np.array(weights) / sum(weights) * 6 * calls
            # grouped by weight class, so every cell is large
            classes = np.array([0] * 100 + [i % 7 + 1 for i in range(200)])
            obs = np.array([counts[classes == c].sum() for c in range(1, 8)])
            exp = np.array([expected[classes == c].sum() for c in range(1, 8)])
            if not replace:  # inclusion is not proportional: only check the ordering of classes
                assert np.all(np.diff(obs / (classes[100:] == 1).sum()) > 0)
            else:
                ok, stat, bound = _chi_square_ok(obs, exp)
                assert ok, (obs, exp, stat, bound)


@pytest.mark.parametrize("kind", KINDS)
def test_all_neighbours_of_positive_weight_with_fanout_minus_one(kind):
    indptr, indices, w = _star([1.0, 0.0, 2.0])
    out = _Sampler(kind, indptr, indices, (-1,), edge_weight=w).sample(torch.tensor([0]))
    assert out.node.tolist() == [0, 1, 3] and out.edge.tolist() == [0, 2] and out.num_sampled_edges == [2]


@pytest.mark.parametrize("kind", KINDS)
def test_weighted_multi_hop_keeps_the_output_contract(kind):
    rng = np.random.default_rng(0)
    n, e = 30, 150
    dst = np.sort(rng.integers(0, n, e))
    indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n))]))
    indices = torch.from_numpy(rng.integers(0, n, e))
    kept = torch.rand(e, generator=torch.Generator().manual_seed(1)) > 0.3
    w = torch.from_numpy(rng.random(e).astype(np.float32)) * kept
    sampler = _Sampler(kind, indptr, indices, (3, 2), edge_weight=w)
    out = sampler.sample(torch.tensor([0, 5, 7]))
    edge, row, col, node = out.edge.cpu(), out.row.cpu(), out.col.cpu(), out.node.cpu()
    assert torch.equal(indices[edge], node[row]), "row is the sampled neighbour"
    assert (w[edge] > 0).all(), "no edge of weight 0"
    assert node.unique().numel() == node.numel()
    for c in col.unique():  # distinct neighbours per target, at most the fanout
        assert edge[col == c].unique().numel() == (col == c).sum() <= 3
    assert sum(out.num_sampled_edges) == edge.numel()


@pytest.mark.parametrize("kind", KINDS)
def test_heterogeneous_weights_per_edge_type(kind):
    writes, cites = ("author", "writes", "paper"), ("paper", "cites", "paper")
    indptr = {writes: torch.tensor([0, 3, 3]), cites: torch.tensor([0, 2, 2])}
    indices = {writes: torch.tensor([0, 1, 2]), cites: torch.tensor([1, 1])}
    weights = {writes: torch.tensor([0.0, 1.0, 0.0])}  # cites: uniform
    sampler = _Sampler(kind, indptr, indices, [2], num_nodes={"paper": 2, "author": 3}, edge_weight=weights)
    out = sampler.sample({"paper": torch.tensor([0])})
    assert out.node["author"].tolist() == [1]
    assert out.edge[writes].tolist() == [1]
    assert out.edge[cites].tolist() == [0, 1]


def test_same_seed_same_draws_whatever_the_thread_count():
    import numba

    indptr, indices, w = _star([float(i + 1) for i in range(40)])
    outs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        outs.append(NeighborSampler(indptr, indices, [5], edge_weight=w, seed=9).sample(torch.tensor([0, 0])).edge)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize(
    "weight, error, match",
    [
        (torch.tensor([1.0, -0.5, 1.0]), ValueError, r"edge_weight\[1\] = -0.5; edge weights must be finite and >= 0"),
        (torch.tensor([1.0, float("nan"), 1.0]), ValueError, r"edge_weight\[1\] = nan"),
        (torch.tensor([1.0, float("inf"), 1.0]), ValueError, r"edge_weight\[1\] = inf"),
        (torch.tensor([1.0, 1.0]), ValueError,
         r"edge_weight has shape \(2,\); expected one weight per edge, shape \(3,\)"),
        (torch.tensor([1, 1, 1]), TypeError,
         r"edge_weight must hold floating-point edge weights, got dtype torch.int64"),
    ],
)
def test_bad_weights_are_refused(weight, error, match):
    with pytest.raises(error, match=match):
        NeighborSampler(torch.tensor([0, 3, 3, 3]), torch.tensor([1, 2, 0]), [2], edge_weight=weight)


def test_bad_heterogeneous_weights_name_the_edge_type():
    et = ("a", "to", "a")
    with pytest.raises(ValueError, match=r"edge_weight\[\('a', 'to', 'a'\)\]\[0\] = -1.0"):
        NeighborSampler({et: torch.tensor([0, 1])}, {et: torch.tensor([0])}, [1], num_nodes={"a": 1},
                        edge_weight={et: torch.tensor([-1.0])})
    with pytest.raises(ValueError, match=r"edge_weight has edge type \('a', 'x', 'a'\), which is not an edge type"):
        NeighborSampler({et: torch.tensor([0, 1])}, {et: torch.tensor([0])}, [1], num_nodes={"a": 1},
                        edge_weight={("a", "x", "a"): torch.tensor([1.0])})
    with pytest.raises(TypeError, match="edge_weight must be a dict edge type -> tensor"):
        NeighborSampler({et: torch.tensor([0, 1])}, {et: torch.tensor([0])}, [1], num_nodes={"a": 1},
                        edge_weight=torch.tensor([1.0]))


@pytest.mark.gpu
def test_weights_elsewhere_than_the_csr_are_refused():
    with pytest.raises(ValueError, match="edge_weight is in placement 'cpu' but the CSR is in 'cuda:0'"):
        NeighborSampler(torch.tensor([0, 1]).cuda(), torch.tensor([0]).cuda(), [1], edge_weight=torch.tensor([1.0]))


def _successive_inclusion(p, k):
    """Inclusion probability of each item under ``k`` successive weighted draws without replacement."""
    incl = np.zeros(len(p))

    def walk(chosen, prob):
        if len(chosen) == k:
            incl[list(chosen)] += prob
            return
        rest = sum(p[i] for i in range(len(p)) if i not in chosen)
        for i in range(len(p)):
            if i not in chosen and p[i] > 0:
                walk(chosen + (i,), prob * p[i] / rest)

    walk((), 1.0)
    return incl


@pytest.mark.parametrize("kind", KINDS)
def test_skewed_long_rows_follow_successive_draws(kind):
    """A row long enough for rejection draws whose heavy edge makes them repeat (the keyed fallback)."""
    weights = [40.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0, 3.0, 0.0, 1.0]
    calls = 60 if kind == "triton" else 3000
    indptr, indices, w = _star(weights)
    sampler = _Sampler(kind, indptr, indices, (3,), edge_weight=w)
    counts = np.zeros(len(weights))
    for _ in range(calls):
        out = sampler.sample(torch.tensor([0]))
        nbr = out.node[out.row].cpu()
        assert nbr.numel() == 3 and nbr.unique().numel() == 3, "distinct neighbours"
        counts[nbr.numpy() - 1] += 1
    assert counts[[2, 5, 6, 8]].sum() == 0
    incl = _successive_inclusion(np.array(weights) / sum(weights), 3)
    ok, stat, bound = _chi_square_ok(counts, incl * calls)
    assert ok, (counts, incl * calls, stat, bound)


@pytest.mark.parametrize("kind", KINDS)
def test_long_rows_with_few_positive_weights_take_them_all(kind):
    weights = [5.0] + [0.0] * 10 + [3.0]
    indptr, indices, w = _star(weights)
    sampler = _Sampler(kind, indptr, indices, (3,), edge_weight=w)
    for _ in range(3):
        out = sampler.sample(torch.tensor([0]))
        assert sorted(out.node[out.row].tolist()) == [1, 12]
