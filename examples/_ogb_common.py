"""What the two OGB examples share: their common flags and the TrainConfig fields those flags set."""
import argparse
import os

import torch


def ogb_parser(doc: str, *, dataset: str, models: list[str], epochs: int, lr: float,
               batch_help: str | None = None) -> argparse.ArgumentParser:
    """The flags both examples take (an example adds its own before parsing)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--dataset", default=dataset)
    parser.add_argument("--root", default="data/ogb", help="folder holding (or receiving) the OGB download")
    parser.add_argument("--model", default="sage", choices=models)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--fanouts", default="15,10,5", help="one fanout per layer")
    parser.add_argument("--batch-size", type=int, default=1024, help=batch_help)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--amp", default="none", choices=["none", "bf16"])
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (resumes from it when it exists)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def config_fields(args: argparse.Namespace) -> dict:
    """TrainConfig fields from those flags: one layer per fanout; with a GPU, pinned zero-copy features
    with a 20% GPU cache and the graph in GPU memory, else everything on the CPU; resume when the
    checkpoint exists."""
    gpu = torch.cuda.is_available()
    fanouts = tuple(int(f) for f in args.fanouts.split(","))
    return dict(
        model=args.model, layers=len(fanouts), hidden=args.hidden, fanouts=fanouts, batch_size=args.batch_size,
        epochs=args.epochs, lr=args.lr, amp=args.amp, seed=args.seed,
        features="pinned" if gpu else "cpu", cache=0.2 if gpu else 0.0, graph="cuda" if gpu else "cpu",
        checkpoint=args.checkpoint, resume=args.checkpoint is not None and os.path.exists(args.checkpoint),
    )
