"""random_walk: every step follows an edge; uniform and node2vec transition probabilities."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling import _walk_kernels as K
from sampling import random_walk
from sampling._rng import make_key
from tests.test_sampling_checks import random_csr

# A small undirected graph: 0-1, 0-2, 0-3, 1-2, 3-4 (rows sorted).
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (3, 4)]


def _small_graph():
    nbrs = {v: sorted({b for a, b in EDGES if a == v} | {a for a, b in EDGES if b == v}) for v in range(5)}
    indptr = torch.tensor(np.concatenate([[0], np.cumsum([len(nbrs[v]) for v in range(5)])]))
    indices = torch.tensor([u for v in range(5) for u in nbrs[v]], dtype=torch.int32)
    return indptr, indices, nbrs


def _check_steps(walks, indptr, indices):
    walks, indptr, indices = walks.numpy(), indptr.numpy(), indices.numpy()
    for w in walks:
        for s in range(len(w) - 1):
            cur, nxt = w[s], w[s + 1]
            if cur < 0:
                assert nxt == -1
            elif indptr[cur + 1] == indptr[cur]:
                assert nxt == -1, "a stuck walk must pad with -1"
            else:
                assert nxt in indices[indptr[cur] : indptr[cur + 1]], f"step {cur}->{nxt} is no edge"


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 30), st.integers(0, 120), st.integers(0, 2**31 - 1), st.integers(0, 12),
    st.sampled_from([(1.0, 1.0), (0.5, 2.0), (4.0, 0.25)]),
)
def test_every_step_follows_an_edge(num_nodes, num_edges, graph_seed, length, pq):
    rng = np.random.default_rng(graph_seed)
    indptr, indices = random_csr(rng, num_nodes, num_edges)
    starts = torch.from_numpy(rng.integers(0, num_nodes, 70))
    walks = random_walk(indptr, indices, starts, length, p=pq[0], q=pq[1], seed=graph_seed)
    assert walks.shape == (70, length + 1) and walks.dtype == torch.int64
    assert torch.equal(walks[:, 0], starts)
    _check_steps(walks, indptr, indices)


def test_deterministic_for_a_seed():
    indptr, indices, _ = _small_graph()
    starts = torch.arange(5).repeat(50)
    for p, q in ((1.0, 1.0), (2.0, 0.5)):
        a = random_walk(indptr, indices, starts, 10, p=p, q=q, seed=3)
        assert torch.equal(a, random_walk(indptr, indices, starts, 10, p=p, q=q, seed=3))
        assert not torch.equal(a, random_walk(indptr, indices, starts, 10, p=p, q=q, seed=4))


def _second_step_freq(walks: np.ndarray) -> np.ndarray:
    """Empirical P(x2 | x0 = 0, x1 = 1) over walks that start 0 -> 1."""
    rows = walks[(walks[:, 0] == 0) & (walks[:, 1] == 1)]
    return np.bincount(rows[:, 2], minlength=5) / len(rows)


def test_node2vec_with_p_q_one_matches_uniform_in_distribution():
    indptr, indices, _ = _small_graph()
    starts = np.zeros(60_000, dtype=np.int64)
    uniform = np.empty((starts.size, 3), dtype=np.int64)
    biased = np.empty_like(uniform)
    ip, ix = indptr.numpy(), indices.numpy()
    K.uniform_walks(0, starts.size, ip, ix, starts, 2, make_key(1), uniform)
    K.node2vec_walks(0, starts.size, ip, ix, starts, 2, 1.0, 1.0, True, make_key(2), biased)
    for walks in (uniform, biased):
        first_step = np.bincount(walks[:, 1], minlength=5) / starts.size
        np.testing.assert_allclose(first_step, [0, 1 / 3, 1 / 3, 1 / 3, 0], atol=0.01)
        # From 1 (neighbours 0 and 2) each is taken half the time.
        np.testing.assert_allclose(_second_step_freq(walks), [0.5, 0, 0.5, 0, 0], atol=0.015)


@pytest.mark.parametrize("sorted_rows", [True, False])
@pytest.mark.parametrize("p,q", [(0.5, 2.0), (2.0, 0.25)])
def test_node2vec_second_order_probabilities(p, q, sorted_rows):
    """From 0 to 3 (neighbours of 3: 0 and 4): back to 0 weighs 1/p, on to 4 (not adjacent to 0) 1/q."""
    indptr, indices, _ = _small_graph()
    starts = np.zeros(120_000, dtype=np.int64)
    walks = np.empty((starts.size, 3), dtype=np.int64)
    K.node2vec_walks(0, starts.size, indptr.numpy(), indices.numpy(), starts, 2, 1 / p, 1 / q, sorted_rows,
                     make_key(9), walks)
    rows = walks[walks[:, 1] == 3]
    freq = np.bincount(rows[:, 2], minlength=5) / len(rows)
    expected = np.array([1 / p, 0, 0, 0, 1 / q]) / (1 / p + 1 / q)
    np.testing.assert_allclose(freq, expected, atol=0.015)
    # From 0 to 1 (neighbours 0 and 2, and 2 neighbours 0): back weighs 1/p, 2 weighs 1.
    freq = _second_step_freq(walks)
    np.testing.assert_allclose(freq, np.array([1 / p, 0, 1, 0, 0]) / (1 / p + 1), atol=0.015)
    public = random_walk(indptr, indices, torch.zeros(50, dtype=torch.int64), 6, p=p, q=q)
    _check_steps(public, indptr, indices)


def test_node2vec_steps_with_many_rejections_draw_independently():
    """p = q = 1e4 on a star: every move weighs 1e-4 (no leaf neighbours another), so a walk at
    the centre goes on to a uniform leaf after ~1e4 rejected draws. A step's draws must not run
    into the next steps' (they did past 512 attempts: the centre sent a walk back to the leaf it
    chose two steps earlier in nearly every walk)."""
    leaves = 50
    indptr = torch.tensor([0, leaves] + list(range(leaves + 1, 2 * leaves + 1)))
    indices = torch.cat([torch.arange(1, leaves + 1), torch.zeros(leaves, dtype=torch.int64)]).to(torch.int32)
    starts = torch.arange(1, leaves + 1).repeat(8)
    walks = random_walk(indptr, indices, starts, 4, p=1e4, q=1e4, seed=0)
    _check_steps(walks, indptr, indices)
    assert (walks[:, 1] == 0).all() and (walks[:, 3] == 0).all()
    repeats = (walks[:, 4] == walks[:, 2]).double().mean().item()
    assert repeats < 0.08, f"the centre chose the same leaf again in {repeats:.0%} of walks, expected ~{1 / leaves:.0%}"
    np.testing.assert_allclose(np.bincount(walks[:, 4].numpy(), minlength=leaves + 1)[1:] / 400, 1 / leaves, atol=0.04)


def test_zero_length_and_empty_starts():
    indptr, indices, _ = _small_graph()
    assert random_walk(indptr, indices, torch.tensor([2, 4]), 0).tolist() == [[2], [4]]
    assert random_walk(indptr, indices, torch.tensor([], dtype=torch.int64), 5).shape == (0, 6)


def test_bad_input():
    indptr, indices, _ = _small_graph()
    with pytest.raises(IndexError, match=r"starts\[1\] = 5"):
        random_walk(indptr, indices, torch.tensor([0, 5]), 3)
    with pytest.raises(TypeError, match="starts must hold integer"):
        random_walk(indptr, indices, torch.tensor([0.5]), 3)
    with pytest.raises(ValueError, match="walk_length = -1"):
        random_walk(indptr, indices, torch.tensor([0]), -1)
    with pytest.raises(TypeError, match="walk_length must be an int"):
        random_walk(indptr, indices, torch.tensor([0]), 2.0)
    with pytest.raises(ValueError, match="p = 0.0"):
        random_walk(indptr, indices, torch.tensor([0]), 3, p=0.0)
    with pytest.raises(ValueError, match="q = inf"):
        random_walk(indptr, indices, torch.tensor([0]), 3, q=float("inf"))
    with pytest.raises(TypeError, match="p must be a number, got '2'"):
        random_walk(indptr, indices, torch.tensor([0]), 3, p="2")
    with pytest.raises(ValueError, match=r"starts must be 1-D, got shape \(1, 1\)"):
        random_walk(indptr, indices, torch.tensor([[0]]), 3)
    with pytest.raises(ValueError, match="disagrees with indices"):
        random_walk(indptr, indices[:-1], torch.tensor([0]), 3)
