"""Node classification on embeddings: one-vs-rest logistic regression, Micro- and Macro-F1.

The protocol of DeepWalk, LINE, node2vec and GraphVite: a ``label_ratio`` of the labelled
nodes trains one binary logistic regression per label, and each test node is predicted with
its true number of labels, the ``k`` highest-scoring ones ("top-k"). Single-label data is the
case ``k = 1``. The regression is fitted here, in torch (full-batch L-BFGS over all labels at
once: the one-vs-rest problems are independent, so their summed loss separates).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Candidates for the regularisation ``C`` when :func:`node_classification` picks it.
C_GRID = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class ClassificationResult:
    """Scores at one label ratio.

    Attributes:
        label_ratio: fraction of the labelled nodes used for training.
        micro_f1: F1 over all (node, label) decisions.
        macro_f1: unweighted mean of the per-label F1 scores.
        num_train: training nodes.
        num_test: test nodes.
        c: the regularisation the classifier used.
    """

    label_ratio: float
    micro_f1: float
    macro_f1: float
    num_train: int
    num_test: int
    c: float


def _one_hot_labels(labels: torch.Tensor, num_nodes: int) -> torch.Tensor:
    if labels.dim() == 1:
        if labels.is_floating_point():
            raise TypeError(f"single-label labels must be integer class ids, got dtype {labels.dtype}")
        if labels.numel() != num_nodes:
            raise ValueError(f"labels has {labels.numel()} entries for {num_nodes} embeddings")
        known = labels >= 0
        num_classes = int(labels.max()) + 1 if bool(known.any()) else 0
        out = torch.zeros(num_nodes, num_classes, dtype=torch.bool)
        out[known, labels[known]] = True
        return out
    if labels.dim() != 2 or labels.shape[0] != num_nodes:
        raise ValueError(f"labels must be [{num_nodes}] class ids or a [{num_nodes}, C] 0/1 matrix, "
                         f"got shape {tuple(labels.shape)}")
    return labels != 0


def _lbfgs(objective: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], w: torch.Tensor, *,
           max_iter: int, history: int = 10, tol: float = 1e-6) -> torch.Tensor:
    """Minimise a smooth convex ``objective(w) -> (value, gradient)`` by L-BFGS (two-loop
    recursion, backtracking Armijo line search). A dozen lines of our own instead of
    ``torch.optim.LBFGS``, whose first construction imports torch._dynamo (seconds)."""
    value, grad = objective(w)
    pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []
    for _ in range(max_iter):
        if float(grad.abs().max()) < tol:
            break
        q, alphas = grad.clone(), []
        for s, y, rho in reversed(pairs):
            alpha = rho * (s * q).sum()
            q -= alpha * y
            alphas.append(alpha)
        if pairs:
            s, y, _ = pairs[-1]
            q *= (s * y).sum() / (y * y).sum()
        else:
            q /= max(1.0, float(grad.abs().sum()))
        for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
            q += s * (alpha - rho * (y * q).sum())
        direction = -q
        slope = float((grad * direction).sum())
        if slope >= 0:
            direction, slope = -grad, -float((grad * grad).sum())
        step = 1.0
        while True:
            new_w = w + step * direction
            new_value, new_grad = objective(new_w)
            if float(new_value) <= float(value) + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = new_w - w, new_grad - grad
        sy = float((s * y).sum())
        if sy > 1e-12:
            pairs = (pairs + [(s, y, 1.0 / sy)])[-history:]
        w, value, grad = new_w, new_value, new_grad
    return w


def fit_one_vs_rest(x: torch.Tensor, y: torch.Tensor, *, c: float = 1.0, max_iter: int = 100) -> torch.Tensor:
    """Fit one L2-regularised logistic regression per column of ``y``; return ``[D + 1, C]`` weights.

    The objective per label is liblinear's ``0.5 * |w|^2 + c * sum_i logloss_i`` (the
    scikit-learn default the papers used), scaled by ``1 / (c * n)``; the bias is not
    regularised. Cost: up to ``max_iter`` L-BFGS iterations in float64, each two
    ``[n, D] x [D, C]`` products (plus one per line-search halving).
    """
    n = x.shape[0]
    xb = torch.cat([x.double(), torch.ones(n, 1, dtype=torch.float64)], dim=1)
    target = y.double()
    reg = 0.5 / (c * n)
    mask = torch.ones(xb.shape[1], 1, dtype=torch.float64)
    mask[-1] = 0.0

    def objective(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = xb @ w
        value = (F.softplus(z) - target * z).sum() / n + reg * (w * w * mask).sum()
        grad = xb.t() @ (torch.sigmoid(z) - target) / n + 2 * reg * w * mask
        return value, grad

    weight = _lbfgs(objective, torch.zeros(xb.shape[1], y.shape[1], dtype=torch.float64), max_iter=max_iter)
    return weight.to(x.dtype)


def top_k_predict(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Boolean ``[n, C]``: each row's ``k[row]`` highest scores set. Cost: one sort of ``scores``."""
    order = scores.argsort(dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(scores.shape[1]).expand_as(order).contiguous())
    return rank < k.unsqueeze(1)


