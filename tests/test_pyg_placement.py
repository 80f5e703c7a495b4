"""graphsys.pyg's placement: PyG's host behaviour with placement="cpu" (and without CUDA), the
GPU-centric default for host data (CSR on the GPU or pinned, features zero-copy from the user's
own tensors pinned in place, batches on the GPU).

The CPU tests run the GPU default's machinery (the device view, wrapped attributes gathered by
n_id / e_id) with the CPU sampler and unpinned wrappers, against PyG's host path; the GPU tests
check placement, equality with the explicit placement and that nothing was copied.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from torch_geometric.data import Data, HeteroData

import graphsys.pyg.loaders as loaders
import graphsys.pyg.placement as placement_mod
from graphsys.pyg import GraphsysSampler, LinkNeighborLoader, NeighborLoader
from graphsys.pyg.placement import Resolved, csr_bytes, device_view, resolve
from zerocopy import UnifiedTensor

CUDA = torch.cuda.is_available()


def _graph(num_nodes: int = 60, num_edges: int = 400, seed: int = 0, width: int = 8) -> Data:
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    data = Data(
        x=torch.randn(num_nodes, width, generator=gen),
        y=torch.randint(0, 3, (num_nodes,), generator=gen),
        train_mask=torch.rand(num_nodes, generator=gen) < 0.5,
        edge_index=edge_index,
        edge_attr=torch.randn(num_edges, 3, generator=gen),
        edge_weight=torch.rand(num_edges, generator=gen) + 0.1,
        edge_time=torch.randint(0, 100, (num_edges,), generator=gen),
        node_time=torch.randint(0, 100, (num_nodes,), generator=gen),
        graph_label=torch.tensor([7.0]),
    )
    return data


def _hetero(seed: int = 0) -> HeteroData:
    gen = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["paper"].x = torch.randn(40, 4, generator=gen)
    data["paper"].y = torch.randint(0, 3, (40,), generator=gen)
    data["author"].x = torch.randn(30, 2, generator=gen)
    data["author", "writes", "paper"].edge_index = torch.stack(
        [torch.randint(0, 30, (150,), generator=gen), torch.randint(0, 40, (150,), generator=gen)])
    data["author", "writes", "paper"].edge_attr = torch.randn(150, 2, generator=gen)
    data["paper", "cites", "paper"].edge_index = torch.randint(0, 40, (2, 200), generator=gen)
    return data


def _batches(make, seed: int = 3, count: int = 3) -> list:
    torch.manual_seed(seed)
    out = []
    for batch in make():
        out.append(batch)
        if len(out) == count:
            break
    return out


def _assert_same(left, right) -> None:
    """Two batches (Data or HeteroData) with the same tensors (compared on the CPU) and values."""
    assert type(left) is type(right)
    left_stores, right_stores = left.stores, right.stores
    assert len(left_stores) == len(right_stores)
    for a, b in zip(left_stores, right_stores, strict=True):
        assert set(a.keys()) == set(b.keys()), (sorted(a.keys()), sorted(b.keys()))
        for key in a.keys():
            va, vb = a[key], b[key]
            if isinstance(va, torch.Tensor):
                assert isinstance(vb, torch.Tensor), key
                assert torch.equal(va.cpu(), vb.cpu()), key
            else:
                assert va == vb, key


@pytest.fixture
def view_on_cpu(monkeypatch):
    """The GPU default's path with the CPU as the 'device': device view, wrapped tables, CPU sampler."""
    def fake(data, placement, *, weighted, temporal, kwargs):
        if isinstance(data, (Data, HeteroData)) and placement is None:
            return Resolved("cpu", torch.device("cpu"), dict(kwargs))
        return resolve(data, placement, weighted=weighted, temporal=temporal, kwargs=kwargs)

    monkeypatch.setattr(loaders, "resolve", fake)


# ------------------------------------------------------------------ placement="cpu" / no CUDA


@pytest.mark.skipif(CUDA, reason="the default on a machine without CUDA")
def test_default_without_cuda_is_pygs_host_behaviour():
    data = _graph()
    default = NeighborLoader(data, [3, 2], batch_size=8)
    assert default.placement == "cpu"
    explicit = lambda: NeighborLoader(data, [3, 2], batch_size=8, placement="cpu")  # noqa: E731
    for a, b in zip(_batches(lambda: NeighborLoader(data, [3, 2], batch_size=8)), _batches(explicit), strict=True):
        assert a.x.device.type == "cpu"
        _assert_same(a, b)


