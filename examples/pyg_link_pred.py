"""A plain PyG link-prediction script (GCN encoder, dot-product decoder, Cora with a random edge
split, scored by ROC-AUC) moved onto graphsys by its import line.

One line differs from the PyG version, marked ``# graphsys``: ``LinkNeighborLoader`` comes from
``graphsys.pyg`` (graphsys's sampler behind PyG's loader: GPU neighbour sampling, no pyg-lib).
Everything else (``RandomLinkSplit``, the model, binary negatives, the loop) is PyG as usual. Run::

    python examples/pyg_link_pred.py --root data/planetoid   # folder holding cora/raw
"""
import argparse

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from sklearn.metrics import roc_auc_score
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCN

from graphsys.pyg import LinkNeighborLoader  # graphsys: was `from torch_geometric.loader import LinkNeighborLoader`

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--root", default="data/planetoid", help="folder holding cora/raw (PyG's Planetoid layout)")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
split = T.RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True, add_negative_train_samples=False)
train_data, val_data, test_data = split(Planetoid(args.root, "cora", transform=T.NormalizeFeatures())[0])

loader = LinkNeighborLoader(train_data, num_neighbors=[10, 10], batch_size=256, shuffle=True,
                            edge_label_index=train_data.edge_label_index, edge_label=train_data.edge_label,
                            neg_sampling_ratio=1.0)
encoder = GCN(train_data.num_features, 128, num_layers=2, out_channels=64).to(device)
optimizer = torch.optim.Adam(encoder.parameters(), lr=0.01)


def decode(z: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    return (z[pairs[0]] * z[pairs[1]]).sum(dim=-1)


@torch.no_grad()
def auc(data) -> float:
    encoder.eval()
    data = data.to(device)
    z = encoder(data.x, data.edge_index)
    return roc_auc_score(data.edge_label.cpu().numpy(), decode(z, data.edge_label_index).sigmoid().cpu().numpy())


for epoch in range(1, args.epochs + 1):
    encoder.train()
    total = 0.0
    for batch in loader:
        batch = batch.to(device)
        optimizer.zero_grad()
        z = encoder(batch.x, batch.edge_index)
        loss = F.binary_cross_entropy_with_logits(decode(z, batch.edge_label_index), batch.edge_label)
        loss.backward()
        optimizer.step()
        total += float(loss)
    print(f"epoch {epoch:3d}  loss {total / len(loader):.4f}  val auc {auc(val_data):.4f}")
print(f"test auc {auc(test_data):.4f}")
