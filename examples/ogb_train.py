"""Train GraphSAGE (or GCN, GAT) on an OGB node-property dataset with graphsys, reported the OGB way.

The dataset is read by ogb's own loader (``ogbn-arxiv`` is made undirected, as its leaderboard
entries do), trained on sampled minibatches with zero-copy features when there is a GPU, and
scored every epoch by ogb's ``Evaluator`` on full-neighbourhood layer-wise inference. The line
printed at the end is what an OGB submission reports: the test score at the epoch of the best
validation score. Run::

    python examples/ogb_train.py --dataset ogbn-arxiv --root data/ogb --epochs 20
    python examples/ogb_train.py --dataset ogbn-products --root data/ogb --fanouts 15,10,5
"""
from _ogb_common import config_fields, ogb_parser

from graphsys.datasets import load
from graphsys.train import TrainConfig, train

args = ogb_parser(__doc__, dataset="ogbn-arxiv", models=["sage", "gcn", "gat"], epochs=20, lr=3e-3).parse_args()

undirected = args.dataset.lower() == "ogbn-arxiv"
dataset = load(args.dataset, args.root, undirected=undirected, quiet=False)
print(dataset)
config = TrainConfig(dataset=dataset.name, undirected=undirected, **config_fields(args))


def report(m) -> None:
    print(f"epoch {m.epoch:3d}  loss {m.loss:.4f}  train {m.train_acc:.4f}  val {m.val_acc:.4f}  "
          f"test {m.test_acc:.4f}  ({m.epoch_s:.1f} s: sample {m.sample_s:.1f}, gather {m.gather_s:.1f}, "
          f"compute {m.compute_s:.1f}, eval {m.eval_s:.1f})", flush=True)


result = train(config, dataset=dataset, on_epoch=report)
best = result.best
print(f"{dataset.name}: best validation {best.metric} {best.val_acc:.4f} at epoch {best.epoch}, "
      f"test {best.test_acc:.4f}")
