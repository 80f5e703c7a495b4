"""NodeDataset refuses inconsistent parts, naming the dataset, the field and what was expected."""
import pytest
import torch

from graphsys import Graph
from graphsys.datasets import NodeDataset


def _parts(**changes):
    graph = Graph.from_coo([0, 1, 2], [1, 2, 0], 4)
    parts = dict(name="tiny", graph=graph, x=torch.zeros(4, 2), y=torch.tensor([0, 1, -1, 1]),
                 train_idx=torch.tensor([0, 1]), val_idx=torch.tensor([3]),
                 test_idx=torch.tensor([], dtype=torch.int64), num_classes=2)
    parts.update(changes)
    return parts


def test_a_consistent_dataset_is_accepted():
    ds = NodeDataset(**_parts())
    assert ds.num_nodes == 4 and ds.num_features == 2


@pytest.mark.parametrize(
    "changes, error, match",
    [
        (dict(x=torch.zeros(4, 2, dtype=torch.int64)), TypeError, "tiny: x must be a float tensor, got torch.int64"),
        (dict(x=[[0.0]] * 4), TypeError, "tiny: x must be a float tensor, got list"),
        (dict(x=torch.zeros(3, 2)), ValueError, r"tiny: x must have shape \[4, F\], got \(3, 2\)"),
        (dict(y=[0, 1, 0, 1]), TypeError, "tiny: y must be a tensor, got list"),
        (dict(y=torch.zeros(5, dtype=torch.int64)), ValueError, r"tiny: y must have shape \[4\], got \(5,\)"),
        (dict(y=torch.zeros(4, 2, dtype=torch.int64), multilabel=True, num_classes=3), ValueError,
         r"y must have shape \[4, 3\]"),
        (dict(y=torch.zeros(4)), TypeError, "tiny: single-label y must be int64, got torch.float32"),
        (dict(num_classes=-1), ValueError, "tiny: num_classes must be >= 0, got -1"),
        (dict(train_idx=torch.tensor([0, 1], dtype=torch.int32)), TypeError,
         "tiny: train_idx must be an int64 tensor, got torch.int32"),
        (dict(val_idx=[3]), TypeError, "tiny: val_idx must be an int64 tensor, got list"),
        (dict(test_idx=torch.tensor([[0]])), ValueError, r"tiny: test_idx must be 1-D, got shape \(1, 1\)"),
        (dict(train_idx=torch.tensor([0, 4])), IndexError, r"tiny: train_idx holds node id 4, outside \[0, 4\)"),
        (dict(val_idx=torch.tensor([-1])), IndexError, "tiny: val_idx holds node id -1"),
    ],
)
def test_inconsistent_parts_are_refused(changes, error, match):
    with pytest.raises(error, match=match):
        NodeDataset(**_parts(**changes))
