import json
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data, HeteroData

from graphsys import Graph, HeteroGraph
from graphsys.hetero_graph import HETERO_GRAPH_KIND, HOMOGENEOUS_EDGE_TYPE, HOMOGENEOUS_NODE_TYPE
from graphsys.io import MANIFEST, CorruptFileError, OutputError, atomic_dir
from zerocopy.placement import Placement, placement_of

WRITES = ("author", "writes", "paper")
CITES = ("paper", "cites", "paper")
ABOUT = ("paper", "about", "topic")


def random_edge_index(num_src, num_dst, num_edges, seed):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([rng.integers(0, num_src, num_edges), rng.integers(0, num_dst, num_edges)]))


def multiset(edge_index):
    return Counter(map(tuple, edge_index.t().tolist()))


def small_edges():
    return {
        WRITES: random_edge_index(30, 50, 200, seed=1),
        CITES: random_edge_index(50, 50, 300, seed=2),
        ABOUT: random_edge_index(50, 7, 80, seed=3),
    }


COUNTS = {"author": 30, "paper": 50, "topic": 7}


def test_edge_index_dict_round_trip_keeps_every_types_multiset_in_one_csr_each():
    edges = small_edges()
    g = HeteroGraph.from_edge_index_dict(edges, COUNTS)
    assert g.node_types == ["author", "paper", "topic"] and g.edge_types == [WRITES, CITES, ABOUT]
    assert g.metadata() == (g.node_types, g.edge_types)
    assert g.num_nodes_dict == COUNTS and g.num_nodes("topic") == 7
    assert g.num_edges_dict == {WRITES: 200, CITES: 300, ABOUT: 80} and g.num_edges(list(ABOUT)) == 80
    back = g.to_edge_index_dict()
    for edge_type, edge_index in edges.items():
        assert back[edge_type].dtype == torch.int64
        assert multiset(back[edge_type]) == multiset(edge_index)
        indptr, indices = g.csr(edge_type)
        assert indptr.dtype == torch.int64 and indices.dtype == torch.int32
        assert indptr.numel() == COUNTS[edge_type[2]] + 1  # one row per target node
        for v in range(COUNTS[edge_type[2]]):  # rows hold source ids, sorted
            row = indices[indptr[v]:indptr[v + 1]]
            assert torch.equal(row, row.sort().values)
        assert g.edge_weight(edge_type) is None


def test_csr_rows_are_the_targets_and_hold_source_ids():
    g = HeteroGraph.from_edge_index_dict({ABOUT: torch.tensor([[4, 0, 2], [1, 1, 0]])}, {"paper": 5, "topic": 3})
    indptr, indices = g.csr()  # the only edge type may be left out
    assert indptr.tolist() == [0, 1, 3, 3] and indices.tolist() == [2, 0, 4]


def test_counts_inferred_per_node_type_and_int64_ids_past_int32():
    g = HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0, 4], [2, 0]]), ABOUT: torch.tensor([[1], [6]])})
    assert g.num_nodes_dict == {"author": 5, "paper": 3, "topic": 7}  # paper: max over both types + 1
    g = HeteroGraph.from_edge_index_dict({("big", "to", "small"): torch.tensor([[2**31 + 5], [1]]),
                                          ("small", "to", "small"): torch.tensor([[0], [1]])},
                                         {"big": 2**31 + 6, "small": 3})
    assert g.csr(("big", "to", "small"))[1].dtype == torch.int64
    assert g.csr(("small", "to", "small"))[1].dtype == torch.int32
    assert g.to_edge_index_dict()[("big", "to", "small")].tolist() == [[2**31 + 5], [1]]


def test_from_pyg_reads_node_counts_and_edge_index_per_type():
    data = HeteroData()
    data["author"].num_nodes = 30
    data["paper"].x = torch.zeros(50, 4)
    data["topic"].num_nodes = 9  # more topics than any edge reaches
    for edge_type, edge_index in small_edges().items():
        data[edge_type].edge_index = edge_index
    g = HeteroGraph.from_pyg(data)
    assert g.num_nodes_dict == {"author": 30, "paper": 50, "topic": 9}
    assert g.edge_types == data.edge_types
    for edge_type, edge_index in g.to_edge_index_dict().items():
        assert multiset(edge_index) == multiset(data[edge_type].edge_index)
    with pytest.raises(TypeError, match="must be a torch_geometric.data.HeteroData, got Data"):
        HeteroGraph.from_pyg(Data(edge_index=torch.tensor([[0], [1]])))
    data["paper", "new", "paper"].edge_attr = torch.zeros(3)
    with pytest.raises(ValueError, match=r"data\[\('paper', 'new', 'paper'\)\] has no edge_index"):
        HeteroGraph.from_pyg(data)


