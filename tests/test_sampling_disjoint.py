"""Disjoint sampling (``disjoint=True``): a tree per seed, nodes never shared between seeds, the
``batch`` vector; on the CPU, through the Triton kernels (TRITON_INTERPRET=1) and on a GPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sampling import NeighborSampler
from tests.test_sampling_weighted import KINDS, _Sampler


def _random_csr(n, e, seed):
    rng = np.random.default_rng(seed)
    dst = np.sort(rng.integers(0, n, e))
    indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n))]))
    return indptr, torch.from_numpy(rng.integers(0, n, e))


class _Disjoint(_Sampler):
    def sample(self, seeds):
        self.call += 1
        if self.kind == "triton":
            typed = self.impl._graph.seeds_by_type(seeds)
            order = [self.impl._graph.node_types.index(k) for k in seeds] if isinstance(seeds, dict) else [0]
            return self.impl.sample_disjoint(typed, order, None, 3, self.call)
        return self.impl.sample(seeds)


def _check_trees(out, indptr, indices, seeds, fanouts):
    node, batch, row, col, edge = (t.cpu() for t in (out.node, out.batch, out.row, out.col, out.edge))
    assert node[: seeds.numel()].tolist() == seeds.tolist(), "seeds first, one per tree, repeats kept"
    assert batch[: seeds.numel()].tolist() == list(range(seeds.numel()))
    keys = batch * (indptr.numel() - 1) + node
    assert keys.unique().numel() == keys.numel(), "each node once per tree"
    assert torch.equal(batch[row], batch[col]), "no edge crosses trees"
    assert torch.equal(indices[edge], node[row]), "row is the sampled neighbour"
    assert ((edge >= indptr[node[col]]) & (edge < indptr[node[col] + 1])).all(), "edges are in-edges of col"
    assert sum(out.num_sampled_nodes) == node.numel() and sum(out.num_sampled_edges) == edge.numel()
    # within one tree the sample is what a single-seed sample would look like: distinct per target
    for c in col.unique():
        assert edge[col == c].unique().numel() == (col == c).sum() <= max(fanouts)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fanouts", [(2, 2), (3, -1)])
def test_trees_do_not_share_nodes(kind, fanouts):
    indptr, indices = _random_csr(25, 90, 1)
    seeds = torch.tensor([3, 7, 3, 0])
    sampler = _Disjoint(kind, indptr, indices, fanouts, **({} if kind == "triton" else {"disjoint": True}))
    out = sampler.sample(seeds)
    _check_trees(out, indptr, indices, seeds, [f if f > 0 else 99 for f in fanouts])


@pytest.mark.parametrize("kind", KINDS)
def test_a_node_reached_from_two_seeds_is_two_nodes(kind):
    # 0 <- 2 and 1 <- 2: both seeds reach 2; with all neighbours, each tree holds its own copy
    indptr, indices = torch.tensor([0, 1, 2, 2]), torch.tensor([2, 2])
    sampler = _Disjoint(kind, indptr, indices, (-1,), **({} if kind == "triton" else {"disjoint": True}))
    out = sampler.sample(torch.tensor([0, 1]))
    assert out.node.tolist() == [0, 1, 2, 2] and out.batch.tolist() == [0, 1, 0, 1]
    assert out.row.tolist() == [2, 3] and out.col.tolist() == [0, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_cycle_back_to_the_seed_points_at_the_seed(kind):
    indptr, indices = torch.tensor([0, 1, 2]), torch.tensor([1, 0])
    sampler = _Disjoint(kind, indptr, indices, (1, 1), **({} if kind == "triton" else {"disjoint": True}))
    out = sampler.sample(torch.tensor([0, 1]))
    assert out.node.tolist() == [0, 1, 1, 0] and out.batch.tolist() == [0, 1, 0, 1]
    assert out.row.tolist() == [2, 3, 0, 1] and out.num_sampled_nodes == [2, 2, 0]


@pytest.mark.parametrize("kind", KINDS)
def test_heterogeneous_trees_are_numbered_through_the_seed_types_in_order(kind):
    writes, cites = ("author", "writes", "paper"), ("paper", "cites", "paper")
    indptr = {writes: torch.tensor([0, 1, 2]), cites: torch.tensor([0, 1, 1])}
    indices = {writes: torch.tensor([0, 0]), cites: torch.tensor([1])}
    extra = {} if kind == "triton" else {"disjoint": True}
    sampler = _Disjoint(kind, indptr, indices, [1, 1], num_nodes={"paper": 2, "author": 1}, **extra)
    out = sampler.sample({"author": torch.tensor([0]), "paper": torch.tensor([0, 1])})
    # trees: author 0 -> 0, paper 0 -> 1, paper 1 -> 2; author 0 is reached from both papers
    assert out.batch["author"].tolist() == [0, 1, 2]
    assert out.node["author"].tolist() == [0, 0, 0]
    assert out.batch["paper"].tolist() == [1, 2, 1]  # paper 1 joins tree 1 through cites
    assert out.node["paper"].tolist() == [0, 1, 1]


def test_disjoint_is_deterministic_and_one_hop_of_one_seed_matches_shared_trees():
    indptr, indices = _random_csr(40, 200, 2)
    a = NeighborSampler(indptr, indices, [3, 2], disjoint=True, seed=5).sample(torch.tensor([4, 9]))
    b = NeighborSampler(indptr, indices, [3, 2], disjoint=True, seed=5).sample(torch.tensor([4, 9]))
    assert torch.equal(a.edge, b.edge) and torch.equal(a.node, b.node) and torch.equal(a.batch, b.batch)
    a = NeighborSampler(indptr, indices, [3], disjoint=True, seed=5).sample(torch.tensor([4]))
    shared = NeighborSampler(indptr, indices, [3], seed=5).sample(torch.tensor([4]))
    assert torch.equal(shared.node, a.node) and torch.equal(shared.edge, a.edge) and shared.batch is None


def test_disjoint_refuses_cuda_graph_and_bad_seeds():
    indptr, indices = torch.tensor([0, 1, 2]), torch.tensor([1, 0])
    with pytest.raises(ValueError, match="cuda_graph=True cannot capture disjoint sampling"):
        NeighborSampler(indptr, indices, [1], disjoint=True, cuda_graph=True)
    with pytest.raises(IndexError, match=r"seeds\[1\] = 5 is not a node id of this graph"):
        NeighborSampler(indptr, indices, [1], disjoint=True).sample(torch.tensor([0, 5]))


def test_many_trees_number_new_nodes_in_order_of_first_appearance():
    """Enough trees that the CPU's (tree, node) table grows mid-call; every hop's new nodes are
    numbered in order of first appearance among that hop's edges, as the shared-tree path does."""
    indptr, indices = _random_csr(60, 900, 3)
    seeds = torch.randint(0, 60, (3000,), generator=torch.Generator().manual_seed(0))
    for _ in range(2):  # the second call reuses the grown table
        out = NeighborSampler(indptr, indices, [4, 3], disjoint=True, seed=1).sample(seeds)
        _check_trees(out, indptr, indices, seeds, [4, 3])
        start, edge_at = seeds.numel(), 0
        for hop, n_edges in enumerate(out.num_sampled_edges):
            rows = out.row[edge_at : edge_at + n_edges].tolist()
            first = list(dict.fromkeys(r for r in rows if r >= start))
            assert first == list(range(start, start + out.num_sampled_nodes[hop + 1]))
            start += out.num_sampled_nodes[hop + 1]
            edge_at += n_edges


def test_cpu_outputs_outlive_later_calls():
    """The CPU path keeps its per-hop pieces in a workspace reused from call to call: the output of a
    call must not share it (a later call, bigger or smaller, leaves it as it was)."""
    indptr, indices = _random_csr(300, 3000, 8)
    sampler = NeighborSampler(indptr, indices, [4, 3], seed=2, disjoint=True)
    names = ("node", "batch", "row", "col", "edge")
    first = sampler.sample(torch.arange(40))
    kept = [getattr(first, name).clone() for name in names]
    for seeds in (torch.arange(100, 200), torch.arange(5), torch.arange(40)):
        sampler.sample(seeds)
    for name, copy in zip(names, kept, strict=True):
        assert torch.equal(getattr(first, name), copy), name
