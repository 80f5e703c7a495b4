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
from _ogb_common import config_fields, ogb_parser

from graphsys.train import TrainConfig, train

parser = ogb_parser(__doc__, dataset="ogbl-citation2", models=["sage", "gcn", "gat", "mlp"], epochs=10, lr=5e-4,
                    batch_help="positive edges per batch")
parser.add_argument("--predictor", default="mlp", choices=["dot", "mlp"])
args = parser.parse_args()

config = TrainConfig(dataset=args.dataset, root=args.root, task="link", predictor=args.predictor, dropout=0.0,
                     **config_fields(args))


def report(m) -> None:
    scores = f"  val {m.metric} {m.val_score:.4f}  test {m.test_score:.4f}" if m.val_score is not None else ""
    print(f"epoch {m.epoch:3d}  loss {m.loss:.4f}{scores}  {m.epoch_s:.1f} s (eval {m.eval_s:.1f} s)", flush=True)


result = train(config, on_epoch=report)
best = result.best
if best is not None:
    print(f"{args.dataset} {args.model}: best val {best.metric} {best.val_score:.4f} at epoch {best.epoch}, "
          f"test {best.test_score:.4f}")
