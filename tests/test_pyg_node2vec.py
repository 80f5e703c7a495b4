"""graphsys.pyg.Node2Vec: PyG's Node2Vec on a plain PyPI install, walks drawn by graphsys."""
from types import SimpleNamespace

import pytest
import torch
import torch_geometric.nn

from graphsys.pyg import Node2Vec


def two_communities() -> torch.Tensor:
    """Two 6-cliques joined by one edge, both directions, plus a dead-end edge 12 -> 13."""
    edges = [(a, b) for c in (0, 6) for a in range(c, c + 6) for b in range(c, c + 6) if a != b]
    edges += [(5, 6), (6, 5), (12, 13)]
    return torch.tensor(edges).t()


def test_pyg_own_node2vec_needs_pyg_lib_here():
    with pytest.raises(ImportError, match="pyg-lib"):
        torch_geometric.nn.Node2Vec(two_communities(), 4, 4, 2)


def test_positive_windows_follow_out_edges_and_stay_at_dead_ends():
    edge_index = two_communities()
    edges = set(map(tuple, edge_index.t().tolist()))
    model = Node2Vec(edge_index, 8, walk_length=6, context_size=3, walks_per_node=2, p=0.5, q=2.0, seed=1)
    batch = torch.tensor([0, 7, 12, 13])
    pos = model.pos_sample(batch)
    assert pos.shape == (2 * 4 * (6 + 1 - 3), 3)
    for window in pos.tolist():
        for a, b in zip(window, window[1:], strict=False):  # consecutive pairs: one fewer
            assert (a, b) in edges or (a == b == 13)
    assert torch.equal(pos[: 2 * 4, 0], batch.repeat(2))
    neg = model.neg_sample(batch)
    assert neg.shape == (2 * 4 * (6 + 1 - 3), 3) and int(neg.max()) < 14


def test_walks_are_seeded_and_advance():
    a = Node2Vec(two_communities(), 8, 5, 2, seed=3)
    b = Node2Vec(two_communities(), 8, 5, 2, seed=3)
    batch = torch.arange(12)
    first = a.sample(batch)
    assert all(torch.equal(x, y) for x, y in zip(first, b.sample(batch), strict=True))
    assert not torch.equal(first[0], a.pos_sample(batch))


def test_each_worker_walks_its_own_stream(monkeypatch):
    worker = {"info": None}
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: worker["info"])

    def draw(worker_seed):
        worker["info"] = SimpleNamespace(seed=worker_seed, id=0)
        return Node2Vec(two_communities(), 8, 6, 2, seed=0).sample(torch.arange(12))

    first, again, other = draw(5), draw(5), draw(6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0]) and not torch.equal(first[1], other[1])


def test_training_separates_the_communities():
    torch.manual_seed(0)
    model = Node2Vec(two_communities(), 16, walk_length=8, context_size=4, walks_per_node=4, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        for pos, neg in model.loader(batch_size=14, shuffle=True):
            optimizer.zero_grad()
            loss = model.loss(pos, neg)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert losses[-1] < losses[0]
    z = torch.nn.functional.normalize(model().detach(), dim=1)
    sim = z @ z.t()
    inside = (sim[:6, :6].sum() - 6) / 30 + (sim[6:12, 6:12].sum() - 6) / 30
    across = sim[:6, 6:12].mean() * 2
    assert inside > across


def test_refuses_a_context_longer_than_the_walk():
    with pytest.raises(ValueError, match="context_size"):
        Node2Vec(two_communities(), 8, walk_length=2, context_size=3)


def test_compiles_with_torch_jit_script_and_samples_as_the_eager_model():
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    kwargs = dict(embedding_dim=16, walk_length=3, context_size=2, seed=5)
    eager, scripted = Node2Vec(edge_index, **kwargs), torch.jit.script(Node2Vec(edge_index, **kwargs))
    assert scripted(torch.arange(3)).shape == (3, 16)
    for _ in range(2):  # the scripted model's walks advance as the eager one's
        (pos_a, neg_a), (pos_b, neg_b) = eager.sample(torch.arange(3)), scripted.sample(torch.arange(3))
        assert torch.equal(pos_a, pos_b) and torch.equal(neg_a, neg_b)
    assert float(scripted.loss(pos_b, neg_b)) >= 0