def test_placement_cpu_samples_on_the_host_and_keeps_every_attribute():
    data = _graph()
    loader = NeighborLoader(data, [3, 2], batch_size=8, placement="cpu")
    assert loader.placement == "cpu" and loader.node_sampler.device.type == "cpu"
    batch = next(iter(loader))
    assert batch.x.device.type == "cpu" and torch.equal(batch.x, data.x[batch.n_id])
    assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
    assert batch.graph_label.tolist() == [7.0]


@pytest.mark.skipif(CUDA, reason="checks the refusal without CUDA")
def test_gpu_placements_need_cuda():
    data = _graph()
    for word in ("cuda", "pinned"):
        with pytest.raises(ValueError, match=rf"placement='{word}' needs a CUDA device.*placement='cpu'"):
            NeighborLoader(data, [2], placement=word)


def test_bad_placement_arguments_are_named():
    data = _graph()
    with pytest.raises(ValueError, match=r"placement='gpu0'; expected None .*'cpu'.*'pinned'.*'cuda'"):
        NeighborLoader(data, [2], placement="gpu0")
    with pytest.raises(ValueError, match=r"feature_cache=1.5; expected a fraction"):
        NeighborLoader(data, [2], feature_cache=1.5)
    sampler = GraphsysSampler.from_data(data, [2])
    with pytest.raises(ValueError, match="placement and feature_cache apply to the sampler the loader builds"):
        NeighborLoader(data, [2], neighbor_sampler=sampler, placement="cpu")
    with pytest.raises(ValueError, match=r"feature_cache=0.2 needs GPU batches"):
        NeighborLoader(data, [2], feature_cache=0.2, placement="cpu")


# ------------------------------------------------------------------ the decision itself


@pytest.fixture
def fake_gpu(monkeypatch):
    """resolve() on a pretend GPU with ``free[0]`` bytes free (nothing is allocated)."""
    free = [10**12]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free[0], 2 * free[0]))
    return free


def test_resolve_puts_host_data_on_the_gpu_when_it_fits_else_pinned(fake_gpu):
    data = _graph()
    placed = resolve(data, None, weighted=False, temporal=False, kwargs={"batch_size": 4})
    assert placed.csr == "cuda:0" and placed.device == torch.device("cuda", 0)
    assert placed.loader_kwargs == {"batch_size": 4}
    need = csr_bytes(data, weighted=True, temporal=True)
    assert need == 400 * (4 + 8 + 4 + 8) + 8 * 61
    fake_gpu[0] = int(need / placement_mod.GPU_SHARE) - 1
    placed = resolve(data, None, weighted=True, temporal=True, kwargs={})
    assert placed.csr == "pinned" and placed.device == torch.device("cuda", 0)
    assert resolve(data, "pinned", weighted=False, temporal=False, kwargs={}).csr == "pinned"
    assert resolve(data, "cpu", weighted=False, temporal=False, kwargs={}).device is None


