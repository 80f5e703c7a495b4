"""Locality-ordered tables (graphsys.datasets.reorder, graphsys data reorder, train --reorder):
the renumbering is a bijection that keeps the graph, features, labels and splits together, puts
the hottest rows first, is deterministic, and every per-node output returns to the user's ids."""
import json

import numpy as np
import pytest
import torch
from test_train_cora import one_thread  # noqa: F401  (autouse: one thread on the shared 2-core machine)

from graphsys.cli import main
from graphsys.csr_build import locality_order, permute_csr
from graphsys.datasets import NodeDataset, load
from graphsys.datasets.reorder import (
    Estimate,
    ReorderConfig,
    apply_permutation,
    check_permutation,
    draw_frequency,
    reorder_dataset,
    reorder_permutation,
    reordered_dir,
    tiers_of,
    to_new_ids,
    to_original,
)
from graphsys.graph import Graph
from graphsys.io import OutputError

METHODS = ["hot-rcm", "hot", "rcm"]


@pytest.fixture(scope="module")
def products():
    return load("synthetic-products", scale=0.002, seed=3)


@pytest.fixture(scope="module")
def papers():
    """Directed, labelled only on its splits: the case where in- and out-degree differ."""
    return load("synthetic-papers100m", scale=0.0005, seed=1)


def edge_set(graph: Graph, ids: torch.Tensor | None = None) -> list[tuple[int, int]]:
    ei = graph.to_edge_index()
    if ids is not None:
        ei = ids[ei]
    return sorted(map(tuple, ei.t().tolist()))


