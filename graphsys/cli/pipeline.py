"""``graphsys pipeline``: pipelined layer-parallel full-graph training (GNNPipe), graph
parallelism (``--graph-parallel G --stages 1``) and the hybrid (both above 1).

Run plainly it starts its ``S x G`` local processes itself; under ``torchrun`` it uses the
ranks it is given (``torchrun --nproc-per-node 4 -m graphsys pipeline --stages 4 ...``).
"""
from __future__ import annotations

import json

from graphsys.cli import (
    CommandError,
    add_tensorboard_flag,
    as_flags,
    check_output_path,
    check_scale,
    check_tensorboard,
)


def register(subparsers) -> None:
    """Add the ``pipeline`` subcommand."""
    p = subparsers.add_parser(
        "pipeline", help="train a deep GNN on the full graph, layers split into pipeline stages",
        description="Full-graph training of a deep residual GCN/GraphSAGE split into S pipeline stages "
                    "(and/or G graph partitions); per-epoch metrics as JSON lines.",
    )
    p.add_argument("--dataset", required=True, help="a dataset name known to graphsys.datasets.load (e.g. cora)")
    p.add_argument("--root", default=None, help="folder holding the dataset's files")
    p.add_argument("--scale", type=float, default=1.0, help="synthetic datasets: size multiplier")
    p.add_argument("--model", default="gcn", choices=["gcn", "sage"])
    p.add_argument("--layers", type=int, default=8, help="message-passing layers L")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--stages", type=int, default=2, help="pipeline stages S (processes per group)")
    p.add_argument("--graph-parallel", type=int, default=1, metavar="G",
                   help="node partitions exchanging halo rows at every layer (G processes per stage)")
    p.add_argument("--chunks", type=int, default=4, help="chunks per partition flowing through the pipeline")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--warmup-epochs", type=int, default=5, help="first epochs without staleness")
    p.add_argument("--sync-every", type=int, default=0, help="every K-th later epoch without staleness (0: never)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--partitioner", default="contiguous", choices=["contiguous", "random"])
    p.add_argument("--history", default="device", choices=["device", "pinned"],
                   help="where per-layer history lives: device memory or pinned host memory")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cpu (gloo) or cuda (NCCL)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a rank waits for a peer before failing")
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metrics-out", default=None, help="write per-epoch metrics here as JSON lines")
    add_tensorboard_flag(p, "every epoch's metrics (loss, accuracies, times, bytes sent, staleness)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


#: PipelineConfig fields whose flag is not ``--`` + the field name with '-' for '_'.
_FLAGS = {"timeout_s": "--timeout"}


def config_from_args(args):
    """The :class:`~graphsys.pipeline.PipelineConfig` the flags describe.

    Raises:
        CommandError: a flag out of range (the message names it), or ``--device cuda``
            without (enough) GPUs.
    """
    import torch

    from graphsys.pipeline import PipelineConfig
    from graphsys.pipeline.run import _under_torchrun

    check_scale(args.scale, args.dataset)
    try:
        config = PipelineConfig(
            model=args.model, layers=args.layers, hidden=args.hidden, stages=args.stages,
            graph_parallel=args.graph_parallel, chunks=args.chunks, epochs=args.epochs,
            warmup_epochs=args.warmup_epochs, sync_every=args.sync_every, lr=args.lr,
            weight_decay=args.weight_decay, dropout=args.dropout, partitioner=args.partitioner,
            history=args.history, device=args.device, timeout_s=args.timeout, eval_every=args.eval_every,
            seed=args.seed,
        )
    except ValueError as err:
        raise CommandError(as_flags(str(err), _FLAGS)) from None
    if config.device == "cuda":  # as `graphsys train` says it (graphsys.train.check_machine)
        if not torch.cuda.is_available():
            raise CommandError("device = 'cuda' needs a CUDA GPU and none is available; use device = 'cpu' "
                               "(--device cpu)")
        gpus = torch.cuda.device_count()
        if not _under_torchrun() and config.world_size > gpus:  # under torchrun: one GPU per local rank
            raise CommandError(
                f"device = 'cuda' runs one process per GPU, and --stages {config.stages} x --graph-parallel "
                f"{config.graph_parallel} = {config.world_size} processes need {config.world_size} GPUs; "
                f"this machine has {gpus}"
            )
    return config


def run(args) -> int:
    """Build the config from the flags, load the dataset, train, print the last epoch's summary."""
    from graphsys.datasets import load
    from graphsys.io import METRICS_KIND
    from graphsys.pipeline import train
    from graphsys.pipeline.host_memory import reuse_freed_host_memory

    config = config_from_args(args)
    check_output_path("--metrics-out", args.metrics_out, METRICS_KIND)  # before the run, not after it
    check_tensorboard(args.tensorboard)
    data = load(args.dataset, root=args.root, scale=args.scale, seed=args.seed, quiet=args.quiet)
    if data.x is None or data.multilabel:
        raise CommandError(
            f"dataset {args.dataset!r} needs node features and single labels for node classification"
        )
    if config.device == "cpu":  # this process (a torchrun rank, or the launcher) exists to train
        reuse_freed_host_memory()
    result = train(config, data, metrics_out=args.metrics_out, quiet=args.quiet, tensorboard=args.tensorboard)
    if not result.metrics:
        return 0
    last = result.metrics[-1]
    summary = {
        "epochs": len(result.metrics), "loss": round(last.loss, 4), "val_acc": last.val_acc,
        "test_acc": last.test_acc, "epoch_s": round(last.epoch_s, 4), "comm_bytes": last.comm_bytes,
        "max_staleness": last.max_staleness,
    }
    print(json.dumps(summary))
    return 0
