"""The training configuration: one frozen dataclass, built by ``graphsys train`` from its flags.

Cross-field checks live in ``__post_init__`` and name the culprit; checks that need the
machine or the dataset (a GPU for "pinned", a cache that fits in GPU memory) live in
:func:`check_machine`, which the trainer calls once the feature table's size is known.
"""
from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field

from graphsys.choices import enum_choice


class ModelKind(str, enum.Enum):
    """The models ``graphsys train`` builds: PyG's ``torch_geometric.nn.models`` on homogeneous graphs;
    on heterogeneous ones ``graphsys.train.models.HeteroGNN`` ("rgcn" or "sage"); on either, "mlp":
    PyG's ``MLP`` on the seeds' own features (of the target type), the graph-free baseline."""

    SAGE = "sage"
    GCN = "gcn"
    GAT = "gat"
    RGCN = "rgcn"
    MLP = "mlp"


class Featureless(str, enum.Enum):
    """How a heterogeneous graph's node types without features get model inputs.

    "mean": features derived once as the mean of neighbouring nodes' features (OGB-LSC's
    MAG240M baseline), written beside the dataset. "learn": a learnable embedding per node,
    in ``TrainConfig.features``'s placement (pinned: gathered zero-copy, updated sparsely on
    the GPU), trained with row-wise Adagrad.
    """

    MEAN = "mean"
    LEARN = "learn"


class Task(str, enum.Enum):
    """What ``graphsys train`` trains: "node" (node classification, the default) or "link" (link
    prediction: an encoder's embeddings scored by a predictor, evaluated by the dataset's metric)."""

    NODE = "node"
    LINK = "link"


class Predictor(str, enum.Enum):
    """How a link model scores a pair from its two embeddings: "dot" (their inner product, PyG's
    link-prediction example) or "mlp" (an MLP on their elementwise product, OGB's ``LinkPredictor``)."""

    DOT = "dot"
    MLP = "mlp"


#: The metrics a link task may name: MRR (per-positive negative targets), Hits@K and AUC (shared negative edges).
LINK_METRIC_HELP = "mrr, hits@K (K >= 1) or auc"


class Amp(str, enum.Enum):
    """Mixed precision for the compute stage: "none" (float32) or "bf16" (autocast to bfloat16)."""

    NONE = "none"
    BF16 = "bf16"


PLACEMENTS = ("cpu", "pinned", "cuda")


def is_link_preset(name: str) -> bool:
    """Whether ``name`` is a synthetic link-prediction preset (synthetic-citation2), which ``scale`` resizes."""
    from graphsys.datasets.link_synthetic import PRESETS

    return str(name).lower() in PRESETS



