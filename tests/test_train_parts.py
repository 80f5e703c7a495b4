"""graphsys.train parts: layer-wise inference equals a full-graph forward, scoring, checkpoints, seed shards."""
import numpy as np
import pytest
import torch

from graphsys import Graph
from graphsys.io import CorruptFileError, atomic_file
from graphsys.train import Amp, Scorer, TrainConfig, build_model, layerwise_inference, load_checkpoint, save_checkpoint
from graphsys.train.checkpoint import CHECKPOINT_KIND
from graphsys.train.distributed import DistContext, shard_seeds


def _graph(num_nodes=300, num_edges=1500, seed=0, self_loops=True):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)
    g = Graph.from_coo(src, dst, num_nodes, symmetrize=True)
    if self_loops:  # a few self loops: GCN must replace them, as add_remaining_self_loops does
        loops = np.arange(0, num_nodes, 7)
        g = Graph.from_coo(np.concatenate([g.indices.numpy(), loops]),
                           np.concatenate([g.to_edge_index()[1].numpy(), loops]), num_nodes)
    return g


@pytest.mark.parametrize("model", ["sage", "gcn", "gat"])
def test_layerwise_inference_equals_full_graph_forward(model):
    g = _graph()
    x = torch.randn(g.num_nodes, 12, generator=torch.Generator().manual_seed(1))
    cfg = TrainConfig("toy", model=model, layers=3, fanouts=(4, 4, 4), hidden=16, heads=2, features="cpu",
                      graph="cpu")
    net = build_model(cfg, 12, 5).eval()
    expected = net(x, g.to_edge_index())
    got = layerwise_inference(net, g.indptr, g.indices, x, device="cpu", batch_size=37)
    assert got.shape == (g.num_nodes, 5)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert not net.training


@pytest.mark.parametrize("model", ["sage", "gat"])
@pytest.mark.parametrize("layers", [2, 3])
def test_destination_trim_matches_pyg_trimming_on_a_sampled_batch(model, layers):
    """Seed outputs and every gradient equal those of the plain PyG model with PyG's own trimming."""
    from torch_geometric.nn.models.basic_gnn import BasicGNN
    from torch_geometric.utils._trim_to_layer import TrimToLayer

    from graphsys.train.models import DestinationTrim
    from sampling import NeighborSampler

    g = _graph(num_nodes=500, num_edges=4000, self_loops=False)
    x = torch.randn(g.num_nodes, 12, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 5, (g.num_nodes,), generator=torch.Generator().manual_seed(3))
    cfg = TrainConfig("toy", model=model, layers=layers, fanouts=(5,) * layers, hidden=16, heads=2, dropout=0.0,
                      features="cpu", graph="cpu")
    ours = build_model(cfg, 12, 5)
    plain = build_model(cfg, 12, 5)
    plain._trim = TrimToLayer()
    assert isinstance(ours, BasicGNN) and isinstance(ours._trim, DestinationTrim)
    seeds = torch.arange(0, 500, 9)
    out = NeighborSampler(g.indptr, g.indices, [5] * layers, seed=0).sample(seeds)
    edge_index = torch.stack([out.row, out.col])
    hops = dict(num_sampled_nodes_per_hop=list(out.num_sampled_nodes),
                num_sampled_edges_per_hop=list(out.num_sampled_edges))
    got = ours(x[out.node], edge_index, **hops)
    expected = plain(x[out.node], edge_index, **hops)
    assert got.shape[0] == seeds.numel() < expected.shape[0]
    torch.testing.assert_close(got, expected[: seeds.numel()], atol=1e-5, rtol=1e-4)
    torch.nn.functional.cross_entropy(got, y[seeds]).backward()
    torch.nn.functional.cross_entropy(expected[: seeds.numel()], y[seeds]).backward()
    for (name, a), b in zip(ours.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)
    assert set(ours.state_dict()) == set(plain.state_dict())


def test_destination_trim_refuses_a_batch_with_fewer_hops_than_layers():
    from sampling import NeighborSampler

    g = _graph(self_loops=False)
    net = build_model(TrainConfig("toy", layers=3, fanouts=(4, 4, 4), hidden=8, features="cpu", graph="cpu"), 4, 3)
    out = NeighborSampler(g.indptr, g.indices, [4, 4], seed=0).sample(torch.arange(10))
    with pytest.raises(ValueError, match="layer 2 of the model needs a batch of at least 3 hops, but the batch has 2"):
        net(torch.zeros(out.node.numel(), 4), torch.stack([out.row, out.col]),
            num_sampled_nodes_per_hop=list(out.num_sampled_nodes),
            num_sampled_edges_per_hop=list(out.num_sampled_edges))