def assert_follows(original: NodeDataset, renumbered: NodeDataset) -> None:
    """Everything of ``renumbered`` is ``original``'s, read through ``original_ids``."""
    o = renumbered.original_ids
    assert o.dtype == torch.int64 and torch.equal(torch.sort(o).values, torch.arange(original.num_nodes))
    assert edge_set(renumbered.graph, o) == edge_set(original.graph)
    assert torch.equal(renumbered.x, original.x[o])
    assert torch.equal(renumbered.y, original.y[o])
    for split in ("train_idx", "val_idx", "test_idx"):
        new = getattr(renumbered, split)
        assert torch.equal(new, torch.sort(new).values)  # still sorted
        assert torch.equal(torch.sort(o[new]).values, getattr(original, split))
    # rows stay sorted by neighbour id (the Graph contract)
    indptr, indices = renumbered.graph.indptr, renumbered.graph.indices.long()
    for v in range(0, renumbered.num_nodes, max(1, renumbered.num_nodes // 50)):
        row = indices[indptr[v] : indptr[v + 1]]
        assert torch.equal(row, torch.sort(row).values)


# --------------------------------------------------------------------------- the permutation
@pytest.mark.parametrize("method", METHODS)
def test_permutation_is_a_bijection_and_deterministic(papers, method):
    order = reorder_permutation(papers.graph, papers.train_idx, method)
    assert order.dtype == np.int64
    assert np.array_equal(np.sort(order), np.arange(papers.num_nodes))
    assert np.array_equal(order, reorder_permutation(papers.graph, papers.train_idx, method))


def test_sampled_estimate_is_deterministic(products):
    config = ReorderConfig(estimate="sampled", sample_batches=2, batch_size=64, seed=5)
    assert np.array_equal(draw_frequency(products.graph, products.train_idx, config),
                          draw_frequency(products.graph, products.train_idx, config))


@pytest.mark.parametrize("method", METHODS)
def test_reordered_dataset_is_the_same_dataset(products, method):
    renumbered = reorder_dataset(products, method)
    assert renumbered.name == products.name and renumbered.num_classes == products.num_classes
    assert_follows(products, renumbered)


def test_edge_weights_follow_their_edges():
    g = Graph.from_coo([0, 1, 2, 3, 3, 4], [1, 2, 3, 0, 4, 0], 5, edge_weight=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    order = np.array([3, 0, 4, 2, 1])
    indptr, indices, weight = permute_csr(g.indptr.numpy(), g.indices.numpy(), order, g.edge_weight.numpy())
    new = Graph(torch.from_numpy(indptr), torch.from_numpy(indices), torch.from_numpy(weight))
    ids = torch.from_numpy(order)

    def weighted(graph, ids=None):
        ei = graph.to_edge_index() if ids is None else ids[graph.to_edge_index()]
        return sorted(zip(ei[0].tolist(), ei[1].tolist(), graph.edge_weight.tolist(), strict=True))

    assert weighted(new, ids) == weighted(g)


def test_locality_order_recovers_a_shuffled_grid():
    """A 40 x 40 grid under shuffled ids: reverse Cuthill-McKee brings every edge back within a
    band of a few rows, both for a symmetric CSR and for a one-way one read with its transpose."""
    side = 40
    ids = np.arange(side * side).reshape(side, side)
    src = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    dst = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    shuffle = np.random.default_rng(0).permutation(side * side)
    from graphsys.hetero_graph import transpose_csr

    for symmetric in (True, False):
        g = Graph.from_coo(shuffle[src], shuffle[dst], side * side, symmetrize=symmetric)
        transpose = () if symmetric else tuple(t.numpy() for t in transpose_csr(g.indptr, g.indices, g.num_nodes)[:2])
        order = locality_order(g.indptr.numpy(), g.indices.numpy(), *transpose)
        assert np.array_equal(np.sort(order), np.arange(g.num_nodes))
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0])
        target = np.repeat(np.arange(g.num_nodes), np.diff(g.indptr.numpy()))
        assert np.abs(rank[g.indices.numpy()] - rank[target]).max() <= 2 * side, symmetric


# --------------------------------------------------------------------------- hot rows first
@pytest.mark.parametrize("estimate", [e.value for e in Estimate])
def test_hot_rows_get_the_smallest_ids(papers, estimate):
    config = ReorderConfig("hot-rcm", estimate=estimate, sample_batches=4, batch_size=128, hot_tiers=4)
    frequency = draw_frequency(papers.graph, papers.train_idx, config)
    order = reorder_permutation(papers.graph, papers.train_idx, config)
    n = papers.num_nodes
    top = n >> config.hot_tiers  # tier 0: the hottest 1/16
    hottest = np.argsort(-frequency, kind="stable")[:top]
    assert set(order[:top].tolist()) == set(hottest.tolist())
    # and every tier is hotter than the next
    tiers = tiers_of(frequency, config.hot_tiers)[order]
    assert np.all(np.diff(tiers) >= 0)
    hot = ReorderConfig("hot", estimate=estimate, sample_batches=4, batch_size=128)
    by_frequency = frequency[reorder_permutation(papers.graph, papers.train_idx, hot)]
    assert np.all(np.diff(by_frequency) <= 0)


def test_expected_estimate_follows_the_training_seeds(papers):
    """On a directed graph labelled on its splits only, rows near the training seeds are drawn most:
    the seeds-aware estimate covers more of a held-out epoch's draws than the out-degree."""
    from sampling import NeighborSampler

    sampler = NeighborSampler(papers.graph.indptr, papers.graph.indices, [15, 10, 5], seed=11)
    seeds = papers.train_idx[torch.randperm(papers.train_idx.numel(), generator=torch.Generator().manual_seed(2))]
    drawn = torch.cat([sampler.sample(seeds[s : s + 256]).node for s in range(0, seeds.numel(), 256)]).numpy()
    top = papers.num_nodes // 5

    def share(estimate):
        frequency = draw_frequency(papers.graph, papers.train_idx, ReorderConfig(estimate=estimate, batch_size=256))
        hot = np.zeros(papers.num_nodes, dtype=bool)
        hot[np.argsort(-frequency, kind="stable")[:top]] = True
        return hot[drawn].mean()

    assert share("expected") > share("degree")


# --------------------------------------------------------------------------- outputs in the user's ids
def test_to_original_and_back(products):
    renumbered = reorder_dataset(products, "hot-rcm")
    assert torch.equal(to_original(renumbered, renumbered.y), products.y)
    assert torch.equal(to_original(renumbered, renumbered.x), products.x)
    assert torch.equal(to_original(products, products.y), products.y)  # not renumbered: as given
    ids = torch.tensor([0, 5, 17])
    assert torch.equal(renumbered.original_ids[to_new_ids(renumbered, ids)], ids)
    with pytest.raises(ValueError, match="one row per node"):
        to_original(renumbered, renumbered.y[:-1])


def test_reordering_twice_composes(products):
    once = reorder_dataset(products, "rcm")
    twice = reorder_dataset(once, "hot")
    assert_follows(products, twice)


def test_cora_trains_the_same_and_predicts_in_original_ids(shared_data, tmp_path):
    from graphsys.train import TrainConfig, train
    from graphsys.train.inference import layerwise_inference

    root = shared_data("planetoid/cora").parent
    cora = load("cora", root)
    renumbered = load("cora", root, reorder="hot-rcm")
    assert_follows(cora, renumbered)
    config = dict(dataset="cora", root=str(root), layers=2, fanouts=(10, 10), hidden=64, batch_size=140,
                  epochs=30, lr=0.01, weight_decay=5e-3, features="cpu", graph="cpu", device="cpu", eval_every=30,
                  quiet=True)
    accuracy = {}
    for seed in (0, 1):
        plain = train(TrainConfig(**config, seed=seed))
        reordered = train(TrainConfig(**config, seed=seed, reorder="hot-rcm"))
        accuracy[seed] = (plain.scores.test, reordered.scores.test)
    mean_plain = np.mean([a for a, _ in accuracy.values()])
    mean_reordered = np.mean([b for _, b in accuracy.values()])
    assert mean_plain > 0.74 and abs(mean_plain - mean_reordered) < 0.025, accuracy
    # the same model predicts the same for every node, in the user's ids, from either numbering
    model = reordered.model.eval()
    with torch.no_grad():
        on_renumbered = layerwise_inference(model, renumbered.graph.indptr, renumbered.graph.indices, renumbered.x,
                                            device="cpu")
        on_original = layerwise_inference(model, cora.graph.indptr, cora.graph.indices, cora.x, device="cpu")
    torch.testing.assert_close(to_original(renumbered, on_renumbered), on_original, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- on disk, the CLI
def test_load_reorder_writes_once_beside_the_preset_and_reopens(tmp_path, products):
    first = load("synthetic-products", tmp_path, scale=0.002, seed=3, reorder="hot-rcm")
    target = reordered_dir(tmp_path, "synthetic-products", 0.002, 3, ReorderConfig("hot-rcm"))
    assert (target / "original_ids.npy").is_file()
    assert_follows(products, first)
    stamp = (target / "graphsys.manifest.json").stat().st_mtime_ns
    again = load("synthetic-products", tmp_path, scale=0.002, seed=3, reorder="hot-rcm")
    assert (target / "graphsys.manifest.json").stat().st_mtime_ns == stamp  # reopened, not rewritten
    assert torch.equal(again.original_ids, first.original_ids) and torch.equal(again.x, first.x)


def test_cli_reorder_writes_a_dataset_train_and_embed_take(tmp_path, capsys):
    out = tmp_path / "reordered"
    assert main(["data", "reorder", "synthetic-products", "--scale", "0.002", "--seed", "3", "--out", str(out),
                 "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "hot-rcm" and summary["nodes"] > 0
    ds = load(str(out))  # a dataset folder is a dataset name
    assert_follows(load("synthetic-products", scale=0.002, seed=3), ds)
    metrics = tmp_path / "m.jsonl"
    assert main(["train", "--dataset", str(out), "--layers", "2", "--fanouts", "5,5", "--hidden", "16",
                 "--epochs", "1", "--features", "cpu", "--graph", "cpu", "--device", "cpu", "--quiet",
                 "--metrics-out", str(metrics)]) == 0, capsys.readouterr().err
    assert json.loads(metrics.read_text().splitlines()[-1])["epoch"] == 1
    emb = tmp_path / "emb"
    assert main(["embed", "--graph", str(out), "--out", str(emb), "--dim", "8", "--epochs", "1",
                 "--quiet"]) == 0, capsys.readouterr().err
    assert np.array_equal(np.load(emb / "node_ids.npy"), ds.original_ids.numpy())


def test_cli_generate_reorder(tmp_path, capsys):
    assert main(["data", "generate", "synthetic-products", "--scale", "0.002", "--seed", "3", "--out",
                 str(tmp_path), "--reorder", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert load(summary["reordered_path"]).original_ids is not None


def test_writer_refuses_a_target_graphsys_did_not_write(tmp_path, products, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not graphsys's")
    with pytest.raises(OutputError):
        reorder_dataset(products, "rcm", foreign)
    assert (foreign / "notes.txt").read_text() == "not graphsys's"
    assert main(["data", "reorder", "synthetic-products", "--scale", "0.002", "--out", str(foreign)]) == 2
    assert "--out" in capsys.readouterr().err
    # an earlier result is replaced whole
    out = tmp_path / "ours"
    reorder_dataset(products, "rcm", out)
    again = reorder_dataset(products, "hot", out)
    assert_follows(products, again)


# --------------------------------------------------------------------------- bad input
def test_bad_input_errors(products, capsys):
    with pytest.raises(ValueError, match="method = 'fast' is not one of 'hot-rcm', 'hot', 'rcm'"):
        ReorderConfig("fast")
    with pytest.raises(ValueError, match="estimate = 'x'"):
        ReorderConfig(estimate="x")
    with pytest.raises(ValueError, match="fanouts"):
        ReorderConfig(fanouts=(15, -2))
    with pytest.raises(ValueError, match="batch_size"):
        ReorderConfig(batch_size=0)
    with pytest.raises(ValueError, match="not a permutation"):
        check_permutation([0, 0, 1], 3)
    with pytest.raises(IndexError, match="node id 3"):
        check_permutation([0, 1, 3], 3)
    with pytest.raises(ValueError, match=r"shape \[3\]"):
        check_permutation([0, 1], 3)
    with pytest.raises(TypeError, match="integer"):
        check_permutation(np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="not a permutation"):
        apply_permutation(products, np.zeros(products.num_nodes, dtype=np.int64))
    with pytest.raises(TypeError, match="NodeDataset"):
        reorder_dataset(load("synthetic-mag", scale=0.0005), "rcm")
    with pytest.raises(IndexError, match="original_ids"):
        NodeDataset(products.name, products.graph, products.x, products.y, products.train_idx, products.val_idx,
                    products.test_idx, products.num_classes, original_ids=torch.full((products.num_nodes,), -1))
    with pytest.raises(ValueError, match="method"):
        load("synthetic-products", scale=0.002, reorder="fast")
    from graphsys.train import TrainConfig

    with pytest.raises(ValueError, match="reorder = 'fast'"):
        TrainConfig(dataset="cora", reorder="fast")
    with pytest.raises(ValueError, match="task 'node'"):
        TrainConfig(dataset="cora", task="link", reorder="rcm")
    with pytest.raises(SystemExit):  # argparse refuses it, naming the flag and the choices
        main(["data", "reorder", "cora", "--out", "x", "--method", "fast"])
    assert "--method: invalid choice: 'fast'" in capsys.readouterr().err
    assert main(["data", "reorder", "cora", "--out", "x", "--fanouts", "15,x"]) == 2
    assert "--fanouts" in capsys.readouterr().err
