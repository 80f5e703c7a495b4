"""The GPU sampler's Triton kernels run on the CPU under TRITON_INTERPRET=1: the same contract."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_sampling_checks import check_output, random_csr

pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") != "1", reason="set TRITON_INTERPRET=1 to run Triton kernels on the CPU"
)

CPU = torch.device("cpu")


def _sampler(indptr, indices, fanouts, replace):
    from sampling._gpu_kernels import EMPTY
    from sampling._gpu_sampler import GpuNeighborSampler

    sampler = GpuNeighborSampler(indptr, indices, tuple(fanouts), replace, device=CPU)
    return sampler, EMPTY


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 30), st.integers(0, 120), st.integers(0, 2**31 - 1),
    st.lists(st.integers(-1, 5), min_size=1, max_size=3), st.booleans(), st.integers(0, 8),
)
def test_contract_on_random_graphs(num_nodes, num_edges, graph_seed, fanouts, replace, num_seeds):
    rng = np.random.default_rng(graph_seed)
    indptr, indices = random_csr(rng, num_nodes, num_edges, torch.int64 if graph_seed % 2 else torch.int32)
    seeds = torch.from_numpy(rng.choice(num_nodes, size=min(num_seeds, num_nodes), replace=False))
    sampler, empty = _sampler(indptr, indices, fanouts, replace)
    out = sampler.sample(seeds, 5, 0)
    check_output(out, indptr, indices, seeds, fanouts, replace)
    assert (sampler._node_map == empty).all(), "the node map must be clean after a call"
    again = sampler.sample(seeds, 5, 0)
    assert torch.equal(again.edge, out.edge) and torch.equal(again.node, out.node)


@pytest.mark.parametrize("fanouts", [[2, 2], [-1, -1]])
def test_outside_neighbours_are_never_used_and_raise(fanouts):
    # node 1's second neighbour is 9 in a 4-node graph (a CSR nobody validated)
    indptr, indices = torch.tensor([0, 1, 3, 4, 5]), torch.tensor([1, 2, 9, 3, 0])
    sampler, empty = _sampler(indptr, indices, fanouts, False)
    with pytest.raises(IndexError, match=r"indices\[2\] = 9 is not a node id"):
        sampler.sample(torch.tensor([0]), 5, 0)
    assert (sampler._node_map == empty).all(), "the node map must be clean after the failed call"
    assert sampler.sample(torch.tensor([3]), 5, 1).node.tolist() == [3, 0, 1]


def test_floyd_draws_are_uniform():
    """Node 0 has 10 neighbours; each is drawn with probability 4/10 (Floyd's algorithm)."""
    indptr = torch.tensor([0, 10] + [10] * 10)
    indices = torch.arange(1, 11)
    sampler, _ = _sampler(indptr, indices, [4], False)
    seeds = torch.zeros(600, dtype=torch.int64)  # 600 rows of node 0, independent draws
    out = sampler.sample(seeds, 1, 0)
    assert out.num_sampled_edges == [2400]
    freq = torch.bincount(out.edge, minlength=10).double() / 600
    assert torch.allclose(freq, torch.full((10,), 0.4, dtype=torch.float64), atol=0.07)


def test_out_of_range_seed_raises_and_leaves_map_clean():
    indptr = torch.tensor([0, 1, 2, 2])
    indices = torch.tensor([1, 2], dtype=torch.int32)
    sampler, empty = _sampler(indptr, indices, [2, 2], False)
    with pytest.raises(IndexError, match=r"seeds\[1\] = 7"):
        sampler.sample(torch.tensor([0, 7]), 0, 0)
    assert (sampler._node_map == empty).all()
    with pytest.raises(IndexError, match=r"seeds\[0\] = -2"):
        sampler.sample(torch.tensor([-2]), 0, 0)
    out = sampler.sample(torch.tensor([0]), 0, 1)
    assert out.node.tolist() == [0, 1, 2] and out.num_sampled_edges == [1, 1]


def test_strided_seeds_are_read_as_given():
    """A column of a pair tensor is a strided view: the seed kernel read the memory behind it."""
    indptr = torch.tensor([0, 1, 2, 3, 4, 5, 6])
    indices = torch.tensor([1, 2, 3, 4, 5, 0], dtype=torch.int32)
    sampler, _ = _sampler(indptr, indices, [1], False)
    pairs = torch.tensor([[0, 3], [1, 4], [2, 5]])
    out = sampler.sample(pairs[:, 1], 0, 0)
    assert out.node.tolist() == [3, 4, 5, 0] and out.num_sampled_nodes == [3, 1]
    assert out.edge.tolist() == [3, 4, 5]
    check_output(out, indptr, indices, pairs[:, 1].contiguous(), [1], False)


def test_cuda_graph_refuses_all_neighbour_hops():
    from sampling._gpu_sampler import GpuNeighborSampler

    indptr = torch.tensor([0, 1, 2, 2])
    indices = torch.tensor([1, 2])
    with pytest.raises(ValueError, match=r"cuda_graph=True needs every fanout >= 0.*\[2, -1\]"):
        GpuNeighborSampler(indptr, indices, (2, -1), False, cuda_graph=True, device=CPU)