def test_trim_destinations_refuses_models_it_would_change():
    from torch_geometric.nn import GCN, GraphSAGE

    from graphsys.train import trim_destinations

    with pytest.raises(ValueError, match="needs SAGEConv or GATConv layers, got GCNConv"):
        trim_destinations(GCN(4, 8, 2, 3))
    with pytest.raises(ValueError, match="without jumping knowledge, got jk='cat'"):
        trim_destinations(GraphSAGE(4, 8, 2, 3, jk="cat"))
    with pytest.raises(ValueError, match="without normalization layers, got BatchNorm"):
        trim_destinations(GraphSAGE(4, 8, 2, 3, norm="batch_norm"))
    with pytest.raises(ValueError, match="takes a torch_geometric BasicGNN"):
        trim_destinations(torch.nn.Linear(4, 3))


def test_optimizer_is_adam_with_the_config_and_unfused_on_a_cpu():
    from graphsys.train.models import build_optimizer

    cfg = TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=8, lr=0.02, weight_decay=1e-4, features="cpu",
                      graph="cpu")
    opt = build_optimizer(cfg, build_model(cfg, 4, 3))
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["lr"] == 0.02 and opt.defaults["weight_decay"] == 1e-4 and not opt.defaults["fused"]


def test_layerwise_inference_bf16_is_close():
    g = _graph(self_loops=False)
    x = torch.randn(g.num_nodes, 12)
    net = build_model(TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=16, features="cpu", graph="cpu"), 12, 5)
    exact = layerwise_inference(net, g.indptr, g.indices, x, device="cpu")
    half = layerwise_inference(net, g.indptr, g.indices, x, device="cpu", amp=Amp.BF16)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, exact, atol=0.1, rtol=0.05)


def test_layerwise_inference_rejects_bad_batch_size():
    g = _graph()
    net = build_model(TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=8, features="cpu", graph="cpu"), 4, 3)
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        layerwise_inference(net, g.indptr, g.indices, torch.zeros(g.num_nodes, 4), device="cpu", batch_size=0)


def test_layerwise_inference_refuses_jumping_knowledge():
    from torch_geometric.nn import GraphSAGE

    g = _graph()
    net = GraphSAGE(4, 8, 2, 3, jk="cat")
    with pytest.raises(ValueError, match="without jumping knowledge, got jk='cat'"):
        layerwise_inference(net, g.indptr, g.indices, torch.zeros(g.num_nodes, 4), device="cpu")


def test_training_refuses_datasets_without_features_labels_or_split(tmp_path):
    from graphsys.datasets import NodeDataset
    from graphsys.train import train

    g = _graph(num_nodes=20, num_edges=40)
    empty = torch.empty(0, dtype=torch.int64)
    y = torch.zeros(20, dtype=torch.int64)
    cfg = TrainConfig("toy", layers=1, fanouts=(2,), features="cpu", graph="cpu", epochs=1, quiet=True)
    featureless = NodeDataset("toy", g, None, y, torch.arange(5), empty, empty, 1)
    with pytest.raises(ValueError, match="'toy' has no node features"):
        train(cfg, dataset=featureless)
    unsplit = NodeDataset("toy", g, torch.zeros(20, 3), y, empty, empty, empty, 1)
    with pytest.raises(ValueError, match="'toy' has no labels or no training split"):
        train(cfg, dataset=unsplit)


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    cfg = TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=8, features="cpu", graph="cpu", seed=3)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a, b = build_model(cfg, 4, 3), build_model(cfg, 4, 3)
    assert torch.rand(1) == before
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="in_channels and out_channels must be positive, got 0 and 3"):
        build_model(cfg, 0, 3)


