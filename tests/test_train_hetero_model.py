"""HeteroGNN (R-GCN and GraphSAGE per edge type): trimming gives the untrimmed outputs for the
seeds, layer-wise inference equals a full-graph forward, and "sage" computes what PyG's
to_hetero(GraphSAGE, aggr="sum") computes."""
import pytest
import torch
from torch_geometric.nn import GraphSAGE, to_hetero

from graphsys.hetero_graph import HeteroGraph
from graphsys.loader import NodeLoader
from graphsys.train.config import ModelKind
from graphsys.train.inference import hetero_layerwise_inference
from graphsys.train.models import HeteroGNN
from sampling import NeighborSampler

SIZES = {"paper": 50, "author": 40, "field": 6}
WIDTHS = {"paper": 5, "author": 3, "field": 4}


@pytest.fixture(scope="module")
def graph() -> HeteroGraph:
    g = torch.Generator().manual_seed(11)

    def edges(src: str, dst: str, count: int) -> torch.Tensor:
        return torch.stack([torch.randint(0, SIZES[src], (count,), generator=g),
                            torch.randint(0, SIZES[dst], (count,), generator=g)])

    return HeteroGraph.from_edge_index_dict(
        {("author", "writes", "paper"): edges("author", "paper", 120),
         ("paper", "cites", "paper"): edges("paper", "paper", 160),
         ("paper", "has_topic", "field"): edges("paper", "field", 70)}, SIZES, add_reverse=True)


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(12)
    return {t: torch.randn(SIZES[t], WIDTHS[t], generator=g) for t in SIZES}


def model_of(graph, kind, layers=2, seed=0) -> HeteroGNN:
    torch.manual_seed(seed)
    return HeteroGNN(kind, graph.metadata(), WIDTHS, 8, 3, layers, dropout=0.0, target="paper").eval()


def full_edge_index(graph: HeteroGraph) -> dict:
    return {et: ei.long() for et, ei in graph.to_edge_index_dict().items()}


@pytest.mark.parametrize("kind", ["rgcn", "sage"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_trimmed_batch_outputs_equal_the_untrimmed_for_the_seeds(graph, inputs, kind, layers):
    model = model_of(graph, kind, layers)
    sampler = NeighborSampler({et: graph.csr(et)[0] for et in graph.edge_types},
                              {et: graph.csr(et)[1] for et in graph.edge_types}, [3] * layers,
                              num_nodes=graph.num_nodes_dict, seed=1)
    loader = NodeLoader(sampler, inputs, None, ("paper", torch.arange(20)), batch_size=7, shuffle=False)
    for batch in loader:
        size = batch["paper"].batch_size
        x = {t: batch[t].x for t in SIZES}
        trimmed = model(x, batch.edge_index_dict, batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict)
        full = model(x, batch.edge_index_dict)[:size]
        assert trimmed.shape == (size, 3)
        torch.testing.assert_close(trimmed, full)


@pytest.mark.parametrize("kind", ["rgcn", "sage"])
def test_layerwise_inference_equals_a_full_graph_forward(graph, inputs, kind):
    model = model_of(graph, kind, layers=2)
    expected = model(inputs, full_edge_index(graph))
    csr = {et: graph.csr(et) for et in graph.edge_types}
    got = hetero_layerwise_inference(model, csr, inputs, graph.num_nodes_dict, device="cpu", batch_size=9)
    assert got.shape == (SIZES["paper"], 3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_sage_computes_what_to_hetero_graphsage_computes(graph, inputs):
    torch.manual_seed(3)
    reference = to_hetero(GraphSAGE((-1, -1), 8, 2, 3), graph.metadata(), aggr="sum").eval()
    edge_index = full_edge_index(graph)
    expected = reference(inputs, edge_index)["paper"]
    model = model_of(graph, "sage", layers=2)
    ours = model.state_dict()
    theirs = reference.state_dict()
    for key in ours:  # the same names: convs.<layer>.<src__rel__dst>.lin_l / lin_r
        ours[key] = theirs[key]
    model.load_state_dict(ours)
    torch.testing.assert_close(model(inputs, edge_index), expected)


def test_rgcn_layer_is_self_weight_plus_relation_means(graph, inputs):
    model = model_of(graph, "rgcn", layers=1)
    edge_index = full_edge_index(graph)
    out = model(inputs, edge_index)
    expected = model.roots[0]["paper"](inputs["paper"])
    for et in model.layer_edge_types[0]:
        src, dst = edge_index[et]
        total = torch.zeros(SIZES["paper"], WIDTHS[et[0]]).index_add_(0, dst, inputs[et[0]][src])
        count = torch.bincount(dst, minlength=SIZES["paper"]).clamp(min=1).unsqueeze(1)
        expected = expected + model.convs[0]["__".join(et)].lin_l(total / count)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_a_type_the_layers_need_without_incoming_edges_is_refused():
    metadata = (["paper", "author"], [("author", "writes", "paper")])
    with pytest.raises(ValueError, match=r"node types \['author'\].*add reverse edge types"):
        HeteroGNN(ModelKind.RGCN, metadata, {"paper": 4, "author": 4}, 8, 3, 2, 0.0, "paper")
    with pytest.raises(ValueError, match="no width for node types"):
        HeteroGNN(ModelKind.RGCN, metadata, {"paper": 4}, 8, 3, 1, 0.0, "paper")
    with pytest.raises(ValueError, match="'gat'"):
        HeteroGNN(ModelKind.GAT, metadata, {"paper": 4, "author": 4}, 8, 3, 1, 0.0, "paper")
