"""The embedding configuration: one frozen dataclass, validated on construction."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum


class Model(str, Enum):
    """Which positive samples the producers make.

    ``deepwalk``: pairs within ``augmentation_step`` of each other on uniform random walks.
    ``node2vec``: the same on second-order walks biased by ``p`` (return) and ``q`` (in-out).
    ``line``: the edges themselves (drawn by weight), LINE's second-order proximity.
    """

    DEEPWALK = "deepwalk"
    LINE = "line"
    NODE2VEC = "node2vec"


@dataclass(frozen=True)
class EmbeddingConfig:
    """How to train node embeddings.

    GraphVite's defaults were the starting point; the figures below say why some differ. They
    are BlogCatalog Micro/Macro-F1 at 50 % labelled (top-k), one-vs-rest logistic regression
    with C = 1 on the raw vectors: vertex + context for the augmentation step, vertex rows for
    the learning rate and weight decay (one run each; runs differ by about 0.005).

    Attributes:
        model: ``deepwalk``, ``line`` or ``node2vec``.
        dim: embedding width. 128 as GraphVite; cost and memory grow linearly.
        epochs: positive samples to train, in units of the edge count (``epochs * E``). 400:
            on BlogCatalog (267 M samples, 45 s on 2 cores) ``graphsys embed`` reaches
            Micro/Macro-F1 0.408-0.412 / 0.272-0.275 at 50 % labelled over three runs, against
            0.407-0.413 / 0.260-0.269 with 225 epochs (150 M samples, 27 s), which left the
            Macro-F1 bar of 0.26 without margin; 100 epochs: about 0.39 / 0.26.
        time_budget: stop after this many seconds instead (or as well, whichever first).
        lr: initial learning rate, decayed linearly to ``lr * min_lr_fraction``. 0.05: on
            BlogCatalog at a fixed sample budget it beat GraphVite's 0.025 (Macro-F1 0.215 vs
            0.203 at 67 M samples); 0.1 diverged.
        min_lr_fraction: floor of the decay.
        weight_decay: L2 coefficient on every row a sample touches. 0: GraphVite's 0.005 cost
            0.003 Micro / 0.017 Macro-F1 on BlogCatalog (67 M samples).
        num_negative: negatives per positive, drawn by degree^0.75 from the context partition.
        negative_weight: weight of each negative's loss (GraphVite: 1 negative weighted 5).
        walk_length: steps per random walk (the walk has ``walk_length + 1`` nodes).
        augmentation_step: pairs ``(walk[j], walk[j + k])`` for ``k = 1..augmentation_step``.
            3: per sample, near pairs teach more than far ones. On BlogCatalog at 150 M samples
            Micro/Macro-F1 were 0.401 / 0.274 with 3 and 0.392 / 0.258 with GraphVite's 5; at
            67 M samples, 0.399 / 0.265 with 2 and 0.381 / 0.239 with 1 (vertex rows: 0.29 / 0.12
            with 10).
        p, q: node2vec's return and in-out parameters (must stay 1 for the other models).
        num_partitions: ``P``; the embedding matrices are split into ``P`` row partitions and the
            pool into ``P x P`` blocks. ``P >= number of workers``; more partitions let a
            master copy larger than a device's memory stream through it.
        pool_size: samples per pool; two pools are alive at once (double buffering).
        seed: seeds initialisation, walks and negatives.
    """

    model: Model = Model.DEEPWALK
    dim: int = 128
    epochs: float | None = 400.0
    time_budget: float | None = None
    lr: float = 0.05
    min_lr_fraction: float = 1e-4
    weight_decay: float = 0.0
    num_negative: int = 1
    negative_weight: float = 5.0
    walk_length: int = 40
    augmentation_step: int = 3
    p: float = 1.0
    q: float = 1.0
    num_partitions: int = 1
    pool_size: int = 10_000_000
    seed: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "model", Model(self.model))
        except ValueError:
            raise ValueError(
                f"model must be one of {[m.value for m in Model]}, got {self.model!r}"
            ) from None
        positive_ints = ("dim", "num_negative", "walk_length", "augmentation_step", "num_partitions", "pool_size")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("lr", "negative_weight", "p", "q"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if not 0 <= self.weight_decay < math.inf:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not 0 < self.min_lr_fraction <= 1:
            raise ValueError(f"min_lr_fraction must lie in (0, 1], got {self.min_lr_fraction!r}")
        if self.epochs is None and self.time_budget is None:
            raise ValueError("give epochs or time_budget (or both): with neither, training never stops")
        if self.epochs is not None and not 0 < self.epochs < math.inf:
            raise ValueError(f"epochs must be a finite number > 0, got {self.epochs!r}")
        if self.time_budget is not None and not 0 < self.time_budget < math.inf:
            raise ValueError(f"time_budget must be a finite number of seconds > 0 (leave it out for no budget), "
                             f"got {self.time_budget!r}")
        if self.model != Model.NODE2VEC and (self.p != 1.0 or self.q != 1.0):
            raise ValueError(f"p and q apply to node2vec only; model {self.model.value} got p={self.p}, q={self.q}")

    def to_dict(self) -> dict:
        """Plain JSON-able values (the model as its name)."""
        out = asdict(self)
        out["model"] = self.model.value
        return out

    @classmethod
    def from_dict(cls, values: dict) -> EmbeddingConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown embedding config keys {unknown}; known: {sorted(known)}")
        return cls(**values)
