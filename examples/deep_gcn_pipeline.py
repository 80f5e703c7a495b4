"""Train a deep residual GCN on Cora with its layers split into pipeline stages (GNNPipe).

Each stage is a process holding consecutive layers; node chunks flow through the stages and
layers read not-yet-computed neighbours from last epoch's history. The script prints the
accuracy curve next to a single-process run of the same model, seed and epochs, and the
bytes the stages exchanged.

    PYTHONPATH=. python examples/deep_gcn_pipeline.py --root ../shared/data/planetoid --stages 2
"""
from __future__ import annotations

import argparse

from graphsys.datasets import load
from graphsys.pipeline import PipelineConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--root", default="../shared/data/planetoid", help="folder holding cora/raw")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--warmup-epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()

    data = load(args.dataset, root=args.root)
    common = dict(model="gcn", layers=args.layers, hidden=64, epochs=args.epochs,
                  warmup_epochs=args.warmup_epochs, device=args.device, seed=0)
    piped = train(PipelineConfig(stages=args.stages, chunks=args.chunks, **common), data, quiet=False)
    single = train(PipelineConfig(stages=1, chunks=1, **common), data, quiet=False)

    print(f"{'epoch':>5} {'mode':>9} {'pipeline test':>13} {'single test':>11} {'stale rows':>10}")
    for p, s in zip(piped.metrics, single.metrics, strict=True):
        if p.epoch % 5 == 4 or p.epoch == args.epochs - 1:
            print(f"{p.epoch:>5} {p.mode:>9} {p.test_acc:>13.4f} {s.test_acc:>11.4f} {p.stale_fraction:>10.3f}")
    last = piped.metrics[-1]
    print(f"stage traffic per epoch: {last.comm_bytes / 1e6:.2f} MB "
          f"(activations {last.comm_by_kind['activations'] / 1e6:.2f}, "
          f"gradients {last.comm_by_kind['gradients'] / 1e6:.2f})")


if __name__ == "__main__":
    main()