def test_add_reverse_matches_pyg_to_undirected():
    data = HeteroData()
    data["author"].num_nodes = 30
    data["paper"].num_nodes = 50
    data["topic"].num_nodes = 7
    edges = small_edges()
    edges[CITES] = torch.cat([edges[CITES], torch.tensor([[3, 3, 4], [3, 5, 4]])], dim=1)  # self-loops, repeats
    for edge_type, edge_index in edges.items():
        data[edge_type].edge_index = edge_index
    g = HeteroGraph.from_pyg(data, add_reverse=True)
    expected = T.ToUndirected()(data.clone())
    assert g.edge_types == expected.edge_types  # reverse types listed after the given ones, as PyG adds them
    ours = g.to_edge_index_dict()
    for edge_type in expected.edge_types:
        assert set(multiset(ours[edge_type])) == set(multiset(expected[edge_type].edge_index)), edge_type
    # a reverse type of two node types holds every edge once, reversed, as PyG's; a type to itself is deduplicated
    assert multiset(ours[("paper", "rev_writes", "author")]) == multiset(edges[WRITES].flip(0))
    assert g.num_edges(CITES) == expected[CITES].edge_index.size(1)


def test_add_reverse_carries_weights_and_refuses_a_reverse_type_that_exists():
    edges = {WRITES: torch.tensor([[0, 1], [1, 1]]), CITES: torch.tensor([[0, 1], [1, 0]])}
    weights = {WRITES: torch.tensor([2.0, 3.0]), CITES: torch.tensor([1.0, 5.0])}
    g = HeteroGraph.from_edge_index_dict(edges, {"author": 2, "paper": 2}, edge_weight_dict=weights, add_reverse=True)
    rev = ("paper", "rev_writes", "author")
    pairs = dict(zip(map(tuple, g.to_edge_index_dict()[rev].t().tolist()), g.edge_weight(rev).tolist(), strict=True))
    assert pairs == {(1, 0): 2.0, (1, 1): 3.0}
    assert g.edge_weight(CITES).tolist() == [6.0, 6.0]  # 1 -> 0 and 0 -> 1 merged: the weights added, as PyG
    edges[rev] = torch.tensor([[0], [0]])
    with pytest.raises(ValueError, match=r"would add edge type \('paper', 'rev_writes', 'author'\) for "
                                         r"\('author', 'writes', 'paper'\), but the graph already has it"):
        HeteroGraph.from_edge_index_dict(edges, add_reverse=True)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_one_type_case_is_graph(weighted):
    edge_index = random_edge_index(40, 40, 300, seed=4)
    weight = torch.rand(300) if weighted else None
    graph = Graph.from_edge_index(edge_index, 40, edge_weight=weight, dedup=True)
    h = HeteroGraph.from_edge_index_dict({HOMOGENEOUS_EDGE_TYPE: edge_index}, {HOMOGENEOUS_NODE_TYPE: 40},
                                         edge_weight_dict={HOMOGENEOUS_EDGE_TYPE: weight} if weighted else None,
                                         dedup=True)
    indptr, indices = h.csr(HOMOGENEOUS_EDGE_TYPE)
    assert torch.equal(indptr, graph.indptr) and torch.equal(indices, graph.indices)
    assert indices.dtype == graph.indices.dtype
    if weighted:
        assert torch.equal(h.edge_weight(), graph.edge_weight)
    # symmetrize is add_reverse's one-type case
    assert torch.equal(HeteroGraph.from_edge_index_dict({HOMOGENEOUS_EDGE_TYPE: edge_index}, add_reverse=True).csr()[1],
                       Graph.from_edge_index(edge_index, symmetrize=True).indices)
    # from_graph / to_graph share the arrays
    wrapped = HeteroGraph.from_graph(graph)
    assert wrapped.node_types == ["_N"] and wrapped.edge_types == [("_N", "_E", "_N")]
    assert wrapped.csr()[1] is graph.indices and wrapped.num_nodes() == 40
    back = wrapped.to_graph()
    assert back.indptr is graph.indptr and back.indices is graph.indices and back.edge_weight is graph.edge_weight
    assert torch.equal(wrapped.to_edge_index_dict()[HOMOGENEOUS_EDGE_TYPE], graph.to_edge_index())
    with pytest.raises(TypeError, match="graph must be a graphsys.Graph, got HeteroGraph"):
        HeteroGraph.from_graph(wrapped)


