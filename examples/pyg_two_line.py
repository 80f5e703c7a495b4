"""A plain PyG training script (GraphSAGE on Cora with NeighborLoader) moved onto graphsys.

Two lines differ from the PyG original, both marked ``# graphsys``:

1. the loader comes from ``graphsys.pyg`` (GPU neighbour sampling, no pyg-lib needed);
2. the feature tensor is wrapped in a ``zerocopy.UnifiedTensor``: it stays in pinned host
   memory and the GPU gathers each batch's rows itself (zero-copy).

Everything else (dataset, model, loop) is PyG as usual. Run::

    python examples/pyg_two_line.py --root data/planetoid   # folder holding cora/raw
"""
import argparse
import time

import torch
import torch.nn.functional as F
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GraphSAGE

from graphsys.pyg import NeighborLoader  # graphsys: was `from torch_geometric.loader import NeighborLoader`
from zerocopy import UnifiedTensor

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--root", default="data/planetoid", help="folder holding cora/raw (PyG's Planetoid layout)")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
dataset = Planetoid(args.root, "cora")
data = dataset[0]
data.x = UnifiedTensor(data.x)  # graphsys: features in pinned memory, gathered by the GPU

train_loader = NeighborLoader(data, num_neighbors=[10, 10], batch_size=140, input_nodes=data.train_mask,
                              shuffle=True)
test_loader = NeighborLoader(data, num_neighbors=[-1, -1], batch_size=1024, input_nodes=data.test_mask)
model = GraphSAGE(dataset.num_features, 64, num_layers=2, out_channels=dataset.num_classes, dropout=0.5).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-3)

for epoch in range(1, args.epochs + 1):
    model.train()
    start, total_loss = time.perf_counter(), 0.0
    for batch in train_loader:
        batch = batch.to(device)
        optimizer.zero_grad()
        out = model(batch.x, batch.edge_index)[: batch.batch_size]
        loss = F.cross_entropy(out, batch.y[: batch.batch_size])
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
    print(f"epoch {epoch:3d}  loss {total_loss / len(train_loader):.4f}  {time.perf_counter() - start:.3f} s")

model.eval()
correct = total = 0
with torch.no_grad():
    for batch in test_loader:
        batch = batch.to(device)
        pred = model(batch.x, batch.edge_index)[: batch.batch_size].argmax(dim=-1)
        correct += int((pred == batch.y[: batch.batch_size]).sum())
        total += batch.batch_size
print(f"test accuracy {correct / total:.4f}")
