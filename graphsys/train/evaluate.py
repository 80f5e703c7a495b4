"""Scoring predictions on the train/validation/test splits.

ogbn-* datasets are scored by ogb's own ``Evaluator`` (accuracy, or ROC-AUC for the
multi-label ogbn-proteins); the others as :func:`graphsys.datasets.evaluate` scores them:
single-label by accuracy, multi-label (BlogCatalog) by micro-F1 of the positive logits. ``ogb`` is imported only for
ogbn-* datasets, so GPU machines without it can train everything else.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from graphsys.datasets.evaluate import evaluate


@dataclass(frozen=True)
class Scores:
    """One evaluation: the metric's name and its value on each split."""

    metric: str
    train: float
    val: float
    test: float


class Scorer:
    """Scores full-graph predictions on index splits.

    Args:
        dataset: the dataset name; "ogbn-*" selects ogb's ``Evaluator``: the dataset's own for
            an official name, else (a dataset written by ``write_ogb_node_dataset``) the
            evaluator of an official dataset with the same metric, set to ``num_tasks``.
        multilabel: whether ``y`` holds one 0/1 column per label.
        num_tasks: label columns of a multi-label dataset (1 for single-label).

    Example:
        >>> s = Scorer("cora", multilabel=False)
        >>> s.score(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]), torch.tensor([0, 1]))
        0.5
    """

    def __init__(self, dataset: str, *, multilabel: bool, num_tasks: int = 1) -> None:
        self.multilabel = multilabel
        self._dataset = dataset
        self._evaluator = None
        if dataset.startswith("ogbn-"):
            from ogb.nodeproppred import Evaluator

            from graphsys.datasets.ogb import OGB_NAMES

            if dataset in OGB_NAMES:
                self._evaluator = Evaluator(dataset)
            else:
                self._evaluator = Evaluator("ogbn-proteins" if multilabel else "ogbn-arxiv")
                self._evaluator.num_tasks = num_tasks if multilabel else 1
            self.metric = self._evaluator.eval_metric
        else:
            self.metric = "micro_f1" if multilabel else "acc"

    def score(self, out: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> float:
        """The metric of ``out[idx]`` (logits) against ``y[idx]``. Cost: one copy of the split to the host."""
        logits = out[idx.to(out.device)].float().cpu()
        truth = y[idx.to(y.device)].cpu()
        if self._evaluator is not None:
            if self.multilabel:
                return float(self._evaluator.eval({"y_true": truth, "y_pred": logits})[self.metric])
            pred = logits.argmax(dim=-1, keepdim=True)
            return float(self._evaluator.eval({"y_true": truth.view(-1, 1), "y_pred": pred})[self.metric])
        if truth.numel() == 0:
            return float("nan")
        pred = (logits > 0).to(torch.int64) if self.multilabel else logits
        return evaluate(self._dataset, truth, pred)[self.metric]

    def scores(self, out: torch.Tensor, y: torch.Tensor, train_idx: torch.Tensor, val_idx: torch.Tensor,
               test_idx: torch.Tensor) -> Scores:
        """The metric on the three splits."""
        return Scores(self.metric, self.score(out, y, train_idx), self.score(out, y, val_idx),
                      self.score(out, y, test_idx))