def test_to_graph_and_lookups_name_the_types():
    g = HeteroGraph.from_edge_index_dict(small_edges(), COUNTS)
    with pytest.raises(ValueError, match=r"to_graph needs exactly one node type and one edge type; this graph has "
                                         r"node types \['author', 'paper', 'topic'\] and edge types \[\('author'"):
        g.to_graph()
    with pytest.raises(KeyError, match=r"'venue' is not a node type of this graph; node types: \['author'"):
        g.num_nodes("venue")
    with pytest.raises(KeyError, match=r"\('paper', 'writes', 'author'\) is not an edge type of this graph; "
                                       r"edge types: \[\('author', 'writes', 'paper'\)"):
        g.csr(("paper", "writes", "author"))
    with pytest.raises(ValueError, match=r"this graph has edge types \[.*\]; name one"):
        g.num_edges()
    with pytest.raises(ValueError, match=r"this graph has node types \[.*\]; name one"):
        g.num_nodes()
    with pytest.raises(TypeError, match="edge_type must be an edge type .* got 'writes'"):
        g.edge_weight("writes")
    text = repr(g)
    assert text.startswith("HeteroGraph(num_nodes={'author': 30, 'paper': 50, 'topic': 7}, num_edges={")
    assert "placement=cpu" in text


def test_ids_out_of_range_name_the_edge_type_side_position_and_value():
    counts = {"author": 3, "paper": 5}
    with pytest.raises(IndexError, match=r"edge_index_dict\[\('author', 'writes', 'paper'\)\]\[0\]\[1\] = 3 is out of "
                                         r"range for num_nodes_dict\['author'\] = 3 \(row 0 holds the source ids, "
                                         r"of node type 'author'\)"):
        HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0, 3], [4, 4]])}, counts)
    with pytest.raises(IndexError, match=r"edge_index_dict\[\('author', 'writes', 'paper'\)\]\[1\]\[0\] = 5 is out of "
                                         r"range for num_nodes_dict\['paper'\] = 5 \(row 1 holds the target ids"):
        HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0, 2], [5, 4]])}, counts)
    with pytest.raises(IndexError, match=r"\[1\]\[1\] = -2 is a negative node id; node ids must lie in \[0, 5\) "
                                         r"\(row 1 holds the target ids, of node type 'paper'\)"):
        HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0, 2], [1, -2]])}, counts)


