"""The embedding configuration: one frozen dataclass, validated on construction."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from enum import Enum


class RowDtype(str, Enum):
    """How the embedding rows are stored (the arithmetic is float32 in registers either way).

    ``float32``: 512 B per 128-wide row. ``bfloat16``: 256 B per row, half the kernel's row
    traffic; each store rounds stochastically (unbiased), so updates far below a row's last
    bit still count on average. ``bf16`` is accepted for ``bfloat16``.
    """

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"

    @classmethod
    def parse(cls, value: object) -> RowDtype:
        """``value`` as a :class:`RowDtype` (``"bf16"`` and ``"fp32"`` too); ``ValueError`` naming the choices."""
        aliases = {"bf16": cls.BFLOAT16, "fp32": cls.FLOAT32}
        if isinstance(value, str) and value.lower() in aliases:
            return aliases[value.lower()]
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"row_dtype must be one of {[d.value for d in cls]} (or 'bf16'), got {value!r}") from None


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
            ``None`` (default): :func:`default_augmentation_step` for the workers, 3 on the CPU
            and 5 on GPUs. Near pairs teach more per sample than far ones: on BlogCatalog at
            150 M samples Micro/Macro-F1 were 0.401 / 0.274 with 3 and 0.392 / 0.258 with
            GraphVite's 5; at 67 M samples, 0.399 / 0.265 with 2 and 0.381 / 0.239 with 1
            (vertex rows: 0.29 / 0.12 with 10). But a walk node yields ``step`` pairs, so a
            larger step makes a sample cheaper to produce.
        p, q: node2vec's return and in-out parameters (must stay 1 for the other models).
        num_partitions: ``P``; the embedding matrices are split into ``P`` row partitions and the
            pool into ``P x P`` blocks. ``P >= number of workers``; more partitions let a
            master copy larger than a device's memory stream through it.
        pool_size: samples per pool; two pools are alive at once (double buffering), 8 bytes a
            sample each, pinned for GPUs. ``None`` (default): :func:`default_pool_size` for the
            graph, the run's length and the workers.
        row_dtype: storage of the embedding rows, :class:`RowDtype` (``"float32"`` or
            ``"bfloat16"``; the CLI's ``--row-dtype bf16``). float32 until the GPU measurements
            of the bfloat16 kernel are in: bfloat16 halves the bytes the SGD kernel moves per
            sample (3 KB to 1.5 KB at dim 128), which bounds it on a GPU.
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
    augmentation_step: int | None = None
    p: float = 1.0
    q: float = 1.0
    num_partitions: int = 1
    pool_size: int | None = None
    row_dtype: RowDtype = RowDtype.FLOAT32
    seed: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "model", Model(self.model))
        except ValueError:
            raise ValueError(
                f"model must be one of {[m.value for m in Model]}, got {self.model!r}"
            ) from None
        object.__setattr__(self, "row_dtype", RowDtype.parse(self.row_dtype))
        positive_ints = ("dim", "num_negative", "walk_length", "augmentation_step", "num_partitions", "pool_size")
        for name in positive_ints:
            value = getattr(self, name)
            if value is None and name in _AUTOMATIC:
                continue
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
        out["row_dtype"] = self.row_dtype.value
        return out

    @property
    def automatic(self) -> tuple[str, ...]:
        """The fields left to their automatic default (``None``), which :meth:`resolved` fills."""
        return tuple(name for name in _AUTOMATIC if getattr(self, name) is None)

    def resolved(self, *, num_edges: int, device_kind: str = "cpu", num_workers: int = 1) -> EmbeddingConfig:
        """This config with every automatic default made concrete for a graph and its workers.

        Args:
            num_edges: ``|E|``, the edges stored (both directions of an undirected graph).
            device_kind: ``"cpu"`` or ``"cuda"``, what the workers are.
            num_workers: how many workers train concurrently (GPUs, or ranks).
        """
        values: dict = {}
        if self.augmentation_step is None:
            values["augmentation_step"] = default_augmentation_step(device_kind)
        if self.pool_size is None:
            total = round(self.epochs * num_edges) if self.epochs is not None else None
            values["pool_size"] = default_pool_size(num_edges, total, num_workers)
        return replace(self, **values) if values else self

    @classmethod
    def from_dict(cls, values: dict) -> EmbeddingConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown embedding config keys {unknown}; known: {sorted(known)}")
        return cls(**values)


#: Fields whose ``None`` means "chosen by :meth:`EmbeddingConfig.resolved` for the graph and workers".
_AUTOMATIC = ("augmentation_step", "pool_size")

# Pools of this many epochs (|E| samples) per worker: the Youtube-sized graph (4.95 M edges)
# gets 1e8, the pool size GraphVite uses and the faster of the two H100 runs (28.1 s at 1e8 with
# step 5, 30.6 s at 1e7 with step 3). Each pool costs fixed work (its start and hand-over, a
# copy to every GPU, a launch per block, a loss read-back), so larger pools amortise it better.
POOL_EPOCHS = 20
# At least this many pools per run: the first pool is produced before training can start and
# the last one trained after the producers stop, so one pool in 64 bounds that unoverlapped
# time to about 3 % of the run (BlogCatalog at 400 epochs: 4.2 M-sample pools, not 13 M).
MIN_POOLS_PER_RUN = 64
# Bounds: below 2^16 samples a pool is all fixed cost; above 1e8 its two pinned buffers
# (1.6 GB) and each GPU's copy (0.8 GB) grow with no speed left to gain.
POOL_SIZE_MIN = 1 << 16
POOL_SIZE_MAX = 100_000_000


def default_pool_size(num_edges: int, total_samples: int | None = None, num_workers: int = 1) -> int:
    """Samples per pool for a graph of ``num_edges`` edges: ``POOL_EPOCHS * |E|`` per worker (so
    each worker's share of a pool keeps amortising its fixed costs), at most ``1 / MIN_POOLS_PER_RUN``
    of a run of ``total_samples`` (None: a time budget, no bound), within
    ``[POOL_SIZE_MIN, POOL_SIZE_MAX]``."""
    size = POOL_EPOCHS * num_edges * max(1, num_workers)
    if total_samples is not None:
        size = min(size, -(-total_samples // MIN_POOLS_PER_RUN))
    return int(min(POOL_SIZE_MAX, max(POOL_SIZE_MIN, size)))


def default_augmentation_step(device_kind: str) -> int:
    """The augmentation step for workers of ``device_kind``: 3 on the CPU, 5 on GPUs.

    On the CPU the SGD kernel is the bottleneck by far (about 1e7 samples/s on 2 cores against
    1e8+ for the producers), so the step that teaches most per sample wins: 3 (BlogCatalog
    figures in :class:`EmbeddingConfig`). On a GPU the trainer outruns the host's producers
    (H100, Youtube-sized graph: producer-bound at 7.7e8 samples/s with step 3), and step 5
    (GraphVite's) yields 190 pairs per 41-node walk instead of 117, 1.6x fewer walk steps per
    sample, at a small cost in quality per sample.
    """
    return 3 if device_kind == "cpu" else 5
