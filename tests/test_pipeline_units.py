"""Pipelined full-graph training, in one process: config, plan, layers, and the stage schedule.

Multi-stage schedules run here as threads over an in-memory message box (same ordering as
torch.distributed point-to-point), which keeps these tests fast; tests/test_pipeline_dist.py
runs the real gloo processes.
"""
from __future__ import annotations

import json
import queue
import threading
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F

from graphsys import Graph
from graphsys.cli import main as cli_main
from graphsys.datasets.base import NodeDataset
from graphsys.pipeline import DeepGNN, PipelineConfig, train
from graphsys.pipeline.adjacency import Adjacency, spmm
from graphsys.pipeline.comm import Ledger
from graphsys.pipeline.history import History, ReadStats
from graphsys.pipeline.layers import ResidualLayer, dropout_keep
from graphsys.pipeline.partition import edge_weights, make_layout, plan_partition
from graphsys.pipeline.worker import StageWorker

NUM_FEATURES, NUM_CLASSES = 12, 4


def tiny_dataset(n: int = 240, edges: int = 900, seed: int = 0) -> NodeDataset:
    """A random undirected graph with features, labels and a split."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (edges,), generator=gen)
    dst = torch.randint(0, n, (edges,), generator=gen)
    graph = Graph.from_coo(src, dst, n, symmetrize=True, drop_self_loops=True)
    x = torch.randn(n, NUM_FEATURES, generator=gen)
    y = x[:, :NUM_CLASSES].argmax(dim=1)  # learnable from the features
    perm = torch.randperm(n, generator=gen)
    split = [perm[:48], perm[48:120], perm[120:]]
    return NodeDataset("tiny", graph, x, y, *(s.sort().values for s in split), NUM_CLASSES)


def reference(ds: NodeDataset, cfg: PipelineConfig, epoch: int = 0, dropout: float | None = None):
    """Logits and parameter gradients of the single-process model for one training pass."""
    model = DeepGNN(cfg.model, NUM_FEATURES, cfg.hidden, NUM_CLASSES, cfg.layers,
                    cfg.dropout if dropout is None else dropout, cfg.seed)
    logits = model(ds.x, ds.graph, epoch)
    loss = F.cross_entropy(logits[ds.train_idx], ds.y[ds.train_idx], reduction="sum") / ds.train_idx.numel()
    loss.backward()
    return logits.detach(), {n: p.grad for n, p in model.named_parameters()}


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "options, match",
    [
        ({"layers": 0}, "layers must be a positive int"),
        ({"chunks": 0}, "chunks must be a positive int"),
        ({"epochs": -1}, "epochs must be a non-negative int"),
        ({"stages": 9, "layers": 8}, "stages = 9 exceeds layers = 8"),
        ({"stages": 2, "warmup_epochs": 0}, "warmup_epochs must be >= 1"),
        ({"dropout": 1.0}, "dropout must lie in"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"history": "disk"}, "history must be 'device' or 'pinned'"),
        ({"device": "tpu"}, "device must be 'cpu' or 'cuda'"),
        ({"timeout_s": 0}, "timeout_s must be positive"),
        ({"model": "gat"}, "'gat' is not a valid ModelKind"),
        ({"partitioner": "metis"}, "'metis' is not a valid Partitioner"),
    ],
)
def test_config_rejects_bad_values(options, match):
    with pytest.raises(ValueError, match=match):
        PipelineConfig(**options)


def test_config_splits_layers_and_schedules_sync_epochs():
    cfg = PipelineConfig(layers=10, stages=4, warmup_epochs=2, sync_every=3)
    spans = [cfg.stage_layers(s) for s in range(4)]
    assert [layer_id for span in spans for layer_id in span] == list(range(1, 11))
    assert min(len(s) for s in spans) >= 2
    assert [cfg.is_sync_epoch(e) for e in range(8)] == [True, True, False, False, True, False, False, True]
    assert all(PipelineConfig(stages=1).is_sync_epoch(e) for e in range(5))
    with pytest.raises(IndexError, match="stage 4 is out of range"):
        cfg.stage_layers(4)


# --------------------------------------------------------------------------- plan
@pytest.mark.parametrize("parts, partitioner", [(1, "contiguous"), (3, "contiguous"), (3, "random")])
def test_layout_relabels_every_edge(parts, partitioner):
    ds = tiny_dataset()
    layout = make_layout(ds.graph, parts, partitioner, seed=1)
    n = ds.graph.num_nodes
    assert torch.equal(layout.order[layout.rank_of], torch.arange(n))
    assert layout.bounds[0] == 0 and layout.bounds[-1] == n and len(layout.bounds) == parts + 1
    old = ds.graph.to_edge_index()
    counts = layout.indptr[1:] - layout.indptr[:-1]
    new_dst = torch.repeat_interleave(torch.arange(n), counts)
    relabelled = {(int(s), int(d)) for s, d in zip(layout.order[layout.indices], layout.order[new_dst], strict=True)}
    assert relabelled == {(int(s), int(d)) for s, d in old.t()}


def test_plan_maps_every_edge_to_its_source_row():
    ds = tiny_dataset()
    layout = make_layout(ds.graph, 2, "contiguous", seed=0)
    for g in range(2):
        plan = plan_partition(layout, g, 3, "gcn")
        assert [c.start for c in plan.chunks] == sorted(c.start for c in plan.chunks)
        assert sum(c.size for c in plan.chunks) == plan.size
        for chunk in plan.chunks:
            inputs = torch.cat([
                torch.arange(chunk.start, chunk.stop) + plan.start,
                chunk.ext_ids + plan.start,
                plan.halo_nodes[chunk.halo_slots],
            ])
            lo, hi = plan.start + chunk.start, plan.start + chunk.stop
            expected = layout.indices[layout.indptr[lo] : layout.indptr[hi]]
            assert torch.equal(inputs[chunk.edge_col], expected)
            assert not bool(((chunk.ext_ids >= chunk.start) & (chunk.ext_ids < chunk.stop)).any())
        # what g receives from a peer is exactly what the peer sends to g, in the same order
        peer = 1 - g
        lo, hi = plan.recv_ranges[peer]
        sent = plan_partition(layout, peer, 3, "gcn").send_ids[g] + layout.bounds[peer]
        assert torch.equal(plan.halo_nodes[lo:hi], sent)


def test_plan_rejects_more_chunks_than_nodes():
    layout = make_layout(tiny_dataset(n=20, edges=40).graph, 1, "contiguous", seed=0)
    with pytest.raises(ValueError, match="chunks = 21 exceeds the 20 nodes"):
        plan_partition(layout, 0, 21, "gcn")


# --------------------------------------------------------------------------- layers
def test_dropout_mask_is_a_function_of_node_and_key():
    ids = torch.arange(1000)
    keep = dropout_keep(ids, 64, 0.3, key=7)
    assert abs(keep.float().mean().item() - 0.7) < 0.01
    assert torch.equal(dropout_keep(ids[500:], 64, 0.3, key=7), keep[500:])
    assert not torch.equal(dropout_keep(ids, 64, 0.3, key=8), keep)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_dropout_mask_is_the_top_24_bits_of_the_mixed_hash(p):
    """The blocked, in-place signed compare keeps exactly the entries the plain unsigned formula keeps."""
    from graphsys.pipeline.layers import _GOLDEN, _MIX1, _MIX2, CPU_MASK_BLOCK, _splitmix

    ids = torch.arange(10_000) * 7 + 11
    assert ids.numel() * 40 > 3 * CPU_MASK_BLOCK  # several blocks, the last one partial
    salt = _splitmix(torch.tensor(5, dtype=torch.int64) * _GOLDEN)
    rows = _splitmix(ids * _GOLDEN + salt)
    cols = _splitmix(torch.arange(40) * _MIX2 - salt)
    mixed = (rows[:, None] ^ cols[None, :]) * _MIX1
    expected = ((mixed >> 40) & ((1 << 24) - 1)) >= int(p * (1 << 24))
    assert torch.equal(dropout_keep(ids, 40, p, key=5), expected)
    assert dropout_keep(ids[:0], 40, p, key=5).shape == (0, 40)


def test_adjacency_product_and_its_gradient_match_dense():
    gen = torch.Generator().manual_seed(0)
    rows = torch.tensor([0, 0, 1, 2, 2, 2])
    cols = torch.tensor([1, 4, 0, 3, 3, 2])  # (2, 3) twice: summed
    weight = torch.rand(6, generator=gen, dtype=torch.float64)
    adjacency = Adjacency.from_edges(rows, cols, weight, (3, 5))
    dense = torch.zeros(3, 5, dtype=torch.float64).index_put_((rows, cols), weight, accumulate=True)
    assert adjacency.shape == (3, 5)
    torch.testing.assert_close(adjacency.transposed.to_dense(), dense.t())
    x = torch.randn(5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(spmm(adjacency, x), dense @ x)
    assert torch.autograd.gradcheck(lambda t: spmm(adjacency, t), (x,))
    none = torch.empty(0, dtype=torch.int64)  # a chunk whose nodes have no in-edges
    empty = Adjacency.from_edges(none, none, torch.empty(0, dtype=torch.float64), (3, 5))
    out = spmm(empty, x)
    out.sum().backward()
    assert torch.equal(out, torch.zeros(3, 4, dtype=torch.float64))
    assert torch.equal(x.grad, torch.zeros(5, 4, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["gcn", "sage"])
def test_layer_convolution_matches_pyg(kind):
    from torch_geometric.nn import GCNConv, SAGEConv

    ds = tiny_dataset()
    g = ds.graph
    h = torch.randn(g.num_nodes, 8)
    layer = ResidualLayer(kind, 8)
    weight, self_weight = edge_weights(g.indptr, g.indices, kind)
    row = torch.repeat_interleave(torch.arange(g.num_nodes), g.indptr[1:] - g.indptr[:-1])
    adjacency = Adjacency.from_edges(row, g.indices, weight, (g.num_nodes, g.num_nodes))
    out = layer(h, adjacency, self_weight, torch.arange(g.num_nodes), 0.0, 0)
    if kind == "gcn":
        conv = GCNConv(8, 8)
        conv.lin.weight.data.copy_(layer.lin.weight)
        conv.bias.data.copy_(layer.lin.bias)
    else:
        conv = SAGEConv(8, 8, aggr="mean")
        conv.lin_l.weight.data.copy_(layer.lin.weight)
        conv.lin_l.bias.data.copy_(layer.lin.bias)
        conv.lin_r.weight.data.copy_(layer.lin_self.weight)
    expected = h + torch.relu(layer.norm(conv(h, g.to_edge_index())))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("placement", ["device", "pinned"])
def test_history_refuses_rows_never_written(placement):
    history = History(10, 4, torch.device("cpu"), placement)
    history.write(0, torch.ones(5, 4), epoch=0)
    rows, fresh, stale, age, unwritten = history.read(torch.tensor([0, 4]), epoch=1)
    assert int(stale) == 2 and int(age) == 1 and not bool(unwritten)
    assert not bool(fresh.any()) and torch.equal(rows, torch.ones(2, 4))
    stats = ReadStats()
    stats.add(2, stale, age, unwritten)
    assert (stats.rows, stats.stale_rows, stats.max_staleness) == (2, 2, 1)
    stats.add(2, *history.read(torch.tensor([3, 7]), epoch=1)[2:])
    with pytest.raises(RuntimeError, match="never written"):
        stats.max_staleness
    history.close()
    with pytest.raises(ValueError, match="placement must be 'device' or 'pinned', got 'disk'"):
        History(10, 4, torch.device("cpu"), "disk")


def test_host_memory_setting_checks_its_argument():
    from graphsys.pipeline.host_memory import reuse_freed_host_memory

    for bad in (0, 2**31):
        with pytest.raises(ValueError, match=f"threshold_bytes must lie in 1 .. 2\\*\\*31 - 1, got {bad}"):
            reuse_freed_host_memory(bad)
    assert isinstance(reuse_freed_host_memory(), bool)


# --------------------------------------------------------------------------- threaded stages
class BoxComm:
    """In-memory stand-in for :class:`graphsys.pipeline.comm.Comm` between threads."""

    def __init__(self, rank: int, boxes: dict) -> None:
        self.rank, self.boxes, self.ledger = rank, boxes, Ledger()

    def send(self, tensor, dst, kind):
        self.boxes[(self.rank, dst, kind)].put(tensor.detach().clone())
        self.ledger.sent[kind] += tensor.numel() * tensor.element_size()

    def recv(self, shape, src, kind, dtype, device):
        out = self.boxes[(src, self.rank, kind)].get(timeout=60)
        assert tuple(out.shape) == tuple(shape)
        self.ledger.received[kind] += out.numel() * out.element_size()
        return out

    def exchange(self, sends, recvs, kind):
        for peer, tensor in sends.items():
            self.send(tensor, peer, kind)
        for peer, buf in recvs.items():
            buf.copy_(self.recv(buf.shape, peer, kind, buf.dtype, buf.device))

    def flush(self):
        pass


def run_threads(ds: NodeDataset, cfg: PipelineConfig, script) -> list[StageWorker]:
    """Build every rank's worker and run ``script(worker)`` on each in its own thread."""
    layout = make_layout(ds.graph, cfg.graph_parallel, cfg.partitioner, cfg.seed)
    boxes = defaultdict(queue.Queue)
    for src in range(cfg.world_size):
        for dst in range(cfg.world_size):
            for kind in ("activations", "gradients", "halo", "eval"):
                boxes[(src, dst, kind)]
    workers = [
        StageWorker(cfg, ds, layout, plan_partition(layout, r // cfg.stages, cfg.chunks, cfg.model), r,
                    BoxComm(r, boxes), torch.device("cpu"))
        for r in range(cfg.world_size)
    ]
    errors = []

    def body(worker):
        try:
            script(worker)
        except Exception as err:  # surfaced below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=body, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return workers


def collect(workers, ds):
    """Last-stage logits in original node order, and every parameter's gradient summed over groups."""
    logits = torch.empty(ds.graph.num_nodes, NUM_CLASSES)
    grads = defaultdict(float)
    for w in workers:
        if w.last:
            logits[w.node_ids] = torch.cat([w.seen[c] for c in sorted(w.seen)])
        for name, p in w.named_parameters().items():
            grads[name] = grads[name] + p.grad
    return logits, dict(grads)


def one_pass(epoch: int, sync: bool, backward: bool):
    def script(worker):
        state = worker.forward(epoch, train=True, sync=sync)
        worker.seen = dict(state.logits)
        if backward:
            worker.backward(state, sync)
    return script


@pytest.mark.parametrize("stages, groups, model", [(2, 1, "gcn"), (2, 2, "sage"), (1, 3, "gcn")])
def test_staleness_free_pass_equals_single_process(stages, groups, model):
    ds = tiny_dataset()
    cfg = PipelineConfig(model=model, layers=4, hidden=16, stages=stages, graph_parallel=groups, chunks=3,
                         dropout=0.3, seed=3)
    workers = run_threads(ds, cfg, one_pass(epoch=0, sync=True, backward=True))
    logits, grads = collect(workers, ds)
    ref_logits, ref_grads = reference(ds, cfg)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-5, atol=1e-6, msg=name)
    for w in workers:  # one embedding per node per stage boundary, each way
        row_bytes = w.plan.size * cfg.hidden * 4
        assert w.comm.ledger.sent["activations"] == (0 if w.last else row_bytes)
        assert w.comm.ledger.sent["gradients"] == (0 if w.first else row_bytes)
        assert (w.comm.ledger.sent["halo"] > 0) == (groups > 1)


