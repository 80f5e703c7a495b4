"""Train GraphSAGE (or GCN, GAT) on an OGB node-property dataset with graphsys, reported the OGB way.

The dataset is read by ogb's own loader (``ogbn-arxiv`` is made undirected, as its leaderboard
entries do), trained on sampled minibatches with zero-copy features when there is a GPU, and
scored every epoch by ogb's ``Evaluator`` on full-neighbourhood layer-wise inference. The line
printed at the end is what an OGB submission reports: the test score at the epoch of the best
validation score. Run::

    python examples/ogb_train.py --dataset ogbn-arxiv --root data/ogb --epochs 20
    python examples/ogb_train.py --dataset ogbn-products --root data/ogb --fanouts 15,10,5
"""
import argparse
import os

import torch

from graphsys.datasets import load
from graphsys.train import TrainConfig, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="ogbn-arxiv")
parser.add_argument("--root", default="data/ogb", help="folder holding (or receiving) the OGB download")
parser.add_argument("--model", default="sage", choices=["sage", "gcn", "gat"])
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--fanouts", default="15,10,5", help="one fanout per layer")
parser.add_argument("--batch-size", type=int, default=1024)
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--lr", type=float, default=3e-3)
parser.add_argument("--amp", default="none", choices=["none", "bf16"])
parser.add_argument("--checkpoint", default=None, help="checkpoint file (resumes from it when it exists)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

gpu = torch.cuda.is_available()
fanouts = tuple(int(f) for f in args.fanouts.split(","))
undirected = args.dataset.lower() == "ogbn-arxiv"
dataset = load(args.dataset, args.root, undirected=undirected, quiet=False)
print(dataset)
config = TrainConfig(
    dataset=dataset.name, undirected=undirected, model=args.model, layers=len(fanouts), hidden=args.hidden,
    fanouts=fanouts,
    batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, amp=args.amp, seed=args.seed,
    features="pinned" if gpu else "cpu", cache=0.2 if gpu else 0.0, graph="cuda" if gpu else "cpu",
    checkpoint=args.checkpoint,
    resume=args.checkpoint is not None and os.path.exists(args.checkpoint),
)


def report(m) -> None:
    print(f"epoch {m.epoch:3d}  loss {m.loss:.4f}  train {m.train_acc:.4f}  val {m.val_acc:.4f}  "
          f"test {m.test_acc:.4f}  ({m.epoch_s:.1f} s: sample {m.sample_s:.1f}, gather {m.gather_s:.1f}, "
          f"compute {m.compute_s:.1f}, eval {m.eval_s:.1f})", flush=True)


result = train(config, dataset=dataset, on_epoch=report)
best = result.best
print(f"{dataset.name}: best validation {best.metric} {best.val_acc:.4f} at epoch {best.epoch}, "
      f"test {best.test_acc:.4f}")
