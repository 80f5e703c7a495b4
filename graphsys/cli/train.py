"""``graphsys train``: minibatch node-classification (``--task node``, the default) or link-prediction
(``--task link``) training with sampled neighbourhoods.

One GPU: ``graphsys train --dataset ogbn-products --features pinned --cache 0.2 --graph cuda``.
Link prediction: ``graphsys train --task link --dataset ogbl-citation2 --predictor mlp``.
Several GPUs or machines: the same flags under ``torchrun`` (see README.md, Training).
"""
from __future__ import annotations

import argparse

from graphsys.cli import CommandError, add_tensorboard_flag, as_flags, check_output_path, check_scale, check_tensorboard

#: Default fanouts by depth: the OGB examples' 15,10,5, then 5 per extra layer.
_DEFAULT_FANOUTS = (15, 10, 5)


def _fanouts(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"fanouts must be comma-separated integers like 15,10,5, got {text!r}"
        ) from None
    return values


def _edge_type(text: str) -> tuple[str, str, str]:
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"--link-edge-type takes an edge type SRC_TYPE,RELATION,DST_TYPE like author,writes,paper, got {text!r}"
        )
    return parts  # type: ignore[return-value]


def register(subparsers) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train", help="train a GNN for node classification or link prediction on sampled minibatches (one or many "
                      "GPUs)",
        description="Minibatch GNN training (GraphSAGE, GCN, GAT from torch_geometric; R-GCN or GraphSAGE per "
                    "edge type on heterogeneous graphs) with GPU neighbour sampling and zero-copy feature "
                    "gathering; evaluates with full-neighbourhood layer-wise inference every epoch and "
                    "checkpoints every epoch. Under torchrun each process trains "
                    "on its own GPU with DistributedDataParallel.",
    )
    p.add_argument("--dataset", required=True,
                   help="a name graphsys.datasets.load knows: cora, citeseer, synthetic-products, ogbn-arxiv, ...")
    p.add_argument("--task", default="node", choices=["node", "link"],
                   help="node classification, or link prediction: an encoder of nodes and a predictor of pairs, "
                        "trained on positive and negative edges, evaluated by the dataset's metric (MRR for "
                        "ogbl-citation2, Hits@K for collab/ppa/ddi, AUC for a random edge split of any other dataset)")
    p.add_argument("--root", default=None, help="folder holding the dataset's files")
    p.add_argument("--scale", type=float, default=1.0, help="synthetic datasets: size multiplier")
    p.add_argument("--undirected", action="store_true",
                   help="ogbn-* datasets: store every edge both ways (as GNNs on ogbn-arxiv usually do)")
    p.add_argument("--model", default="sage", choices=["sage", "gcn", "gat", "rgcn", "mlp"],
                   help="heterogeneous datasets (synthetic-mag, ogbn-mag, ...): rgcn, or sage per edge type; mlp: the "
                        "graph-free baseline on the seeds' own features")
    p.add_argument("--featureless", default=None, choices=["mean", "learn"],
                   help="heterogeneous datasets: inputs of node types without features: the mean of their "
                        "neighbours' features (derived once, kept beside the dataset) or learned embeddings "
                        "(in the --features placement; pinned: gathered zero-copy and updated on the GPU); "
                        "--task link on a graph without features (ogbl-ddi): learn, one embedding per node")
    p.add_argument("--embedding-dim", type=int, default=128, help="--featureless learn: embedding width")
    p.add_argument("--embedding-lr", type=float, default=0.1,
                   help="--featureless learn: row-wise Adagrad learning rate of the embeddings")
    p.add_argument("--layers", type=int, default=3, help="message-passing layers (= sampling hops)")
    p.add_argument("--hidden", type=int, default=256, help="hidden channels")
    p.add_argument("--heads", type=int, default=4, help="attention heads (gat)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout after each hidden layer")
    p.add_argument("--input-dropout", type=float, default=0.0, help="dropout on the input features in training")
    p.add_argument("--fanouts", type=_fanouts, default=None,
                   help="neighbours per node for each hop, e.g. 15,10,5 (-1: all); default 15,10,5 cut or "
                        "padded with 5 to --layers")
    p.add_argument("--batch-size", type=int, default=1024, help="seed nodes per minibatch (per GPU)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--features", default=None, choices=["cuda", "pinned", "cpu"],
                   help="feature table in GPU memory, in pinned host memory read by the GPU (zero-copy), or "
                        "in host memory gathered by the CPU and copied (the conventional baseline); "
                        "default pinned with a GPU, else cpu")
    p.add_argument("--graph", default=None, choices=["cuda", "pinned", "cpu"],
                   help="CSR in GPU memory or pinned host memory (GPU sampling), or host memory (CPU sampling); "
                        "default cuda with a GPU, else cpu")
    p.add_argument("--cuda-graph", action="store_true",
                   help="replay each batch's sampler launches as one CUDA graph (GPU sampling, fanouts >= 0)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="where the model runs (auto: a GPU when there is one)")
    p.add_argument("--cache", type=float, default=0.0,
                   help="fraction of feature rows (highest out-degree first: the rows the sampler draws most) "
                        "cached in GPU memory; --features pinned")
    p.add_argument("--cache-shard", action="store_true",
                   help="under torchrun: one feature cache sharded over the ranks (each holds --cache of the rows, "
                        "none twice; other ranks' rows read through them) instead of a replica per rank")
    p.add_argument("--gather-group", type=int, default=None,
                   help="minibatches whose feature rows one zero-copy gather reads: on a pinned table 4 read faster "
                        "per row than 1; costs that many batches of features in GPU memory (default: 4 with "
                        "--features pinned on a GPU, else 1)")
    p.add_argument("--amp", default="none", choices=["none", "bf16"], help="bf16 autocast for the compute")
    p.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs (0: never)")
    p.add_argument("--eval-batch-size", type=int, default=4096, help="target nodes per inference batch")
    link = p.add_argument_group("link prediction (--task link)")
    link.add_argument("--predictor", default=None, choices=["dot", "mlp"],
                      help="score a pair by the dot product of its embeddings (default) or an MLP on their "
                           "elementwise product")
    link.add_argument("--negatives", type=float, default=None,
                      help="negative pairs per positive training edge, labelled 0 (default 1)")
    link.add_argument("--negative-weight", default=None, choices=["uniform", "degree"],
                      help="draw negative nodes uniformly (default) or by degree ** 0.75")
    link.add_argument("--strict-negatives", action="store_true",
                      help="redraw negative pairs that are edges (one host sync per batch)")
    link.add_argument("--keep-seed-edges", action="store_true",
                      help="leave a batch's positive edges in its message passing (default: removed, so the "
                           "model cannot read the label from the graph)")
    link.add_argument("--val-edges", type=float, default=None,
                      help="datasets without a link split: fraction of links held out for validation (default 0.05)")
    link.add_argument("--test-edges", type=float, default=None,
                      help="datasets without a link split: fraction of links held out for test (default 0.1)")
    link.add_argument("--metric", default=None,
                      help="mrr, hits@K or auc (default: the dataset's); the split must hold its candidates")
    link.add_argument("--link-edge-type", type=_edge_type, default=None, metavar="SRC,RELATION,DST",
                      help="heterogeneous datasets: the edge type whose links are split (--val-edges, --test-edges) "
                           "and predicted, e.g. author,writes,paper; --model rgcn or sage, with --featureless as "
                           "for node classification")
    p.add_argument("--reorder", nargs="?", const="hot-rcm", default=None, choices=["hot-rcm", "hot", "rcm"],
                   help="renumber the nodes for locality before training (hot-rcm when no METHOD; kept under --root "
                        "once made): faster zero-copy gathers, the same metrics")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="checkpoint file, rewritten atomically every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--metrics-out", default=None, help="write per-epoch metrics here as JSON lines")
    add_tensorboard_flag(p, "every epoch's metrics (loss, scores, epoch time and its split, seeds/s, peak memory)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def config_from_args(args):
    """The :class:`~graphsys.train.TrainConfig` the flags describe.

    Raises:
        CommandError: flags that contradict each other (the message names them).
    """
    import torch

    from graphsys.train import TrainConfig
    from graphsys.train.config import is_link_preset

    # NaN, inf and the other float flags: TrainConfig refuses them
    check_scale(args.scale, "synthetic-products" if is_link_preset(args.dataset) else args.dataset)
    gpu = torch.cuda.is_available() and args.device != "cpu"
    features = args.features or ("pinned" if gpu else "cpu")
    graph = args.graph or ("cuda" if gpu else "cpu")
    fanouts = args.fanouts
    if fanouts is None:
        fanouts = (_DEFAULT_FANOUTS + (5,) * args.layers)[: max(args.layers, 0)]
    elif len(fanouts) != args.layers:
        raise CommandError(
            f"--fanouts {','.join(map(str, fanouts))} has {len(fanouts)} entries but --layers is {args.layers}; "
            "give one fanout per layer"
        )
    if args.resume and args.checkpoint is None:
        raise CommandError("--resume needs --checkpoint FILE (the checkpoint to continue from)")
    link = _link_options(args)
    try:
        return TrainConfig(
            dataset=args.dataset, root=args.root, scale=args.scale, undirected=args.undirected, model=args.model,
            featureless=args.featureless, embedding_dim=args.embedding_dim, embedding_lr=args.embedding_lr,
            layers=args.layers, hidden=args.hidden, heads=args.heads, dropout=args.dropout,
            input_dropout=args.input_dropout,
            fanouts=fanouts, batch_size=args.batch_size, epochs=args.epochs, lr=args.lr,
            weight_decay=args.weight_decay, features=features, graph=graph, cuda_graph=args.cuda_graph,
            device=args.device, cache=args.cache, cache_shard=args.cache_shard,
            gather_group=args.gather_group, amp=args.amp,
            eval_every=args.eval_every,
            eval_batch_size=args.eval_batch_size, seed=args.seed, checkpoint=args.checkpoint, resume=args.resume,
            metrics_out=args.metrics_out, tensorboard=args.tensorboard, quiet=args.quiet, task=args.task,
            reorder=args.reorder, **link,
        )
    except ValueError as err:
        raise CommandError(as_flags(str(err), {"exclude_seed_edges": "--keep-seed-edges", "val": "--val-edges",
                                              "test": "--test-edges"})) from None


_LINK_FLAGS = {"predictor": "--predictor", "negatives": "--negatives", "negative_weight": "--negative-weight",
               "strict_negatives": "--strict-negatives", "exclude_seed_edges": "--keep-seed-edges",
               "val_edges": "--val-edges", "test_edges": "--test-edges", "metric": "--metric",
               "link_edge_type": "--link-edge-type"}


def _link_options(args) -> dict:
    """The link-prediction fields the flags set (those left out keep TrainConfig's defaults).

    Raises:
        CommandError: a link flag with ``--task node``, or a node-only flag with ``--task link``.
    """
    given = {"predictor": args.predictor, "negatives": args.negatives, "negative_weight": args.negative_weight,
             "strict_negatives": args.strict_negatives or None,
             "exclude_seed_edges": False if args.keep_seed_edges else None,
             "val_edges": args.val_edges, "test_edges": args.test_edges, "metric": args.metric,
             "link_edge_type": args.link_edge_type}
    given = {k: v for k, v in given.items() if v is not None}
    if args.task == "node" and given:
        flags = ", ".join(_LINK_FLAGS[k] for k in given)
        raise CommandError(f"{flags} apply to --task link; add --task link or drop them")
    if args.task == "link":
        # a heterogeneous link task (--link-edge-type) trains the node task's heterogeneous models
        typed = args.link_edge_type is not None
        node_only = [flag for flag, used in (("--undirected", args.undirected),
                                             ("--featureless mean", args.featureless == "mean" and not typed),
                                             ("--model rgcn", args.model == "rgcn" and not typed)) if used]
        if node_only:
            raise CommandError(f"{', '.join(node_only)} apply to node classification, not --task link (unless "
                               "--link-edge-type names the edge type of a heterogeneous dataset to predict)")
    return given


def _print_epoch(m) -> None:
    if getattr(m, "train_acc", None) is not None:
        scores = f"  train {m.metric} {m.train_acc:.4f}  val {m.val_score:.4f}  test {m.test_score:.4f}"
    else:
        scores = f"  val {m.metric} {m.val_score:.4f}  test {m.test_score:.4f}" if m.val_score is not None else ""
    print(
        f"epoch {m.epoch:3d}  loss {m.loss:.4f}{scores}  {m.epoch_s:.2f} s  {m.seeds_per_s:,.0f} seeds/s "
        f"(sample {m.sample_s:.2f} s, gather {m.gather_s:.2f} s, compute {m.compute_s:.2f} s)",
        flush=True,
    )


def check_paths(config) -> None:
    """Refuse, before any work, a --checkpoint or --metrics-out that the first epoch's write
    would refuse (or a --resume from a checkpoint that is not there).

    Raises:
        CommandError: naming the flag, the path and what is wrong with it.
    """
    from pathlib import Path

    from graphsys.io import METRICS_KIND
    from graphsys.train.checkpoint import CHECKPOINT_KIND

    if config.checkpoint is not None and config.metrics_out is not None \
            and Path(config.checkpoint).absolute() == Path(config.metrics_out).absolute():
        raise CommandError(f"--checkpoint and --metrics-out are the same file {config.checkpoint}; "
                           "give them different paths")
    check_output_path("--checkpoint", config.checkpoint, CHECKPOINT_KIND)
    if config.resume and not Path(config.checkpoint).is_file():
        raise CommandError(f"--checkpoint {config.checkpoint} does not exist, so there is nothing to --resume from; "
                           "train once without --resume to create it")
    check_output_path("--metrics-out", config.metrics_out, METRICS_KIND)
    check_tensorboard(config.tensorboard)


def run(args) -> int:
    """Train as the flags say; print one line per epoch (rank 0)."""
    from graphsys.train import train

    config = config_from_args(args)
    check_paths(config)
    result = train(config, on_epoch=_print_epoch)
    best = result.best
    if best is not None and result.rank == 0:
        print(f"best val {best.metric} {best.val_score:.4f} at epoch {best.epoch}: test {best.test_score:.4f}")
    return 0
