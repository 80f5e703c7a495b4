"""Run by tests/test_sampling_workers.py in a fresh interpreter: PyG's loader over graphsys's sampler
with two DataLoader workers for three epochs, after the parent used torch's OpenMP threads."""
import sys

import torch
from torch_geometric.data import Data

from graphsys.pyg import NeighborLoader


def main(method: str, persistent: bool) -> None:
    torch.manual_seed(0)
    n = 3000
    data = Data(x=torch.randn(n, 64), edge_index=torch.randint(0, n, (2, 30000)), y=torch.randint(0, 5, (n,)))
    torch.zeros(500, 500) @ torch.zeros(500, 500)  # the parent starts its OpenMP pool first
    # placement="cpu": host sampling in the workers, as PyG does (the GPU default runs in the main process)
    loader = NeighborLoader(data, num_neighbors=[10, 5], batch_size=256, shuffle=True, num_workers=2,
                            multiprocessing_context=method, persistent_workers=persistent, placement="cpu")
    for _ in range(3):
        seeds = torch.cat([batch.n_id[: batch.batch_size] for batch in loader])
        assert torch.equal(seeds.sort().values, torch.arange(n)), "an epoch must visit every seed once"
    print("epochs done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "persistent")