@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on; two runs with equal configs train identically.

    Example:
        >>> cfg = TrainConfig(dataset="cora", model="sage", layers=2, fanouts=(10, 5))
        >>> cfg.model
        <ModelKind.SAGE: 'sage'>
    """

    dataset: str = field(metadata={"help": "a name graphsys.datasets.load knows"})
    task: Task = field(default=Task.NODE, metadata={"help": "node (classification) or link (prediction)"})
    root: str | None = field(default=None, metadata={"help": "dataset directory (default: the loader's)"})
    scale: float = field(default=1.0, metadata={"help": "size factor for synthetic-* datasets"})
    undirected: bool = field(
        default=False, metadata={"help": "ogbn-* datasets: store every edge both ways (usual for ogbn-arxiv)"}
    )
    model: ModelKind = field(
        default=ModelKind.SAGE,
        metadata={"help": "sage, gcn or gat; on heterogeneous graphs rgcn or sage; mlp (no graph) on either"},
    )
    featureless: Featureless | None = field(
        default=None, metadata={"help": "heterogeneous graphs: inputs of node types without features, mean (of "
                                        "neighbours' features) or learn (embeddings)"})
    embedding_dim: int = field(
        default=128, metadata={"help": "featureless = learn: embedding width (128, ogbn-mag's paper features)"})
    embedding_lr: float = field(
        default=0.1, metadata={"help": "featureless = learn: row-wise Adagrad learning rate of the embeddings (0.1: "
                                        "on synthetic-mag x0.01, R-GCN, 4 epochs, test acc 0.69 against 0.64 at 0.01)"})
    layers: int = field(default=3, metadata={"help": "message-passing layers (= sampling hops)"})
    hidden: int = field(default=256, metadata={"help": "hidden channels"})
    heads: int = field(
        default=4, metadata={"help": "attention heads (gat only); must divide hidden; 4 as OGB's GAT baselines"}
    )
    dropout: float = field(
        default=0.5, metadata={"help": "dropout after each hidden layer (0.5 as in OGB's GraphSAGE examples)"}
    )
    input_dropout: float = field(default=0.0, metadata={"help": "dropout on the input features in training"})
    fanouts: tuple[int, ...] = field(
        default=(15, 10, 5),
        metadata={"help": "neighbours sampled per node, one entry per layer, hop 1 first; -1 takes all"},
    )
    batch_size: int = field(
        default=1024,
        metadata={"help": "seed nodes per minibatch (per rank); 1024 as OGB's products examples, larger batches "
                          "use the GPU better but take fewer steps per epoch"},
    )
    epochs: int = field(default=20, metadata={"help": "training epochs"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate (OGB's products GraphSAGE uses 0.003)"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})
    features: str = field(
        default="pinned", metadata={"help": "feature table placement: cuda, pinned (zero-copy) or cpu"}
    )
    graph: str = field(default="cuda", metadata={"help": "CSR placement: cuda, pinned or cpu"})
    cuda_graph: bool = field(
        default=False,
        metadata={"help": "GPU sampling: replay each batch's sampler launches as one CUDA graph"},
    )
    device: str = field(
        default="auto", metadata={"help": "where the model runs: auto (a GPU when there is one), cuda or cpu"}
    )
    cache: float = field(
        default=0.0, metadata={"help": "fraction of feature rows cached in GPU memory (pinned features)"}
    )
    cache_shard: bool = field(
        default=False,
        metadata={"help": "under torchrun, split the ranks' caches into one cache sharded over them (each rank "
                          "holds cache x rows, none twice) instead of N replicas; features pinned, or cpu (shards "
                          "in host memory: the CPU form, for tests)"},
    )
    gather_group: int | None = field(
        default=None,
        metadata={"help": "minibatches whose feature rows are read in one gather: on a pinned table 4 read faster "
                          "per row than 1, at the cost of that many batches of features in GPU memory (default: "
                          "4 with pinned features on a GPU, else 1)"},
    )
    amp: Amp = field(default=Amp.NONE, metadata={"help": "none or bf16 autocast for the compute"})
    eval_every: int = field(default=1, metadata={"help": "evaluate every N epochs (0: never)"})
    eval_batch_size: int = field(
        default=4096,
        metadata={"help": "target nodes per batch of layer-wise inference; 4096 touches ~200 K edges on products "
                          "(a few hundred MB per layer): lower it if inference runs out of GPU memory"},
    )
    predictor: Predictor = field(
        default=Predictor.DOT, metadata={"help": "task link: dot (inner product) or mlp (on the elementwise product)"})
    negatives: float = field(
        default=1.0, metadata={"help": "task link: negative pairs per positive training edge (binary, as PyG's "
                                       "link-prediction example: 1)"})
    negative_weight: str = field(
        default="uniform", metadata={"help": "task link: negatives drawn uniformly or by degree ** 0.75 (degree)"})
    strict_negatives: bool = field(
        default=False, metadata={"help": "task link: redraw negatives that are edges (one host sync per batch)"})
    exclude_seed_edges: bool = field(
        default=True, metadata={"help": "task link: drop a batch's positive edges from its message passing"})
    val_edges: float = field(default=0.05, metadata={"help": "task link, random split: fraction of links for val"})
    test_edges: float = field(default=0.1, metadata={"help": "task link, random split: fraction of links for test"})
    metric: str | None = field(
        default=None, metadata={"help": f"task link: {LINK_METRIC_HELP} (default: the dataset's)"})
    link_edge_type: tuple[str, str, str] | None = field(
        default=None, metadata={"help": "task link on a heterogeneous dataset: the edge type (src_type, relation, "
                                        "dst_type) whose links are split and predicted, by model rgcn or sage"})
    seed: int = field(default=0, metadata={"help": "seed for initialisation, shuffling, sampling, dropout"})
    checkpoint: str | None = field(default=None, metadata={"help": "checkpoint file, rewritten every epoch"})
    resume: bool = field(default=False, metadata={"help": "continue from the checkpoint"})
    metrics_out: str | None = field(default=None, metadata={"help": "JSON lines file, one line per epoch"})
    tensorboard: str | None = field(
        default=None, metadata={"help": "folder: every epoch's metrics record as TensorBoard scalars (rank 0)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})
    reorder: str | None = field(
        default=None, metadata={"help": "renumber the nodes for locality first (hot-rcm, hot or rcm; "
                                        "graphsys.datasets.reorder): faster zero-copy gathers, the same metrics"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", enum_choice("task", self.task, Task))
        object.__setattr__(self, "predictor", enum_choice("predictor", self.predictor, Predictor))
        object.__setattr__(self, "model", enum_choice("model", self.model, ModelKind))
        object.__setattr__(self, "amp", enum_choice("amp", self.amp, Amp))
        if self.featureless is not None:
            object.__setattr__(self, "featureless", enum_choice("featureless", self.featureless, Featureless))
        object.__setattr__(self, "fanouts", tuple(int(f) for f in self.fanouts))
        if self.reorder is not None and self.reorder not in ("hot-rcm", "hot", "rcm"):
            raise ValueError(f"reorder = {self.reorder!r} is not one of 'hot-rcm', 'hot', 'rcm' (or None)")
        if self.reorder is not None and self.task is Task.LINK:
            raise ValueError(f"reorder = {self.reorder!r} applies to task 'node'; link datasets are not renumbered")
        for name in ("features", "graph"):
            value = getattr(self, name)
            if value not in PLACEMENTS:
                raise ValueError(f"{name} = {value!r} is not one of 'cuda', 'pinned', 'cpu'")
        if self.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device = {self.device!r} is not one of 'auto', 'cuda', 'cpu'")
        if self.device == "cpu" and self.needs_gpu:
            raise ValueError(
                f"device = 'cpu' cannot use features = {self.features!r} and graph = {self.graph!r}; "
                "with device 'cpu' both must be 'cpu'"
            )
        positive = ("layers", "hidden", "heads", "batch_size", "epochs", "eval_batch_size", "gather_group",
                    "embedding_dim")
        for name in positive:
            value = getattr(self, name)
            if name == "gather_group" and value is None:  # the loader's default
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if len(self.fanouts) != self.layers:
            raise ValueError(
                f"fanouts {','.join(map(str, self.fanouts))} has {len(self.fanouts)} entries but "
                f"layers = {self.layers}; give one fanout per layer"
            )
        bad = [f for f in self.fanouts if f < 1 and f != -1]
        if bad:
            raise ValueError(f"fanouts must be positive or -1 (every neighbour), got {bad[0]} in {self.fanouts}")
        for name in ("dropout", "input_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.cache <= 1.0:
            raise ValueError(f"cache is a fraction of the feature rows in [0, 1], got {self.cache}")
        if self.cache_shard and not (self.cache > 0 and self.features in ("pinned", "cpu")):
            raise ValueError(
                f"cache_shard needs cache > 0 (got {self.cache}) and features 'pinned' or 'cpu' "
                f"(got {self.features!r}): it shards the feature cache over the ranks"
            )
        if self.cache > 0 and self.features != "pinned" and not self.cache_shard:
            raise ValueError(
                f"cache = {self.cache} needs features = 'pinned' (the GPU cache fronts a pinned table), "
                f"got features = {self.features!r}"
            )
        if self.cuda_graph and (self.graph == "cpu" or -1 in self.fanouts):
            raise ValueError(
                f"cuda_graph needs GPU sampling (graph 'cuda' or 'pinned', got {self.graph!r}) and fanouts "
                f">= 0 (got {','.join(map(str, self.fanouts))})"
            )
        if self.undirected and not self.dataset.lower().startswith("ogbn-"):
            raise ValueError(
                f"undirected applies to ogbn-* datasets (read as stored by ogb), not {self.dataset!r}, "
                "which graphsys loads in its usual direction already"
            )
        finite = {"lr": "a finite positive number", "weight_decay": "a finite number >= 0",
                  "scale": "a finite positive number", "embedding_lr": "a finite positive number"}
        for name, expected in finite.items():  # float("nan") and float("inf") pass the checks below
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)}")
        for name in ("lr", "embedding_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.scale != 1.0:
            from graphsys.datasets.registry import SYNTHETIC_NAMES

            if self.dataset.lower() not in SYNTHETIC_NAMES and not is_link_preset(self.dataset):
                raise ValueError(f"scale {self.scale} applies only to the synthetic presets "
                                 f"({', '.join(SYNTHETIC_NAMES)}), not to {self.dataset!r}, whose size is fixed")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        if self.model is ModelKind.GAT and self.hidden % self.heads:
            raise ValueError(f"hidden = {self.hidden} must be divisible by heads = {self.heads} for gat")
        if self.resume and self.checkpoint is None:
            raise ValueError("resume needs a checkpoint file to resume from; pass checkpoint")
        if self.link_edge_type is not None:
            edge_type = self.link_edge_type
            if isinstance(edge_type, str) or len(edge_type) != 3 or not all(isinstance(p, str) and p
                                                                             for p in edge_type):
                raise ValueError(f"link_edge_type must be an edge type (src_type, relation, dst_type) of three "
                                 f"non-empty names, got {edge_type!r}")
            object.__setattr__(self, "link_edge_type", tuple(edge_type))
        if self.task is Task.LINK:
            self._check_link()
        elif self.metric is not None or self.link_edge_type is not None:
            name = "metric" if self.metric is not None else "link_edge_type"
            raise ValueError(f"{name} = {getattr(self, name)!r} applies to task 'link'; node classification "
                             "predicts the labels of the dataset's target type")

    def _check_link(self) -> None:
        """The cross-field checks of a link task (see :meth:`__post_init__`)."""
        from graphsys.datasets.splits import check_link_fractions

        if self.link_edge_type is not None:
            if self.model not in (ModelKind.RGCN, ModelKind.SAGE):
                raise ValueError(f"model = {self.model.value!r} cannot encode the heterogeneous graph of "
                                 f"link_edge_type {','.join(self.link_edge_type)}; use model 'rgcn' or 'sage'")
        elif self.model is ModelKind.RGCN:
            raise ValueError("task 'link' trains homogeneous graphs (sage, gcn, gat or mlp); model 'rgcn' is for "
                             "heterogeneous graphs: name the edge type to predict (link_edge_type)")
        if self.link_edge_type is None and self.featureless not in (None, Featureless.LEARN):
            raise ValueError(f"featureless = {self.featureless.value!r} derives features from neighbours' features, "
                             "which a featureless link graph has none of; task 'link' takes featureless = 'learn'")
        if self.negative_weight not in ("uniform", "degree"):
            raise ValueError(f"negative_weight = {self.negative_weight!r} is not one of 'uniform', 'degree'")
        if not (isinstance(self.negatives, (int, float)) and math.isfinite(self.negatives) and self.negatives > 0):
            raise ValueError(f"negatives must be a finite number > 0 of negatives per positive, got {self.negatives}")
        check_link_fractions(self.val_edges, self.test_edges)
        if self.metric is not None:
            metric = str(self.metric).lower()
            k = metric[5:] if metric.startswith("hits@") else None
            if metric not in ("mrr", "auc") and not (k is not None and k.isdigit() and int(k) >= 1):
                raise ValueError(f"metric = {self.metric!r} is not one of {LINK_METRIC_HELP}")
            object.__setattr__(self, "metric", metric)

    @property
    def needs_gpu(self) -> bool:
        """Whether a placement or the device names a GPU (pinned memory is there for GPUs to read)."""
        return self.features != "cpu" or self.graph != "cpu" or self.device == "cuda"

    def use_cuda(self, cuda_available: bool) -> bool:
        """Whether the model runs on a GPU: always for device "cuda", when there is one for "auto"."""
        return self.device == "cuda" or (self.device == "auto" and cuda_available)

    def fingerprint(self) -> dict:
        """The fields that decide the trained parameters (a checkpoint must match them to resume).

        Placements, caching, evaluation and output paths are left out: they change speed,
        not results, so a run may resume on another machine layout.
        """
        kept = ("dataset", "scale", "undirected", "model", "layers", "hidden", "heads", "dropout", "input_dropout",
                "fanouts", "batch_size", "lr", "weight_decay", "amp", "seed")
        if self.featureless is not None:  # only then: checkpoints of homogeneous runs keep resuming
            kept += ("featureless", "embedding_dim", "embedding_lr")
        if self.reorder is not None:  # renumbered ids draw other neighbours (same metrics, other parameters)
            kept += ("reorder",)
        if self.task is Task.LINK:  # likewise: node checkpoints keep their fingerprint
            kept += ("task", "predictor", "negatives", "negative_weight", "strict_negatives", "exclude_seed_edges",
                     "val_edges", "test_edges")
            if self.link_edge_type is not None:  # only then: homogeneous link checkpoints keep resuming
                kept += ("link_edge_type",)
        return {k: _plain(v) for k, v in asdict(self).items() if k in kept}

    def to_dict(self) -> dict:
        """All fields as JSON-ready values."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def check_machine(config: TrainConfig, *, cache_bytes: int, cuda_available: bool,
                  free_gpu_bytes: int | None) -> None:
    """Refuse a configuration the machine cannot run, before anything is allocated.

    Args:
        cache_bytes: GPU memory the feature cache asks for (0 without one).
        cuda_available: whether a CUDA device is present.
        free_gpu_bytes: free memory on the training GPU (None without one).

    Raises:
        RuntimeError: a GPU placement on a machine without CUDA, or a cache larger than
            the free GPU memory.
    """
    if not cuda_available:
        for name in ("features", "graph", "device"):
            value = getattr(config, name)
            if value not in ("cpu", "auto"):
                raise RuntimeError(
                    f"{name} = {value!r} needs a CUDA GPU and none is available; use {name} = 'cpu'"
                )
        return
    if cache_bytes > 0 and free_gpu_bytes is not None:
        if cache_bytes > free_gpu_bytes:
            raise RuntimeError(
                f"cache = {config.cache} asks for {cache_bytes / 2**30:.2f} GiB of GPU memory for "
                f"feature rows but the GPU has {free_gpu_bytes / 2**30:.2f} GiB free; lower cache"
            )
