"""Evaluation: one-vs-rest logistic regression with top-k F1, AUC, edge splits, non-edges."""
import numpy as np
import pytest
import torch

from embedding.classification import C_GRID, f1_scores, fit_one_vs_rest, node_classification, select_c, top_k_predict
from embedding.link_prediction import link_prediction_auc, roc_auc, sample_non_edges, split_edges


def _ring(n):
    src = torch.arange(n)
    dst = (src + 1) % n
    s, d = torch.cat([src, dst]), torch.cat([dst, src])
    order = torch.argsort(d * n + s)
    s, d = s[order], d[order]
    indptr = torch.zeros(n + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(torch.bincount(d, minlength=n), 0)
    return indptr, s.to(torch.int32)


def test_separable_labels_are_learned():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (400, 3), generator=gen)
    y[y.sum(1) == 0, 0] = 1
    emb = (y.float() * 2 - 1) + 0.1 * torch.randn(400, 3, generator=gen)
    emb = torch.cat([emb, torch.randn(400, 5, generator=gen)], 1)
    (res,) = node_classification(emb, y, (0.5,), seed=1, c=1.0)
    assert res.num_train == 200 and res.num_test == 200 and res.c == 1.0
    assert res.micro_f1 > 0.95 and res.macro_f1 > 0.95


def test_c_is_chosen_on_training_nodes_only():
    gen = torch.Generator().manual_seed(2)
    y = torch.randint(0, 2, (60, 2), generator=gen)
    y[y.sum(1) == 0, 1] = 1
    emb = y.float() + 0.5 * torch.randn(60, 2, generator=gen)
    (res,) = node_classification(emb, y, (0.5,), max_iter=20)
    assert res.c in C_GRID
    assert select_c(emb[:30], y[:30] != 0, (0.5, 3.0), max_iter=20) in (0.5, 3.0)


def test_single_label_and_unlabelled_nodes():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=gen)
    y[:30] = -1
    emb = torch.nn.functional.one_hot(y.clamp_min(0), 3).float() + 0.05 * torch.randn(300, 3, generator=gen)
    results = node_classification(emb, y, (0.3, 0.7))
    assert [r.label_ratio for r in results] == [0.3, 0.7]
    assert all(r.num_train + r.num_test == 270 for r in results)
    assert all(r.micro_f1 > 0.95 for r in results)


def test_top_k_and_f1_by_hand():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.7]])
    pred = top_k_predict(scores, torch.tensor([2, 1]))
    assert pred.tolist() == [[True, False, True], [False, True, False]]
    truth = torch.tensor([[True, True, False], [False, True, False]])
    micro, macro = f1_scores(truth, pred)
    # tp: label0 1, label1 1, label2 0; fp: label2 1; fn: label1 1
    assert micro == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert macro == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)


def test_logistic_regression_matches_a_known_optimum():
    x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]], dtype=torch.float64)
    y = torch.tensor([[0], [0], [1], [1], [0], [1]])
    w = fit_one_vs_rest(x, y, c=1e6, max_iter=200)
    logits = torch.cat([x, torch.ones(6, 1, dtype=torch.float64)], 1) @ w
    # at the optimum of the (nearly unregularised) log loss the gradient vanishes
    residual = torch.sigmoid(logits) - y.double()
    assert float((residual * torch.cat([x, torch.ones(6, 1, dtype=torch.float64)], 1)).sum(0).abs().max()) < 1e-4


def test_classification_errors():
    with pytest.raises(ValueError, match="label ratio"):
        node_classification(torch.randn(10, 2), torch.ones(10, 2), (1.0,))
    with pytest.raises(ValueError, match="shape"):
        node_classification(torch.randn(10, 2), torch.ones(9, 2))
    with pytest.raises(TypeError, match="class ids"):
        node_classification(torch.randn(10, 2), torch.zeros(10))
    with pytest.raises(ValueError, match="2 labelled"):
        node_classification(torch.randn(10, 2), torch.full((10,), -1))
    with pytest.raises(ValueError, match="embeddings"):
        node_classification(torch.randn(10), torch.ones(10, 2))
    diverged = torch.randn(10, 2)
    diverged[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"embeddings\[3\] holds NaN"):
        node_classification(diverged, torch.ones(10, 2))


def test_roc_auc_against_pairs():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in pos for n in neg]
    assert roc_auc(torch.tensor(pos), torch.tensor(neg)) == pytest.approx(np.mean(pairs))
    with pytest.raises(ValueError, match="positive and negative"):
        roc_auc(torch.tensor([]), torch.tensor([1.0]))


def test_split_edges_removes_both_directions():
    indptr, indices = _ring(50)
    split = split_edges(indptr, indices, 0.2, seed=3)
    assert split.test_edges.shape == (2, 10)
    assert split.indices.numel() == indices.numel() - 20
    train = set()
    for v in range(50):
        for u in split.indices[split.indptr[v] : split.indptr[v + 1]].tolist():
            train.add((u, v))
    for u, v in split.test_edges.t().tolist():
        assert (u, v) not in train and (v, u) not in train
    with pytest.raises(ValueError, match="test_fraction"):
        split_edges(indptr, indices, 1.5)
    empty = split_edges  # a graph with only self loops has nothing to hold out
    with pytest.raises(ValueError, match="no edge"):
        empty(torch.tensor([0, 1]), torch.tensor([0], dtype=torch.int32), 0.5)


def test_non_edges_are_not_edges():
    indptr, indices = _ring(30)
    non = sample_non_edges(indptr, indices, 200, seed=1)
    assert non.shape == (2, 200)
    edges = {(u, v) for v in range(30) for u in indices[indptr[v] : indptr[v + 1]].tolist()}
    assert all((u, v) not in edges and u != v for u, v in non.t().tolist())
    full = torch.tensor([0, 1, 2]), torch.tensor([1, 0], dtype=torch.int32)
    with pytest.raises(ValueError, match="no non-edges"):
        sample_non_edges(*full, 1)


def test_link_prediction_auc_perfect_and_errors():
    vertex = torch.eye(4)
    edges = torch.tensor([[0, 1], [0, 1]])  # self pairs score 1
    non = torch.tensor([[0, 2], [1, 3]])  # distinct nodes score 0
    assert link_prediction_auc(vertex, vertex, edges, non) == 1.0
    with pytest.raises(IndexError, match="non_edges"):
        link_prediction_auc(vertex, vertex, edges, torch.tensor([[0], [9]]))
    with pytest.raises(ValueError, match="shape"):
        link_prediction_auc(vertex, vertex, torch.tensor([0, 1]), non)
