"""graphsys.loader.NodeLoader on heterogeneous graphs: HeteroData batches equal sampler + index per
type on the CPU; the pipelined GPU path with zero-copy tables per type (marked)."""
import pytest
import torch
from torch_geometric.data import HeteroData

from graphsys.hetero_graph import HeteroGraph
from graphsys.loader import NodeLoader
from sampling import NeighborSampler
from zerocopy import UnifiedTensor

SIZES = {"paper": 60, "author": 45, "field": 7}
WRITES, CITES, TOPIC = ("author", "writes", "paper"), ("paper", "cites", "paper"), ("paper", "has_topic", "field")


@pytest.fixture(scope="module")
def graph() -> HeteroGraph:
    g = torch.Generator().manual_seed(4)

    def edges(src: str, dst: str, count: int) -> torch.Tensor:
        return torch.stack([torch.randint(0, SIZES[src], (count,), generator=g),
                            torch.randint(0, SIZES[dst], (count,), generator=g)])

    return HeteroGraph.from_edge_index_dict(
        {WRITES: edges("author", "paper", 150), CITES: edges("paper", "paper", 200),
         TOPIC: edges("paper", "field", 90)}, SIZES, add_reverse=True)


@pytest.fixture(scope="module")
def tables():
    g = torch.Generator().manual_seed(5)
    x = {"paper": torch.randn(SIZES["paper"], 6, generator=g), "field": torch.randn(SIZES["field"], 3, generator=g)}
    return x, torch.randint(0, 4, (SIZES["paper"],), generator=g)


def sampler_of(graph: HeteroGraph, fanouts=(3, 2), seed: int = 0, placement: str = "cpu") -> NeighborSampler:
    g = graph.to(placement)
    indptr = {et: g.csr(et)[0] for et in g.edge_types}
    indices = {et: g.csr(et)[1] for et in g.edge_types}
    return NeighborSampler(indptr, indices, list(fanouts), num_nodes=g.num_nodes_dict, seed=seed)


def check_batch(batch, out, x, y, chunk, offset):
    assert isinstance(batch, HeteroData)
    for node_type, ids in out.node.items():
        assert torch.equal(batch[node_type].n_id.cpu(), ids.cpu())
        assert batch[node_type].num_sampled_nodes == list(out.num_sampled_nodes[node_type])
        if node_type in x:
            assert torch.equal(batch[node_type].x.cpu(), x[node_type][ids.cpu()])
        else:
            assert "x" not in batch[node_type]
    for edge_type in out.row:
        edge_index = torch.stack([out.row[edge_type], out.col[edge_type]])
        assert torch.equal(batch[edge_type].edge_index.cpu(), edge_index.cpu())
        assert torch.equal(batch[edge_type].e_id.cpu(), out.edge[edge_type].cpu())
        assert batch[edge_type].num_sampled_edges == list(out.num_sampled_edges[edge_type])
    assert batch["paper"].batch_size == chunk.numel()
    assert torch.equal(batch["paper"].y.cpu(), y[chunk])
    assert torch.equal(batch["paper"].input_id.cpu(), torch.arange(offset, offset + chunk.numel()))
    assert torch.equal(batch["paper"].n_id[: chunk.numel()].cpu(), chunk)


@pytest.mark.parametrize("prefetch,gather_group", [(0, 1), (1, 1), (1, 3)])
def test_batches_equal_sampler_plus_index_per_type(graph, tables, prefetch, gather_group):
    x, y = tables
    seeds = torch.arange(3, 50)
    loader = NodeLoader(sampler_of(graph, seed=9), x, y, ("paper", seeds), batch_size=10, shuffle=False,
                        prefetch=prefetch, gather_group=gather_group)
    reference = sampler_of(graph, seed=9)
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    for i, batch in enumerate(batches):
        chunk = seeds[10 * i : 10 * i + 10]
        check_batch(batch, reference.sample({"paper": chunk}), x, y, chunk, 10 * i)
        # what PyG's to_hetero models and trim_to_layer read
        assert set(batch.num_sampled_nodes_dict) == set(SIZES)
        assert set(batch.edge_index_dict) == set(graph.edge_types)


def test_a_mask_selects_the_seeds_and_shuffling_visits_each_once(graph, tables):
    x, y = tables
    mask = torch.zeros(SIZES["paper"], dtype=torch.bool)
    mask[::4] = True
    loader = NodeLoader(sampler_of(graph), x, y, ("paper", mask), batch_size=4, shuffle=True, seed=3)
    seen = torch.cat([batch["paper"].n_id[: batch["paper"].batch_size] for batch in loader])
    assert torch.equal(seen.sort().values, mask.nonzero().view(-1))


def test_unified_tensor_tables_give_the_same_rows(graph, tables):
    x, y = tables
    seeds = ("paper", torch.arange(30))
    plain = NodeLoader(sampler_of(graph, seed=1), x, y, seeds, batch_size=16, shuffle=False)
    unified = NodeLoader(sampler_of(graph, seed=1), {t: UnifiedTensor(v) for t, v in x.items()}, UnifiedTensor(y),
                         seeds, batch_size=16, shuffle=False)
    for a, b in zip(plain, unified, strict=True):
        for node_type in x:
            assert torch.equal(a[node_type].x, b[node_type].x)
        assert torch.equal(a["paper"].y, b["paper"].y)


def test_bad_input_is_named(graph, tables):
    x, y = tables
    sampler = sampler_of(graph)
    with pytest.raises(TypeError, match=r"\(node_type, ids_or_mask\) pair"):
        NodeLoader(sampler, x, y, torch.arange(4), batch_size=2)
    with pytest.raises(ValueError, match="'venue'"):
        NodeLoader(sampler, x, y, ("venue", torch.arange(4)), batch_size=2)
    with pytest.raises(TypeError, match="features must be a dict"):
        NodeLoader(sampler, x["paper"], y, ("paper", torch.arange(4)), batch_size=2)
    with pytest.raises(ValueError, match=r"features\['author'\] has 3 rows but node type 'author' has 45"):
        NodeLoader(sampler, {"author": torch.zeros(3, 2)}, y, ("paper", torch.arange(4)), batch_size=2)
    with pytest.raises(ValueError, match="labels has 5 rows but node type 'paper' has 60 nodes"):
        NodeLoader(sampler, x, y[:5], ("paper", torch.arange(4)), batch_size=2)
    with pytest.raises(IndexError, match="60"):
        NodeLoader(sampler, x, y, ("paper", torch.tensor([60])), batch_size=2)


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@pytest.mark.parametrize("prefetch,gather_group", [(0, 1), (1, 1), (1, 4)])
def test_gpu_batches_equal_sampler_plus_index_per_type(graph, tables, placement, prefetch, gather_group):
    x, y = tables
    features = {t: UnifiedTensor(v) for t, v in x.items()}
    seeds = torch.arange(0, SIZES["paper"], 2)
    loader = NodeLoader(sampler_of(graph, seed=5, placement=placement), features, y.cuda(), ("paper", seeds),
                        batch_size=6, shuffle=False, prefetch=prefetch, gather_group=gather_group)
    reference = sampler_of(graph, seed=5, placement=placement)
    for _ in range(2):
        for i, batch in enumerate(loader):
            chunk = seeds[6 * i : 6 * i + 6]
            assert batch["paper"].x.is_cuda and batch["paper"].y.is_cuda
            check_batch(batch, reference.sample({"paper": chunk.cuda()}), x, y, chunk, 6 * i)
    timings = loader.timings()
    assert timings.batches == 2 * len(loader) and timings.gather_s > 0
    for table in features.values():
        table.close()