@pytest.mark.parametrize("groups, history", [(1, "pinned"), (2, "device")])
def test_pipelined_pass_reads_history_one_epoch_old(groups, history):
    """Without a weight update between epochs, history holds exactly the current values, so a
    pipelined pass must reproduce the staleness-free one while reading stale rows."""
    ds = tiny_dataset()
    cfg = PipelineConfig(layers=4, hidden=16, stages=2, graph_parallel=groups, chunks=4, dropout=0.0,
                         history=history)

    def script(worker):
        one_pass(epoch=0, sync=True, backward=True)(worker)
        one_pass(epoch=1, sync=False, backward=True)(worker)

    workers = run_threads(ds, cfg, script)
    logits, _ = collect(workers, ds)
    ref_logits, _ = reference(ds, cfg)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    assert max(w.stats.max_staleness for w in workers) == 1
    stale = sum(w.stats.stale_rows for w in workers)
    assert 0 < stale < sum(w.stats.rows for w in workers)


# --------------------------------------------------------------------------- one process end to end
def test_single_process_training_learns_and_writes_metrics(tmp_path):
    ds = tiny_dataset()
    cfg = PipelineConfig(layers=4, hidden=16, stages=1, chunks=2, epochs=8, dropout=0.0, lr=0.02)
    out = tmp_path / "metrics.jsonl"
    result = train(cfg, ds, metrics_out=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["epoch"] for m in lines] == list(range(8))
    for key in ("epoch", "loss", "val_acc", "test_acc", "epoch_s", "comm_bytes", "max_staleness"):
        assert key in lines[0]
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert all(m["comm_bytes"] == 0 and m["max_staleness"] == 0 for m in lines)
    assert result.metrics[-1].train_acc > 0.6