def test_resolve_drops_workers_with_a_warning_by_default_and_refuses_them_when_asked(fake_gpu):
    data = _graph()
    kwargs = {"num_workers": 2, "persistent_workers": True, "pin_memory": True, "batch_size": 4}
    with pytest.warns(UserWarning, match=r"num_workers=2 ignored: .*placement='cpu'"):
        placed = resolve(data, None, weighted=False, temporal=False, kwargs=kwargs)
    assert placed.loader_kwargs == {"batch_size": 4}
    assert kwargs["num_workers"] == 2  # the caller's dict is left alone
    with pytest.raises(ValueError, match=r"num_workers=2 with placement='cuda'.*num_workers=0.*placement='cpu'"):
        resolve(data, "cuda", weighted=False, temporal=False, kwargs=kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cpu = resolve(data, "cpu", weighted=False, temporal=False, kwargs=kwargs)
    assert cpu.loader_kwargs == kwargs


def test_resolve_leaves_stores_where_they_are(fake_gpu):
    stores = (object(), object())
    assert resolve(stores, None, weighted=False, temporal=False, kwargs={}) == Resolved("", None, {})


# ------------------------------------------------------------------ the GPU path's machinery, on the CPU


def test_device_view_wraps_the_users_tensors_without_copying_them():
    data = _graph()
    before = {k: v for k, v in data.items()}
    view = device_view(data, torch.device("cpu"), pin=False)
    for key in ("x", "y", "train_mask", "node_time", "edge_attr", "edge_weight", "edge_time"):
        assert isinstance(view[key], UnifiedTensor), key
        assert view[key].host.data_ptr() == data[key].data_ptr(), key
    assert view.edge_index.shape == (2, 0) and view.num_nodes == data.num_nodes
    assert {k: v for k, v in data.items()} == before  # the user's Data is untouched
    assert data.edge_index.shape == (2, 400)


def test_device_view_of_hetero_data():
    data = _hetero()
    view = device_view(data, torch.device("cpu"), pin=False)
    assert isinstance(view["paper"].x, UnifiedTensor) and isinstance(view["author"].x, UnifiedTensor)
    assert view["paper"].x.host.data_ptr() == data["paper"].x.data_ptr()
    assert isinstance(view["author", "writes", "paper"].edge_attr, UnifiedTensor)
    assert view["paper", "cites", "paper"].edge_index.shape == (2, 0)
    assert data["paper", "cites", "paper"].edge_index.shape == (2, 200)
    assert isinstance(data["paper"].x, torch.Tensor)


@pytest.mark.parametrize("options", [
    {},
    {"weight_attr": "edge_weight"},
    {"time_attr": "edge_time", "input_time": torch.full((60,), 50)},
    {"time_attr": "node_time"},
    {"disjoint": True},
    {"subgraph_type": "bidirectional"},
    {"subgraph_type": "induced"},
])
def test_view_path_gives_pygs_host_batches(view_on_cpu, options):
    data = _graph()

    def make(**extra):
        return lambda: NeighborLoader(data, [3, 2], batch_size=8, **options, **extra)

    viewed, host = _batches(make()), _batches(make(placement="cpu"))
    for a, b in zip(viewed, host, strict=True):
        _assert_same(a, b)
    assert torch.equal(viewed[0].x, data.x[viewed[0].n_id])


def test_view_path_hetero_and_transform(view_on_cpu):
    data = _hetero()
    seen = []

    def transform(batch):
        seen.append(type(batch["paper"].x))  # the transform sees gathered tensors, not wrappers
        return batch

    def make(**extra):
        return lambda: NeighborLoader(data, [3, 2], batch_size=6, input_nodes="paper", transform=transform, **extra)

    for a, b in zip(_batches(make()), _batches(make(placement="cpu")), strict=True):
        _assert_same(a, b)
    assert set(seen) == {torch.Tensor}


@pytest.mark.parametrize("neg_sampling", ["binary", "triplet"])
def test_view_path_link_batches(view_on_cpu, neg_sampling):
    data = _graph()

    def make(**extra):
        return lambda: LinkNeighborLoader(data, [3, 2], batch_size=16, neg_sampling=neg_sampling, **extra)

    for a, b in zip(_batches(make()), _batches(make(placement="cpu")), strict=True):
        _assert_same(a, b)


def test_user_wrapped_tables_in_a_link_loader_are_gathered():
    data = _graph()
    data.x = UnifiedTensor(data.x, pin=False)
    batch = next(iter(LinkNeighborLoader(data, [2], batch_size=4, placement="cpu")))
    assert isinstance(batch.x, torch.Tensor) and torch.equal(batch.x, data.x.host[batch.n_id])


# ------------------------------------------------------------------ on the GPU


def _host_pinned_by(loader, key: str, data: Data) -> bool:
    table = loader._source[key]
    return isinstance(table, UnifiedTensor) and table.host.data_ptr() == data[key].data_ptr() and table.is_pinned()


@pytest.mark.gpu
def test_gpu_default_batches_on_the_gpu_equal_to_the_chosen_placement_and_data_pinned_in_place():
    data = _graph(2000, 20000, width=256)  # tables of whole pages (small ones may share a page: then copied)
    loader = NeighborLoader(data, [5, 3], batch_size=64)
    assert loader.placement.startswith("cuda")
    for key in ("x", "edge_attr"):
        assert _host_pinned_by(loader, key, data), key
    assert data.x.device.type == "cpu" and data.x.is_pinned()
    default = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64))
    explicit = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64, placement=loader.placement))
    for a, b in zip(default, explicit, strict=True):
        for key in ("x", "y", "edge_index", "n_id", "e_id", "input_id", "edge_attr", "train_mask", "graph_label"):
            assert a[key].is_cuda, key
        _assert_same(a, b)
        assert torch.equal(a.x.cpu(), data.x[a.n_id.cpu()])
        assert torch.equal(a.edge_attr.cpu(), data.edge_attr[a.e_id.cpu()])