def test_scorer_accuracy_and_micro_f1():
    out = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    scorer = Scorer("cora", multilabel=False)
    assert scorer.metric == "acc"
    s = scorer.scores(out, torch.tensor([0, 0, 0]), torch.tensor([0]), torch.tensor([1]), torch.tensor([0, 1, 2]))
    assert (s.train, s.val) == (1.0, 0.0) and s.test == pytest.approx(2 / 3)
    multi = Scorer("blogcatalog", multilabel=True)
    assert multi.metric == "micro_f1"
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    # predicted positives: (0,0), (1,1), (2,0), (2,1); true: (0,0), (1,0), (1,1) -> tp 2, 2*2/(4+3)
    assert multi.score(out - 0.5, y, torch.arange(3)) == pytest.approx(4 / 7)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    cfg = TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=8, features="cpu", graph="cpu")
    net = build_model(cfg, 4, 3)
    opt = torch.optim.Adam(net.parameters())
    path = tmp_path / "run" / "ckpt.pt"
    save_checkpoint(path, epoch=3, model=net, optimizer=opt, fingerprint=cfg.fingerprint(), history=[{"epoch": 3}])
    ckpt = load_checkpoint(path, fingerprint=cfg.fingerprint())
    assert ckpt.epoch == 3 and ckpt.history == [{"epoch": 3}]
    assert all(torch.equal(ckpt.model[k], v) for k, v in net.state_dict().items())
    assert sorted(p.name for p in path.parent.iterdir()) == [".ckpt.pt.graphsys.json", "ckpt.pt"]  # no temporary
    other = TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=8, features="cpu", graph="cpu", lr=0.1)
    with pytest.raises(ValueError, match=r"other settings \(lr: checkpoint 0.003, now 0.1\)"):
        load_checkpoint(path, fingerprint=other.fingerprint())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "foreign.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptFileError, match="foreign.pt has no .foreign.pt.graphsys.json beside it"):
        load_checkpoint(tmp_path / "foreign.pt")
    with atomic_file(tmp_path / "junk.pt", CHECKPOINT_KIND) as tmp:
        tmp.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")
    with atomic_file(tmp_path / "other.pt", CHECKPOINT_KIND) as tmp:
        torch.save({"something": 1}, tmp)
    with pytest.raises(ValueError, match="is not a graphsys training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_shard_seeds_split_evenly_and_deterministically():
    seeds = torch.arange(100, 111)
    shards = [shard_seeds(seeds, epoch=2, seed=5, ctx=DistContext(rank=r, world_size=3)) for r in range(3)]
    assert [s.numel() for s in shards] == [4, 4, 4]  # 11 seeds, padded to 12 by wrapping
    assert set(torch.cat(shards).tolist()) == set(seeds.tolist())
    again = shard_seeds(seeds, epoch=2, seed=5, ctx=DistContext(rank=1, world_size=3))
    assert torch.equal(again, shards[1])
    assert not torch.equal(shard_seeds(seeds, epoch=3, seed=5, ctx=DistContext()),
                           shard_seeds(seeds, epoch=2, seed=5, ctx=DistContext()))


def test_shard_seeds_with_fewer_seeds_than_ranks_still_gives_every_rank_one():
    # wrapping around once left ranks 6 and 7 without seeds, so DDP would wait on them forever
    seeds = torch.tensor([4, 9, 7])
    shards = [shard_seeds(seeds, epoch=1, seed=0, ctx=DistContext(rank=r, world_size=8)) for r in range(8)]
    assert [s.numel() for s in shards] == [1] * 8
    assert set(torch.cat(shards).tolist()) == {4, 7, 9}


def test_half_precision_table_is_widened_after_the_gather():
    g = _graph(self_loops=False)
    x = torch.randn(g.num_nodes, 12).half()
    net = build_model(TrainConfig("toy", layers=2, fanouts=(4, 4), hidden=16, features="cpu", graph="cpu"), 12, 5)
    got = layerwise_inference(net, g.indptr, g.indices, x, device="cpu", batch_size=50)
    expected = layerwise_inference(net, g.indptr, g.indices, x.float(), device="cpu", batch_size=50)
    assert torch.equal(got, expected)


def test_cache_budget_and_single_process_sharing():
    from graphsys.train.features import cache_budget_bytes, place_features, share_across_ranks

    x = torch.zeros(10, 4)
    assert cache_budget_bytes(x, 0.2) == 2 * 16 + 4 * 10  # two cached rows plus a slot per row
    assert share_across_ranks(x, DistContext()) is x  # one process: nothing to share
    assert place_features(x, "cpu", device=torch.device("cpu")) is x


def test_host_batches_are_prepared_on_a_thread_and_moved():
    """A CPU sampler feeding another device: batches come from the host thread, in order, moved."""
    from graphsys.loader import NodeLoader
    from graphsys.train.pipeline import EpochBatches
    from sampling import NeighborSampler

    g = _graph(self_loops=False)
    x, y = torch.randn(g.num_nodes, 4), torch.arange(g.num_nodes)

    def loader():
        return NodeLoader(NeighborSampler(g.indptr, g.indices, [3, 2], seed=1), x, y, torch.arange(100), 32,
                          shuffle=False)

    direct = list(loader())
    moved = list(EpochBatches(loader(), torch.device("meta")))
    assert [b.batch_size for b in moved] == [b.batch_size for b in direct] == [32, 32, 32, 4]
    for a, b in zip(direct, moved, strict=True):
        assert b.x.device.type == "meta" and b.x.shape == a.x.shape and b.edge_index.shape == a.edge_index.shape


def test_cache_counts_sum_the_cached_tables_only():
    from graphsys.train.features import cache_counts
    from zerocopy import UnifiedTensor

    plain, cached = UnifiedTensor(torch.randn(100, 4)), UnifiedTensor(torch.randn(50, 8, dtype=torch.float64))
    assert cache_counts({"a": plain, "b": torch.zeros(3, 2)}) is None
    cached.enable_cache(4 * 50 + 10 * 64, torch.arange(50.0), device="cpu")  # rows 40..49 cached
    cached[torch.tensor([45, 46, 1, 2, 3])]
    assert cache_counts({"a": plain, "b": cached}) == (2, 3, 3 * 64)
    assert cache_counts(cached) == (2, 3, 3 * 64)