def test_train_rejects_dataset_without_training_nodes():
    ds = tiny_dataset()
    empty = NodeDataset("tiny", ds.graph, ds.x, ds.y, torch.empty(0, dtype=torch.int64), ds.val_idx, ds.test_idx,
                        NUM_CLASSES)
    with pytest.raises(ValueError, match="has no training nodes"):
        train(PipelineConfig(stages=1), empty)


def test_cli_reports_bad_flags_in_one_line(capsys):
    assert cli_main(["pipeline", "--dataset", "cora", "--stages", "9", "--layers", "8"]) == 2
    assert "stages = 9 exceeds layers = 8" in capsys.readouterr().err
    assert cli_main(["pipeline", "--dataset", "nosuch", "--stages", "1"]) == 2
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.parametrize("history", ["device", "pinned"])
def test_cuda_single_process_matches_cpu(history):
    ds = tiny_dataset()
    common = dict(layers=4, hidden=16, stages=1, chunks=3, epochs=3, dropout=0.3, history=history)
    on_cpu = train(PipelineConfig(**common), ds)
    on_gpu = train(PipelineConfig(device="cuda", **common), ds)
    for a, b in zip(on_cpu.metrics, on_gpu.metrics, strict=True):
        assert abs(a.loss - b.loss) < 1e-4
        assert a.val_acc == pytest.approx(b.val_acc, abs=0.02)
