"""Scoring predictions the way each dataset's papers do: OGB's Evaluator for ``ogbn-*``, else accuracy / F1."""
from __future__ import annotations

import torch


def _as_tensor(value) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    return tensor.detach().cpu()


def evaluate(name: str, y_true, y_pred) -> dict[str, float]:
    """Score ``y_pred`` against ``y_true`` for dataset ``name``.

    * official ``ogbn-*`` names: ``ogb.nodeproppred.Evaluator`` (accuracy ``{"acc": ...}``;
      ROC-AUC ``{"rocauc": ...}`` for ogbn-proteins, where ``y_pred`` holds scores);
    * other single-label datasets: ``{"acc": ...}`` over nodes with ``y_true >= 0``;
      ``y_pred`` holds class ids ``[N]`` or scores ``[N, C]`` (arg-maxed);
    * multi-label datasets: ``{"micro_f1", "macro_f1"}`` of 0/1 predictions ``[N, C]``
      (e.g. each node's top-k labels, k its true label count, as DeepWalk and node2vec score).

    Cost: one pass over the predictions on the CPU (inputs are copied there).

    Raises:
        ValueError: shapes that do not match.
    """
    from graphsys.datasets.ogb import OGB_NAMES, _canonical_name

    truth, pred = _as_tensor(y_true), _as_tensor(y_pred)
    canonical = _canonical_name(name)
    if canonical in OGB_NAMES:
        from ogb.nodeproppred import Evaluator

        if truth.dim() == 1:
            truth = truth.view(-1, 1)
        if pred.dim() == 1:
            pred = pred.view(-1, 1)
        elif canonical != "ogbn-proteins" and pred.shape[1] != truth.shape[1]:
            pred = pred.argmax(dim=1, keepdim=True)
        return {k: float(v) for k, v in Evaluator(canonical).eval({"y_true": truth, "y_pred": pred}).items()}
    if truth.dim() == 2:
        return _f1(truth, pred)
    if pred.dim() == 2:
        pred = pred.argmax(dim=1)
    if pred.shape != truth.shape:
        raise ValueError(f"y_pred has shape {tuple(pred.shape)} but y_true has {tuple(truth.shape)}")
    labelled = truth >= 0
    if not labelled.any():
        raise ValueError("y_true has no labelled node (every entry is -1)")
    return {"acc": float((pred[labelled] == truth[labelled]).double().mean())}


def _f1(truth: torch.Tensor, pred: torch.Tensor) -> dict[str, float]:
    if pred.shape != truth.shape:
        raise ValueError(f"multi-label y_pred must have shape {tuple(truth.shape)} (0/1 per label), got {tuple(pred.shape)}")
    if pred.is_floating_point() and not ((pred == 0) | (pred == 1)).all():
        raise ValueError("multi-label y_pred must hold 0/1 predictions (threshold or take the top-k first)")
    t, p = truth.bool(), pred.bool()
    tp = (t & p).sum(dim=0).double()
    fp = (~t & p).sum(dim=0).double()
    fn = (t & ~p).sum(dim=0).double()
    micro = float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp(min=1))
    macro = float((2 * tp / (2 * tp + fp + fn).clamp(min=1)).mean())
    return {"micro_f1": micro, "macro_f1": macro}
