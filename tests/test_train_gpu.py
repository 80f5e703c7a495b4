"""graphsys train on a GPU: every placement trains, inference on the GPU equals the CPU's, the cache serves."""
import pytest
import torch
from toy_data import toy_dataset

from graphsys.datasets import NodeDataset
from graphsys.train import TrainConfig, build_model, layerwise_inference, train
from zerocopy import UnifiedTensor

pytestmark = pytest.mark.gpu


def _dataset() -> NodeDataset:
    return toy_dataset(2000, edges_per_node=8, num_features=16, num_classes=4, num_train=1200, num_val=400)


@pytest.mark.parametrize(
    "features, graph, cache, amp",
    [("cuda", "cuda", 0.0, "none"), ("pinned", "cuda", 0.2, "none"), ("pinned", "pinned", 0.0, "bf16"),
     ("cpu", "cpu", 0.0, "none"), ("cpu", "cuda", 0.0, "none")],
)
def test_every_placement_trains(features, graph, cache, amp):
    cfg = TrainConfig("toy", layers=2, fanouts=(10, 5), hidden=32, batch_size=256, epochs=3, lr=0.01,
                      features=features, graph=graph, cache=cache, amp=amp, quiet=True)
    result = train(cfg, dataset=_dataset())
    first, last = result.history[0], result.history[-1]
    assert last.loss < first.loss
    assert result.scores.val > 0.5  # 4 classes: chance is 0.25
    assert last.peak_gpu_mib > 0 and last.compute_s > 0 and last.sample_s > 0
    if cache > 0:  # the epoch's own share of cached rows, and the misses' bytes read from host memory
        assert 0 < last.cache_hit_rate < 1 and last.host_read_mib > 0
    else:
        assert last.cache_hit_rate is None and last.host_read_mib is None


def test_gpu_inference_equals_cpu_inference():
    ds = _dataset()
    cfg = TrainConfig("toy", model="gcn", layers=2, fanouts=(5, 5), hidden=32, features="cpu", graph="cpu")
    net = build_model(cfg, 16, 4)
    on_cpu = layerwise_inference(net, ds.graph.indptr, ds.graph.indices, ds.x, device="cpu", batch_size=300)
    table = UnifiedTensor(ds.x)
    on_gpu = layerwise_inference(net.cuda(), ds.graph.indptr, ds.graph.indices, table, device="cuda",
                                 batch_size=300, embedding_device="cpu")
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-4)
    # With the GPU busy the host runs far ahead: the rows must still be read after they arrive
    # (a non-blocking device-to-host copy was read before the copy had run).
    torch.cuda._sleep(2_000_000_000)
    busy = layerwise_inference(net, ds.graph.indptr, ds.graph.indices, table, device="cuda",
                               batch_size=300, embedding_device="cpu")
    torch.testing.assert_close(busy, on_cpu, atol=1e-4, rtol=1e-4)
