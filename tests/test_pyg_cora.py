"""A PyG script on a plain PyPI install, moved onto graphsys by one import line, trains GraphSAGE on Cora."""
import pytest
import torch
import torch.nn.functional as F
import torch_geometric.typing
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GraphSAGE

from graphsys.pyg import NeighborLoader  # was: from torch_geometric.loader import NeighborLoader


@torch.no_grad()
def accuracy(model: torch.nn.Module, loader) -> float:
    model.eval()
    correct = total = 0
    for batch in loader:
        pred = model(batch.x, batch.edge_index)[: batch.batch_size].argmax(dim=-1)
        correct += int((pred == batch.y[: batch.batch_size]).sum())
        total += batch.batch_size
    return correct / total


@pytest.mark.slow
def test_graphsage_on_cora_through_graphsys_neighbor_loader(shared_data):
    assert not torch_geometric.typing.WITH_PYG_LIB and not torch_geometric.typing.WITH_TORCH_SPARSE
    root = shared_data("planetoid/cora").parent
    dataset = Planetoid(str(root), "cora")  # the standard split: 140 train / 500 val / 1000 test
    data = dataset[0]
    torch.manual_seed(0)
    train_loader = NeighborLoader(data, num_neighbors=[10, 10], input_nodes=data.train_mask, batch_size=35,
                                  shuffle=True, placement="cpu")
    val_loader = NeighborLoader(data, num_neighbors=[10, 10], input_nodes=data.val_mask, batch_size=500,
                                placement="cpu")
    test_loader = NeighborLoader(data, num_neighbors=[10, 10], input_nodes=data.test_mask, batch_size=1000,
                                 placement="cpu")
    model = GraphSAGE(dataset.num_features, 64, num_layers=2, out_channels=dataset.num_classes, dropout=0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, test_at_best_val = -1.0, 0.0
    for epoch in range(30):
        model.train()
        for batch in train_loader:
            optimizer.zero_grad()
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
            F.cross_entropy(out, batch.y[: batch.batch_size]).backward()
            optimizer.step()
        if epoch >= 9:
            val = accuracy(model, val_loader)
            if val > best_val:
                best_val, test_at_best_val = val, accuracy(model, test_loader)
    assert best_val >= 0.74
    assert test_at_best_val >= 0.78