def test_malformed_input_is_refused_with_the_argument_value_and_expectation():
    ok = torch.tensor([[0], [1]])
    with pytest.raises(TypeError, match=r"edge_index_dict\[\('author', 'writes', 'paper'\)\]\[0\] must hold integer "
                                        r"node ids, got dtype torch.float32"):
        HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0.0], [1.0]])})
    with pytest.raises(TypeError, match="must hold integer node ids, got dtype bool"):
        HeteroGraph.from_edge_index_dict({WRITES: np.array([[True], [False]])})
    with pytest.raises(ValueError, match=r"edge_index_dict\[\('author', 'writes', 'paper'\)\] must have shape "
                                         r"\[2, E\], got \[3, 2\]"):
        HeteroGraph.from_edge_index_dict({WRITES: torch.zeros(3, 2, dtype=torch.long)})
    with pytest.raises(TypeError, match="edge_index_dict key 'writes' must be an edge type"):
        HeteroGraph.from_edge_index_dict({"writes": ok})
    with pytest.raises(ValueError, match=r"got \('author', 'paper'\) of 2 parts"):
        HeteroGraph.from_edge_index_dict({("author", "paper"): ok})
    with pytest.raises(TypeError, match="edge_index_dict must be a dict, got list"):
        HeteroGraph.from_edge_index_dict([ok])
    with pytest.raises(ValueError, match=r"edge_weight_dict\[\('author', 'writes', 'paper'\)\]\[1\] = nan is not "
                                         "finite"):
        HeteroGraph.from_edge_index_dict({WRITES: torch.tensor([[0, 1], [1, 0]])},
                                         edge_weight_dict={WRITES: torch.tensor([1.0, float("nan")])})
    with pytest.raises(ValueError, match=r"edge_weight_dict\[\('author', 'writes', 'paper'\)\]\[0\] = inf"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, edge_weight_dict={WRITES: [float("inf")]})
    with pytest.raises(ValueError, match=r"edge_weight_dict\[\('author', 'writes', 'paper'\)\] has shape \(2,\) but "
                                         "there are 1 edges"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, edge_weight_dict={WRITES: [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"edge_weight_dict has edge type \('paper', 'cites', 'paper'\), which "
                                         "edge_index_dict does not"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, edge_weight_dict={CITES: [1.0]})
    with pytest.raises(TypeError, match="add_reverse must be True or False, got 'yes'"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, add_reverse="yes")
    with pytest.raises(TypeError, match="dedup must be True or False, got 1"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, dedup=1)
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match=r"num_nodes_dict\['paper'\] must be a non-negative int"):
            HeteroGraph.from_edge_index_dict({WRITES: ok}, {"author": 1, "paper": bad})
    with pytest.raises(TypeError, match="num_nodes_dict key 3 must be a node type name"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, {3: 1})


def test_node_types_must_be_known_and_countable():
    ok = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match=r"edge type \('author', 'writes', 'paper'\) names target node type 'paper', "
                                         r"which num_nodes_dict does not have \(node types: \['author'\]\)"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, {"author": 2})
    # a None count is inferred from the edges; a type with no edges cannot be counted
    g = HeteroGraph.from_edge_index_dict({WRITES: ok}, {"author": None, "paper": 4, "venue": 0})
    assert g.num_nodes_dict == {"author": 1, "paper": 4, "venue": 0}
    with pytest.raises(ValueError, match=r"num_nodes_dict\['venue'\] is None and no edge type has 'venue' nodes to "
                                         "count; give its node count"):
        HeteroGraph.from_edge_index_dict({WRITES: ok}, {"author": 2, "paper": 2, "venue": None})
    data = HeteroData()
    data["venue"].y = torch.zeros(3)  # PyG cannot count these nodes (and says so)
    data[WRITES].edge_index = ok
    with pytest.warns(UserWarning, match="Unable to accurately infer 'num_nodes'"):
        with pytest.raises(ValueError, match=r"set data\['venue'\].num_nodes"):
            HeteroGraph.from_pyg(data)


def test_constructor_checks_each_csr_against_its_node_types():
    counts = {"author": 2, "paper": 3}
    indptr, indices = torch.tensor([0, 1, 1, 2]), torch.tensor([1, 0], dtype=torch.int32)
    g = HeteroGraph(counts, {WRITES: (indptr, indices)}, {WRITES: torch.ones(2)})
    assert g.csr(WRITES)[0] is indptr and g.num_edges() == 2
    with pytest.raises(IndexError, match=r"csr_dict\[\('author', 'writes', 'paper'\)\]: indices holds node id 2, "
                                         r"outside \[0, 2\) for a CSR of 2 source nodes"):
        HeteroGraph(counts, {WRITES: (indptr, torch.tensor([1, 2], dtype=torch.int32))})
    with pytest.raises(ValueError, match=r"csr_dict\[\('author', 'writes', 'paper'\)\]: indptr has 3 entries, expected "
                                         r"num_nodes_dict\['paper'\] \+ 1 = 4"):
        HeteroGraph(counts, {WRITES: (torch.tensor([0, 1, 2]), indices)})
    with pytest.raises(TypeError, match=r"csr_dict\[\('author', 'writes', 'paper'\)\]: indptr must be int64, got "
                                        "torch.int32"):
        HeteroGraph(counts, {WRITES: (indptr.int(), indices)})
    with pytest.raises(ValueError, match=r"csr_dict\[\('author', 'writes', 'paper'\)\]: edge_weight has 3 entries but "
                                         "the graph has 2 edges"):
        HeteroGraph(counts, {WRITES: (indptr, indices)}, {WRITES: torch.ones(3)})
    with pytest.raises(ValueError, match=r"names source node type 'author', which is not a node type of the graph "
                                         r"\(node types: \['paper'\]\)"):
        HeteroGraph({"paper": 3}, {WRITES: (indptr, indices)})
    with pytest.raises(TypeError, match=r"csr_dict\[\('author', 'writes', 'paper'\)\] must be a pair"):
        HeteroGraph(counts, {WRITES: indptr})
    with pytest.raises(TypeError, match="validate must be True or False"):
        HeteroGraph(counts, {}, validate="no")