def f1_scores(truth: torch.Tensor, pred: torch.Tensor) -> tuple[float, float]:
    """``(micro, macro)`` F1 of boolean ``[n, C]`` matrices; a label never true nor predicted scores 0."""
    tp = (truth & pred).sum(0).double()
    fp = (~truth & pred).sum(0).double()
    fn = (truth & ~pred).sum(0).double()
    micro = float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp_min(1))
    macro = float((2 * tp / (2 * tp + fp + fn).clamp_min(1)).mean())
    return micro, macro


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: the fits are small (a 5 K x 129 by 129 x 39 product), and on a
    busy machine torch's thread pool stalls at every step (BlogCatalog: 129 s wall against
    1.6 s on one thread, on 2 cores shared with other jobs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_scores(x_train, y_train, x_test, y_test, c: float, max_iter: int) -> tuple[float, float]:
    weight = fit_one_vs_rest(x_train, y_train, c=c, max_iter=max_iter)
    scores = torch.cat([x_test, torch.ones(x_test.shape[0], 1)], dim=1) @ weight
    return f1_scores(y_test, top_k_predict(scores, y_test.sum(1)))


def select_c(x: torch.Tensor, y: torch.Tensor, grid: Sequence[float], *, seed: int = 0,
             max_iter: int = 100) -> float:
    """The ``c`` of ``grid`` with the best Micro + Macro-F1 on a held-out fifth of ``(x, y)``.

    Only the training nodes are used, so the test nodes never influence the choice.
    Cost: one fit per grid value.
    """
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed + 1))
    cut = max(1, x.shape[0] // 5)
    val, fit = order[:cut], order[cut:]
    best = max(grid, key=lambda c: sum(_fit_scores(x[fit], y[fit], x[val], y[val], c, max_iter)))
    return float(best)


def node_classification(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    label_ratios: Sequence[float] = (0.5,),
    *,
    seed: int = 0,
    normalize: bool = True,
    c: float | None = None,
    c_grid: Sequence[float] = C_GRID,
    max_iter: int = 100,
) -> list[ClassificationResult]:
    """Micro-/Macro-F1 of one-vs-rest logistic regression on ``embeddings`` (top-k protocol).

    Cost: one L-BFGS fit per label ratio on the CPU (under a second for 10 K nodes x 128
    dims), plus one per ``c_grid`` value when ``c`` is None.

    Args:
        embeddings: ``[N, D]`` float embeddings.
        labels: ``[N, C]`` 0/1 multi-label matrix, or ``[N]`` class ids with ``-1`` = unlabelled.
            Nodes without any label are left out.
        label_ratios: fractions of the labelled nodes to train on, each in ``(0, 1)``.
        seed: seed of the random split (one split per ratio).
        normalize: scale each embedding to unit L2 norm first (as GraphVite's evaluation does).
        c: inverse regularisation strength (scikit-learn's ``C``); None picks it from ``c_grid``
            by :func:`select_c` on the training nodes of each ratio. Unit-norm embeddings need a
            larger ``C`` than the default 1, which underfits them (on BlogCatalog: Micro/Macro-F1
            0.416 / 0.245 with ``C = 1``, 0.408 / 0.272 with ``C = 8``).
        c_grid: the candidates for ``c``.
        max_iter: L-BFGS iterations.

    Raises:
        ValueError: mismatched shapes, a ratio outside ``(0, 1)``, fewer than two labelled nodes,
            or non-finite embeddings.
    """
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be [N, D], got shape {tuple(embeddings.shape)}")
    x = embeddings.detach().cpu().float()
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(1).nonzero()[0, 0])
        raise ValueError(f"embeddings[{bad}] holds NaN or inf (training diverged: lower the learning rate)")
    truth = _one_hot_labels(labels.detach().cpu(), x.shape[0])
    keep = truth.any(1).nonzero().squeeze(1)
    if keep.numel() < 2:
        raise ValueError(f"need at least 2 labelled nodes, got {keep.numel()}")
    x, truth = x[keep], truth[keep]
    if normalize:
        x = F.normalize(x, dim=1)
    results = []
    with _one_thread():
        for ratio in label_ratios:
            results.append(_classify_at(x, truth, ratio, seed, c, c_grid, max_iter))
    return results


def _classify_at(x: torch.Tensor, truth: torch.Tensor, ratio: float, seed: int, c: float | None,
                 c_grid: Sequence[float], max_iter: int) -> ClassificationResult:
    """Train on a random ``ratio`` of the nodes, score the rest."""
    if not 0 < ratio < 1:
        raise ValueError(f"label ratio must lie in (0, 1), got {ratio!r}")
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    num_train = min(max(1, round(ratio * x.shape[0])), x.shape[0] - 1)
    train, test = order[:num_train], order[num_train:]
    chosen = c if c is not None else select_c(x[train], truth[train], c_grid, seed=seed, max_iter=max_iter)
    micro, macro = _fit_scores(x[train], truth[train], x[test], truth[test], chosen, max_iter)
    return ClassificationResult(float(ratio), micro, macro, int(train.numel()), int(test.numel()), chosen)