@pytest.mark.gpu
def test_gpu_default_pins_the_csr_when_it_does_not_fit(monkeypatch):
    data = _graph(2000, 20000)
    monkeypatch.setattr(placement_mod, "GPU_SHARE", 0.0)
    loader = NeighborLoader(data, [5, 3], batch_size=64)
    assert loader.placement == "pinned"
    pinned = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64))
    monkeypatch.undo()
    explicit = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64, placement="pinned"))
    for a, b in zip(pinned, explicit, strict=True):
        assert a.x.is_cuda and a.e_id.is_cuda
        _assert_same(a, b)


@pytest.mark.gpu
@pytest.mark.parametrize("options", [
    {"weight_attr": "edge_weight"},
    {"time_attr": "edge_time", "input_time": torch.full((2000,), 50)},
    {"disjoint": True},
])
def test_gpu_default_weighted_temporal_disjoint(options):
    data = _graph(2000, 20000)
    loader = NeighborLoader(data, [5, 3], batch_size=64, **options)
    sampler = loader.node_sampler.sampler
    assert sampler.device.type == "cuda"
    default = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64, **options))
    explicit = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64, placement=loader.placement, **options))
    for a, b in zip(default, explicit, strict=True):
        assert a.x.is_cuda and a.edge_index.is_cuda
        _assert_same(a, b)
    if "weight_attr" in options:
        assert (default[0].edge_weight > 0).all()
    if "disjoint" in options:
        assert default[0].batch.is_cuda


@pytest.mark.gpu
def test_gpu_default_hetero_and_link_loaders():
    hetero = _hetero()
    loader = NeighborLoader(hetero, [3, 2], batch_size=8, input_nodes="paper")
    assert loader.placement.startswith("cuda")
    batch = next(iter(loader))
    assert batch["paper"].x.is_cuda and batch["author"].x.is_cuda
    assert batch["author", "writes", "paper"].edge_index.is_cuda
    data = _graph(2000, 20000)
    default = _batches(lambda: LinkNeighborLoader(data, [3, 2], batch_size=64, neg_sampling="binary"))
    explicit = _batches(lambda: LinkNeighborLoader(data, [3, 2], batch_size=64, neg_sampling="binary",
                                                   placement=loader.placement))
    for a, b in zip(default, explicit, strict=True):
        assert a.edge_label_index.is_cuda and a.edge_label.is_cuda and a.x.is_cuda
        _assert_same(a, b)


@pytest.mark.gpu
def test_gpu_default_feature_cache_and_workers():
    data = _graph(2000, 20000)
    plain = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64))
    cached = _batches(lambda: NeighborLoader(data, [5, 3], batch_size=64, feature_cache=0.3))
    for a, b in zip(plain, cached, strict=True):
        _assert_same(a, b)
    loader = NeighborLoader(data, [5, 3], batch_size=64, feature_cache=0.3)
    assert loader._source.x.cache_stats() is not None
    with pytest.warns(UserWarning, match="num_workers=2 ignored"):
        loader = NeighborLoader(data, [5, 3], batch_size=64, num_workers=2, pin_memory=True)
    assert loader.num_workers == 0 and next(iter(loader)).x.is_cuda


def test_feature_cache_covers_node_attributes_only():
    """A Data holds edge attributes in the same store as x; the degree ranking is over nodes, so the
    cache takes the node rows and leaves edge attributes uncached (on a GPU: the same, on cuda)."""
    data = _graph(2000, 20000)
    view = Data(x=UnifiedTensor(data.x), edge_attr=UnifiedTensor(data.edge_attr), edge_index=data.edge_index,
                num_nodes=2000)
    csr = (torch.zeros(2001, dtype=torch.long), data.edge_index[0])
    placement_mod.enable_caches(view, csr, 0.3, torch.device("cpu"))
    assert view.x.cache_stats().cached_rows == 600
    assert view.edge_attr._cache is None