def test_empty_types_build_save_and_load(tmp_path):
    empty = torch.zeros(2, 0, dtype=torch.long)
    g = HeteroGraph.from_edge_index_dict({WRITES: empty, ABOUT: torch.tensor([[1], [0]])},
                                         {"author": 2, "paper": 3, "topic": 1, "venue": 4},
                                         edge_weight_dict={WRITES: torch.zeros(0)})
    assert g.num_edges(WRITES) == 0 and g.csr(WRITES)[0].tolist() == [0, 0, 0, 0]
    assert g.to_edge_index_dict()[WRITES].shape == (2, 0)
    g.save(tmp_path / "g")
    h = HeteroGraph.load(tmp_path / "g", validate=True)
    assert h.num_nodes_dict == g.num_nodes_dict and h.edge_types == g.edge_types
    assert h.edge_weight(WRITES).numel() == 0 and h.edge_weight(ABOUT) is None


def weighted_graph():
    edges = small_edges()
    weights = {WRITES: torch.rand(200, generator=torch.Generator().manual_seed(0)), ABOUT: torch.arange(80.0)}
    return HeteroGraph.from_edge_index_dict(edges, COUNTS, edge_weight_dict=weights)


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, mmap):
    g = weighted_graph()
    g.save(tmp_path / "g")
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "edge_type_0", "edge_type_1", "edge_type_2", "graphsys.manifest.json", "meta.json"]
    h = HeteroGraph.load(tmp_path / "g", mmap=mmap)
    assert h.num_nodes_dict == g.num_nodes_dict and h.edge_types == g.edge_types
    for edge_type in g.edge_types:
        for a, b in zip(h.csr(edge_type), g.csr(edge_type), strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b)
        if g.edge_weight(edge_type) is None:
            assert h.edge_weight(edge_type) is None
        else:
            assert torch.equal(h.edge_weight(edge_type), g.edge_weight(edge_type))
    # copy-on-write map: writing to the loaded tensor never reaches the file
    h.csr(WRITES)[1][0] += 1
    assert torch.equal(HeteroGraph.load(tmp_path / "g").csr(WRITES)[1], g.csr(WRITES)[1])
    # int64 ids survive the trip
    big = HeteroGraph.from_edge_index_dict({("big", "to", "small"): torch.tensor([[2**31], [0]])},
                                           {"big": 2**31 + 1, "small": 1})
    big.save(tmp_path / "g")  # replaces its own earlier save whole
    assert HeteroGraph.load(tmp_path / "g").csr()[1].dtype == torch.int64
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["edge_type_0", "graphsys.manifest.json", "meta.json"]


def test_save_refuses_a_user_folder_and_a_graph_folder(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="holds files graphsys did not write"):
        weighted_graph().save(user)
    assert (user / "notes.txt").read_text() == "keep me" and sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    Graph.from_coo([0], [1]).save(tmp_path / "graph")
    with pytest.raises(OutputError, match="holds a 'graphsys.Graph' written by graphsys, not a 'graphsys.HeteroGraph'"):
        weighted_graph().save(tmp_path / "graph")
    weighted_graph().save(tmp_path / "hetero")
    with pytest.raises(OutputError, match="holds a 'graphsys.HeteroGraph' written by graphsys, not a 'graphsys.Graph'"):
        Graph.from_coo([0], [1]).save(tmp_path / "hetero")


def test_graph_and_hetero_graph_folders_refuse_each_other(tmp_path):
    Graph.from_coo([0], [1]).save(tmp_path / "graph")
    HeteroGraph.from_graph(Graph.from_coo([0], [1])).save(tmp_path / "hetero")
    with pytest.raises(CorruptFileError, match="describes a 'graphsys.Graph', expected a 'graphsys.HeteroGraph'"):
        HeteroGraph.load(tmp_path / "graph")
    with pytest.raises(CorruptFileError, match="describes a 'graphsys.HeteroGraph', expected a 'graphsys.Graph'"):
        Graph.load(tmp_path / "hetero")
    assert HeteroGraph.load(tmp_path / "hetero").to_graph().num_edges == 1


