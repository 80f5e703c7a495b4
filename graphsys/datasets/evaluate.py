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
        raise ValueError(
            f"multi-label y_pred must have shape {tuple(truth.shape)} (0/1 per label), got {tuple(pred.shape)}"
        )
    if pred.is_floating_point() and not ((pred == 0) | (pred == 1)).all():
        raise ValueError("multi-label y_pred must hold 0/1 predictions (threshold or take the top-k first)")
    t, p = truth.bool(), pred.bool()
    tp = (t & p).sum(dim=0).double()
    fp = (~t & p).sum(dim=0).double()
    fn = (t & ~p).sum(dim=0).double()
    micro = float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp(min=1))
    macro = float((2 * tp / (2 * tp + fp + fn).clamp(min=1)).mean())
    return {"micro_f1": micro, "macro_f1": macro}


#: An ogbl dataset whose Evaluator computes each link metric (the Evaluator depends on the metric only).
_EVALUATOR_OF = {"mrr": "ogbl-citation2", "hits@20": "ogbl-ddi", "hits@50": "ogbl-collab",
                 "hits@100": "ogbl-ppa", "auc": "ogbl-vessel"}


#: The official link datasets whose own Evaluator :func:`evaluate_link` uses.
_OGBL_NAMES = ("ogbl-ppa", "ogbl-collab", "ogbl-ddi", "ogbl-citation2")


def evaluate_link(metric: str, pos_score, neg_score, name: str | None = None) -> dict[str, float]:
    """Score link predictions with ``ogb.linkproppred.Evaluator`` (the dataset's own when ``name``
    is an official ``ogbl-*`` name, else one that computes ``metric``: the Evaluator depends on
    the metric only).

    Args:
        metric: ``"mrr"``, ``"hits@K"`` (any K >= 1) or ``"auc"`` (ROC-AUC).
        pos_score: ``[E]`` scores of the positive edges.
        neg_score: MRR: ``[E, K]``, row ``i`` the scores of positive ``i``'s negatives;
            Hits@K and AUC: ``[E']`` scores of the negative edges.

    Returns:
        ``{metric: value}`` (MRR adds the means of ogb's ``hits@1``, ``hits@3``, ``hits@10`` lists).

    Cost: one pass over the scores on their device (a top-k for Hits@K, a comparison of each
    positive with its row for MRR); AUC copies to the CPU for scikit-learn.

    Raises:
        ValueError: an unknown metric, or shapes that do not fit it.
    """
    from ogb.linkproppred import Evaluator

    key = str(metric).lower()
    k = None
    if key.startswith("hits@"):
        try:
            k = int(key[5:])
        except ValueError:
            k = 0
        if k < 1:
            raise ValueError(f"metric {metric!r}: the K of hits@K must be a positive integer")
    elif key not in _EVALUATOR_OF:
        raise ValueError(f"unknown link metric {metric!r}; expected mrr, hits@K or auc")
    pos = pos_score if isinstance(pos_score, torch.Tensor) else torch.as_tensor(pos_score)
    neg = neg_score if isinstance(neg_score, torch.Tensor) else torch.as_tensor(neg_score)
    pos, neg = pos.detach().float(), neg.detach().float().to(pos.device)
    if pos.dim() != 1:
        raise ValueError(f"pos_score must be 1-D (one score per positive edge), got shape {tuple(pos.shape)}")
    if key == "mrr":
        if neg.dim() != 2 or neg.shape[0] != pos.shape[0]:
            raise ValueError(f"for mrr, neg_score must have shape [{pos.shape[0]}, K] (K negatives per positive), "
                             f"got {tuple(neg.shape)}")
    elif neg.dim() != 1:
        raise ValueError(f"for {key}, neg_score must be 1-D (one score per negative edge), got {tuple(neg.shape)}")
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError(f"nothing to score: {pos.numel()} positive and {neg.numel()} negative scores")
    fallback = _EVALUATOR_OF.get(key, "ogbl-collab")
    evaluator = Evaluator(name if name in _OGBL_NAMES else fallback)
    if evaluator.eval_metric != ("rocauc" if key == "auc" else key):  # another metric than the dataset's
        evaluator = Evaluator(fallback)
    if k is not None:
        evaluator.eval_metric, evaluator.K = key, k  # ogb's Hits@K reads K here; the rest is K-independent
    if key == "auc":
        pos, neg = pos.cpu(), neg.cpu()
    out = evaluator.eval({"y_pred_pos": pos, "y_pred_neg": neg})
    if key == "mrr":
        result = {"mrr": float(out["mrr_list"].mean())}
        result.update({name: float(out[f"{name}_list"].mean()) for name in ("hits@1", "hits@3", "hits@10")})
        return result
    if key == "auc":
        return {"auc": float(out["rocauc"])}
    return {key: float(out[key])}
