"""Train GraphSAGE (or GCN, GAT) for link prediction on an OGB link-property dataset with graphsys,
reported the OGB way.

The dataset is read by ogb's own ``LinkPropPredDataset`` (ogbl-citation2's citations are passed both
ways for message passing, as its leaderboard's GNNs do), trained on sampled subgraphs around positive
edges and uniform negatives (the batch's positive edges taken out of its message passing), with
zero-copy features when there is a GPU, and scored by ogb's ``Evaluator`` (MRR for citation2, Hits@K
for collab and ppa) on every node's full-neighbourhood embedding. The line printed at the end is what an
OGB submission reports: the test score at the epoch of the best validation score. Run::

    python examples/ogbl_train.py --dataset ogbl-citation2 --root data/ogb --epochs 10 --predictor mlp
    python examples/ogbl_train.py --dataset ogbl-collab --root data/ogb --fanouts 15,10

A dataset written by ``graphsys.datasets.write_ogb_link_dataset`` under ``--root`` trains the same way.
"""
import argparse
import os

import torch

from graphsys.train import TrainConfig, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="ogbl-citation2")
parser.add_argument("--root", default="data/ogb", help="folder holding (or receiving) the OGB download")
parser.add_argument("--model", default="sage", choices=["sage", "gcn", "gat", "mlp"])
parser.add_argument("--predictor", default="mlp", choices=["dot", "mlp"])
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--fanouts", default="15,10,5", help="one fanout per layer")
parser.add_argument("--batch-size", type=int, default=1024, help="positive edges per batch")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--lr", type=float, default=5e-4)
parser.add_argument("--amp", default="none", choices=["none", "bf16"])
parser.add_argument("--checkpoint", default=None, help="checkpoint file (resumes from it when it exists)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

gpu = torch.cuda.is_available()
fanouts = tuple(int(f) for f in args.fanouts.split(","))
config = TrainConfig(
    dataset=args.dataset, root=args.root, task="link", model=args.model, predictor=args.predictor,
    layers=len(fanouts), hidden=args.hidden, fanouts=fanouts, dropout=0.0, batch_size=args.batch_size,
    epochs=args.epochs, lr=args.lr, amp=args.amp, seed=args.seed,
    features="pinned" if gpu else "cpu", cache=0.2 if gpu else 0.0, graph="cuda" if gpu else "cpu",
    checkpoint=args.checkpoint, resume=args.checkpoint is not None and os.path.exists(args.checkpoint),
)


def report(m) -> None:
    scores = f"  val {m.metric} {m.val_score:.4f}  test {m.test_score:.4f}" if m.val_score is not None else ""
    print(f"epoch {m.epoch:3d}  loss {m.loss:.4f}{scores}  {m.epoch_s:.1f} s (eval {m.eval_s:.1f} s)", flush=True)


result = train(config, on_epoch=report)
best = result.best
if best is not None:
    print(f"{args.dataset} {args.model}: best val {best.metric} {best.val_score:.4f} at epoch {best.epoch}, "
          f"test {best.test_score:.4f}")