def test_load_refuses_missing_truncated_or_altered_files(tmp_path):
    target = tmp_path / "g"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HeteroGraph.load(target)
    weighted_graph().save(target)
    indices = target / "edge_type_1" / "indices.npy"
    good = indices.read_bytes()
    indices.write_bytes(good[:-8])
    with pytest.raises(CorruptFileError, match=r"edge_type_1/indices.npy has \d+ bytes, the manifest says \d+ "
                                               r"\(truncated or replaced\)"):
        HeteroGraph.load(target)
    with pytest.raises(CorruptFileError, match=r"edge_type_1/indices.npy has \d+ bytes"):
        HeteroGraph.load(target, checksums=False)  # sizes are compared even without checksums
    indices.write_bytes(good[:-4] + bytes(4))
    with pytest.raises(CorruptFileError, match=r"edge_type_1/indices.npy does not match its checksum"):
        HeteroGraph.load(target)
    indices.write_bytes(good)
    (target / "edge_type_0" / "edge_weight.npy").unlink()
    with pytest.raises(CorruptFileError, match=r"edge_type_0/edge_weight.npy is missing"):
        HeteroGraph.load(target)
    (target / MANIFEST).unlink()
    with pytest.raises(CorruptFileError, match="has no graphsys.manifest.json: not a complete graphsys.HeteroGraph"):
        HeteroGraph.load(target)


def test_load_refuses_a_meta_json_that_contradicts_the_arrays(tmp_path):
    saved, target = tmp_path / "saved", tmp_path / "g"
    weighted_graph().save(saved)

    def save_with(meta_edit):
        """The saved folder with an edited meta.json, under a manifest that matches it (so only the meta is wrong)."""
        meta = meta_edit(json.loads((saved / "meta.json").read_text()))
        with atomic_dir(target, HETERO_GRAPH_KIND) as tmp:
            for rel in json.loads((saved / MANIFEST).read_text())["files"]:
                (tmp / rel).parent.mkdir(exist_ok=True)
                shutil.copy(saved / rel, tmp / rel)
            (tmp / "meta.json").write_text(json.dumps(meta))

    def fewer_papers(meta):
        meta["node_types"][1]["num_nodes"] = 49
        return meta

    save_with(fewer_papers)
    with pytest.raises(CorruptFileError, match=r"do not form a heterogeneous graph \(csr_dict\[\('author', "
                                               r"'writes', 'paper'\)\]: indptr has 51 entries, expected "
                                               r"num_nodes_dict\['paper'\] \+ 1 = 50"):
        HeteroGraph.load(target)

    def outside_folder(meta):
        meta["edge_types"][0]["folder"] = "../elsewhere"
        return meta

    save_with(outside_folder)
    with pytest.raises(CorruptFileError, match=r"puts edge type 0 in folder '../elsewhere', expected 'edge_type_0'"):
        HeteroGraph.load(target)

    def no_node_types(meta):
        del meta["node_types"]
        return meta

    save_with(no_node_types)
    with pytest.raises(CorruptFileError, match=r"meta.json is malformed \(KeyError: 'node_types'\)"):
        HeteroGraph.load(target)

    def weight_claimed(meta):
        meta["edge_types"][1]["edge_weight"] = True
        return meta

    save_with(weight_claimed)
    with pytest.raises(CorruptFileError, match=r"edge_type_1/edge_weight.npy is named by .*meta.json but not listed "
                                               "in the manifest"):
        HeteroGraph.load(target)


def test_placement_cpu_and_errors():
    g = weighted_graph()
    moved = g.to("cpu")
    assert moved.placement == Placement("cpu") and moved.csr(WRITES)[1] is g.csr(WRITES)[1]
    assert HeteroGraph({"a": 1}, {}).placement == Placement("cpu")
    with pytest.raises(ValueError, match="'tpu' is not one of"):
        g.to("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA device"):
            g.to("pinned")


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["pinned", "cuda"])
def test_placement_gpu(placement):
    g = weighted_graph()
    moved = g.to(placement)
    assert moved.placement.kind == placement
    for edge_type in g.edge_types:
        arrays = [*moved.csr(edge_type)] + [w for w in [moved.edge_weight(edge_type)] if w is not None]
        assert all(placement_of(a).kind == placement for a in arrays), edge_type
    back = moved.to("cpu")
    assert back.placement == Placement("cpu") and not back.csr(WRITES)[0].is_pinned()
    for edge_type, edge_index in g.to_edge_index_dict().items():
        assert torch.equal(back.to_edge_index_dict()[edge_type], edge_index)
        if g.edge_weight(edge_type) is not None:
            assert torch.equal(back.edge_weight(edge_type), g.edge_weight(edge_type))


@pytest.mark.gpu
def test_edge_types_in_different_placements_are_refused():
    g = weighted_graph()
    csr = {k: g.csr(k) for k in g.edge_types}
    csr[WRITES] = tuple(t.cuda() for t in csr[WRITES])
    with pytest.raises(ValueError, match="the edge types lie in different placements"):
        HeteroGraph(g.num_nodes_dict, csr)


def _sorted_edges(edge_index, weight=None):
    """(src, dst[, weight]) triples in one canonical order, for comparing edge lists exactly."""
    rows = edge_index.t().tolist()
    if weight is not None:
        rows = [(s, d, round(float(w), 4)) for (s, d), w in zip(rows, weight.tolist(), strict=True)]
    return sorted(map(tuple, rows))


@pytest.mark.parametrize("merge", [True, False])
def test_add_reverse_method_equals_pyg_to_undirected_with_weights(merge):
    edges = small_edges()
    edges[CITES] = torch.cat([edges[CITES], torch.tensor([[3, 3, 4, 4], [3, 5, 4, 4]])], dim=1)  # loops, repeats
    weights = {k: torch.rand(v.shape[1], generator=torch.Generator().manual_seed(i)) for i, (k, v) in
               enumerate(edges.items())}
    data = HeteroData()
    for node_type, count in COUNTS.items():
        data[node_type].num_nodes = count
    for edge_type, edge_index in edges.items():
        data[edge_type].edge_index = edge_index
        data[edge_type].edge_weight = weights[edge_type]
    expected = T.ToUndirected(merge=merge)(data.clone())
    g = HeteroGraph.from_edge_index_dict(edges, COUNTS, edge_weight_dict=weights).add_reverse(merge=merge)
    assert g.edge_types == expected.edge_types
    ours = g.to_edge_index_dict()
    for edge_type in expected.edge_types:
        want = _sorted_edges(expected[edge_type].edge_index, expected[edge_type].edge_weight)
        assert _sorted_edges(ours[edge_type], g.edge_weight(edge_type)) == want, edge_type
    # the original graph is left as it was, and the CSRs of untouched types are shared
    h = HeteroGraph.from_edge_index_dict(edges, COUNTS)
    r = h.add_reverse(merge=merge)
    assert h.edge_types == list(edges) and r.csr(WRITES)[1] is h.csr(WRITES)[1]
    with pytest.raises(ValueError, match=r"add_reverse would add edge type \('paper', 'rev_writes', 'author'\)"):
        r.add_reverse()
    with pytest.raises(TypeError, match="merge must be True or False, got 1"):
        h.add_reverse(merge=1)


def test_transpose_is_the_same_for_any_thread_count_and_keeps_int32():
    import numba

    from graphsys.hetero_graph import transpose_csr

    g = HeteroGraph.from_edge_index_dict({WRITES: random_edge_index(1000, 700, 20_000, seed=9)},
                                         {"author": 1000, "paper": 700})
    indptr, indices = g.csr(WRITES)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            results.append(transpose_csr(indptr, indices, 1000))
    finally:
        numba.set_num_threads(before)
    t_indptr, t_indices, _ = results[-1]
    assert all(torch.equal(r[0], t_indptr) and torch.equal(r[1], t_indices) for r in results)
    assert t_indices.dtype == torch.int32 and t_indptr.numel() == 1001
    expected = HeteroGraph.from_edge_index_dict({("paper", "rev", "author"): g.to_edge_index_dict()[WRITES].flip(0)},
                                                {"paper": 700, "author": 1000}).csr()
    assert torch.equal(expected[0], t_indptr) and torch.equal(expected[1], t_indices)
