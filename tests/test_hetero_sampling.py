"""Heterogeneous NeighborSampler: PyG's HeteroSamplerOutput contract on random typed graphs, on the
CPU (numba) and through the GPU path's Triton kernels (on the CPU under TRITON_INTERPRET=1)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling import HeteroSamplerOutput, NeighborSampler
from tests.test_sampling_checks import random_csr

CITES = ("paper", "cites", "paper")
WRITES = ("author", "writes", "paper")
WRITTEN = ("paper", "rev_writes", "author")
TOPIC = ("field", "topic_of", "paper")
HAS = ("paper", "has_topic", "field")
EDGE_TYPES = [CITES, WRITES, WRITTEN, TOPIC, HAS]

interpret = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") != "1", reason="set TRITON_INTERPRET=1 to run Triton kernels on the CPU"
)


def random_hetero(rng: np.random.Generator, sizes: dict[str, int], edges: int, edge_types=EDGE_TYPES,
                  index_dtype=torch.int32):
    """CSRs per edge type over a random typed graph (repeated edges allowed; a random share of
    every type's destination nodes have no in-edges of that type)."""
    indptr, indices = {}, {}
    for et in edge_types:
        s, _, d = et
        n_src, n_dst = sizes[s], sizes[d]
        m = int(rng.integers(0, edges + 1)) if n_src and n_dst else 0
        # Only some destinations receive edges of this type: the rest have degree 0.
        hit = rng.choice(n_dst, size=max(1, n_dst // 2), replace=False) if n_dst else np.zeros(0, np.int64)
        dst = rng.choice(hit, m) if m else np.zeros(0, np.int64)
        src = rng.integers(0, max(n_src, 1), m)
        order = np.argsort(dst, kind="stable")
        p = np.zeros(n_dst + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=n_dst), out=p[1:])
        indptr[et] = torch.from_numpy(p)
        indices[et] = torch.from_numpy(src[order]).to(index_dtype)
    return indptr, indices


def check_hetero(out, num_nodes, indptr, indices, seeds, fanouts, replace, edge_types=EDGE_TYPES):
    """Assert every property of the HeteroSamplerOutput contract."""
    assert isinstance(out, HeteroSamplerOutput)
    assert list(out.node) == list(num_nodes) == list(out.num_sampled_nodes)
    assert list(out.row) == list(out.col) == list(out.edge) == list(out.num_sampled_edges) == list(edge_types)
    hops = len(next(iter(fanouts.values())))
    node = {t: v.cpu().numpy() for t, v in out.node.items()}
    bounds = {}
    for t, n in num_nodes.items():
        assert out.node[t].dtype == torch.int64
        counts = out.num_sampled_nodes[t]
        assert len(counts) == hops + 1 and sum(counts) == node[t].size
        given = np.asarray(seeds.get(t, torch.zeros(0)).cpu(), dtype=np.int64)
        assert counts[0] == given.size
        np.testing.assert_array_equal(node[t][: given.size], given)
        new = node[t][given.size :]
        assert np.unique(new).size == new.size, f"{t}: a node appears twice"
        assert not np.isin(new, given).any(), f"{t}: a seed reappears as a new node"
        assert ((node[t] >= 0) & (node[t] < n)).all()
        bounds[t] = np.concatenate([[0], np.cumsum(counts)])
    per_hop = {}
    for et in edge_types:
        s, _, d = et
        row, col, edge = (getattr(out, a)[et].cpu().numpy() for a in ("row", "col", "edge"))
        for a in ("row", "col", "edge"):
            assert getattr(out, a)[et].dtype == torch.int64
        assert row.size == col.size == edge.size == sum(out.num_sampled_edges[et])
        assert len(out.num_sampled_edges[et]) == hops
        p = indptr[et].numpy()
        i = indices[et].numpy().astype(np.int64)
        # Every sampled edge exists in its edge type: indices[edge] is the source, edge in the target's row.
        np.testing.assert_array_equal(i[edge], node[s][row])
        targets = node[d][col]
        assert ((edge >= p[targets]) & (edge < p[targets + 1])).all(), f"{et}: an edge outside its target's row"
        at = np.concatenate([[0], np.cumsum(out.num_sampled_edges[et])])
        for h in range(hops):
            c, r, e = col[at[h] : at[h + 1]], row[at[h] : at[h + 1]], edge[at[h] : at[h + 1]]
            f_lo, f_hi = bounds[d][h], bounds[d][h + 1]
            assert ((c >= f_lo) & (c < f_hi)).all(), f"{et} hop {h}: a target outside type {d}'s frontier"
            assert (r < bounds[s][h + 2]).all(), f"{et} hop {h}: a source not yet sampled"
            assert (np.diff(c) >= 0).all(), f"{et} hop {h}: edges not grouped by target"
            got = np.bincount(c - f_lo, minlength=f_hi - f_lo)
            degree = p[node[d][f_lo:f_hi] + 1] - p[node[d][f_lo:f_hi]]
            k = fanouts[et][h]
            want = degree if k < 0 else np.where(degree > 0, k, 0) if replace else np.minimum(degree, k)
            np.testing.assert_array_equal(got, want, err_msg=f"{et} hop {h}: neighbours per frontier node")
            if not replace:
                assert np.unique(np.stack([c, e]), axis=1).shape[1] == c.size, f"{et} hop {h}: a position drawn twice"
            per_hop.setdefault((s, h), []).append(node[s][r])
    # New type-s nodes of hop h: unseen sources in order of first appearance over the edge types
    # with source s, taken in edge-type order.
    for t in num_nodes:
        for h in range(hops):
            drawn = np.concatenate(per_hop.get((t, h), [np.zeros(0, np.int64)]))
            _, first = np.unique(drawn, return_index=True)
            appeared = drawn[np.sort(first)]
            expected = appeared[~np.isin(appeared, node[t][: bounds[t][h + 1]])]
            np.testing.assert_array_equal(node[t][bounds[t][h + 1] : bounds[t][h + 2]], expected,
                                          err_msg=f"{t} hop {h}")


def _cpu(indptr, indices, fanouts, replace, num_nodes, seed=7):
    return NeighborSampler(indptr, indices, fanouts, replace=replace, seed=seed, num_nodes=num_nodes)


def _gpu_impl(indptr, indices, fanouts, replace, num_nodes):
    from sampling._gpu_sampler import GpuNeighborSampler

    return GpuNeighborSampler(indptr, indices, fanouts, replace, device=torch.device("cpu"), num_nodes=num_nodes)


hetero_cases = st.tuples(
    st.fixed_dictionaries({"paper": st.integers(1, 25), "author": st.integers(0, 20), "field": st.integers(1, 6)}),
    st.integers(0, 60),  # edges per edge type (at most)
    st.integers(0, 2**31 - 1),  # graph seed
    st.integers(1, 3),  # hops
    st.booleans(),  # replace
    st.booleans(),  # seeds of a second node type
)


def _case(case, allow_all=True):
    sizes, edges, graph_seed, hops, replace, two_seed_types = case
    rng = np.random.default_rng(graph_seed)
    indptr, indices = random_hetero(rng, sizes, edges, index_dtype=torch.int64 if graph_seed % 2 else torch.int32)
    low = -1 if allow_all else 0
    fanouts = {et: [int(f) for f in rng.integers(low, 5, hops)] for et in EDGE_TYPES}
    seeds = {"paper": torch.from_numpy(rng.choice(sizes["paper"], min(6, sizes["paper"]), replace=False))}
    if two_seed_types and sizes["author"]:
        seeds["author"] = torch.from_numpy(rng.integers(0, sizes["author"], 3))  # repeats allowed
    return sizes, indptr, indices, fanouts, replace, seeds


@settings(max_examples=60, deadline=None)
@given(case=hetero_cases)
def test_cpu_contract_on_random_hetero_graphs(case):
    sizes, indptr, indices, fanouts, replace, seeds = _case(case)
    sampler = _cpu(indptr, indices, fanouts, replace, sizes)
    out = sampler.sample(seeds)
    check_hetero(out, sizes, indptr, indices, seeds, fanouts, replace)
    assert (sampler._impl._node_map == -1).all(), "the node maps must be clean after a call"


@interpret
@settings(max_examples=12, deadline=None)
@given(case=hetero_cases)
def test_gpu_kernels_contract_on_random_hetero_graphs(case):
    from sampling._gpu_kernels import EMPTY

    sizes, indptr, indices, fanouts, replace, seeds = _case(case)
    sampler = _gpu_impl(indptr, indices, fanouts, replace, sizes)
    out = sampler.sample(seeds, 5, 0)
    check_hetero(out, sizes, indptr, indices, seeds, fanouts, replace)
    assert (sampler._node_map == EMPTY).all(), "the node maps must be clean after a call"
    again = sampler.sample(seeds, 5, 0)
    for t in sizes:
        assert torch.equal(again.node[t], out.node[t])
    for et in EDGE_TYPES:
        assert torch.equal(again.edge[et], out.edge[et])


def test_take_all_and_hand_checked_order():
    """-1 takes every neighbour; new nodes follow edge-type order, then frontier order, then CSR order."""
    num_nodes = {"paper": 4, "author": 3}
    indptr = {
        CITES: torch.tensor([0, 2, 3, 3, 3]),  # paper 0 <- papers 2, 1; paper 1 <- paper 3
        WRITES: torch.tensor([0, 2, 2, 3, 3]),  # paper 0 <- authors 1, 0; paper 2 <- author 2
        WRITTEN: torch.tensor([0, 1, 1, 1]),  # author 0 <- paper 3
    }
    indices = {CITES: torch.tensor([2, 1, 3]), WRITES: torch.tensor([1, 0, 2]), WRITTEN: torch.tensor([3])}
    out = NeighborSampler(indptr, indices, [-1, -1], num_nodes=num_nodes).sample({"paper": torch.tensor([0])})
    assert out.node["paper"].tolist() == [0, 2, 1, 3]
    assert out.node["author"].tolist() == [1, 0, 2]
    assert out.num_sampled_nodes == {"paper": [1, 2, 1], "author": [0, 2, 1]}
    assert out.num_sampled_edges == {CITES: [2, 1], WRITES: [2, 1], WRITTEN: [0, 1]}
    assert out.row[CITES].tolist() == [1, 2, 3] and out.col[CITES].tolist() == [0, 0, 2]
    assert out.edge[CITES].tolist() == [0, 1, 2]
    # hop 1: paper 2 (local 1) <- author 2; author 0 (local 1) <- paper 3, new at hop 1 via cites
    assert out.row[WRITES].tolist() == [0, 1, 2] and out.col[WRITES].tolist() == [0, 0, 1]
    assert out.row[WRITTEN].tolist() == [3] and out.col[WRITTEN].tolist() == [1]
    assert out.num_nodes == {"paper": 4, "author": 3} and out.edge_index[CITES].shape == (2, 3)


def test_same_seed_same_output_different_seed_differs():
    rng = np.random.default_rng(3)
    sizes = {"paper": 400, "author": 300, "field": 20}
    indptr, indices = random_hetero(rng, sizes, 4000)
    fanouts = {et: [4, 3] for et in EDGE_TYPES}
    seeds = {"paper": torch.arange(0, 400, 9), "author": torch.arange(0, 300, 31)}
    a, b = _cpu(indptr, indices, fanouts, False, sizes, seed=1), _cpu(indptr, indices, fanouts, False, sizes, seed=1)
    first = a.sample(seeds)
    for x, y in ((first, b.sample(seeds)), (a.sample(seeds), b.sample(seeds))):
        for t in sizes:
            assert torch.equal(x.node[t], y.node[t])
        for et in EDGE_TYPES:
            for name in ("row", "col", "edge"):
                assert torch.equal(getattr(x, name)[et], getattr(y, name)[et])
    a.reseed(1)
    again = a.sample(seeds)
    assert all(torch.equal(again.edge[et], first.edge[et]) for et in EDGE_TYPES)
    other = _cpu(indptr, indices, fanouts, False, sizes, seed=2).sample(seeds)
    assert not all(torch.equal(other.edge[et], first.edge[et]) for et in EDGE_TYPES)
    # Edge types draw independently: two copies of one CSR under two names sample differently.
    twin = ("paper", "cites_again", "paper")
    dup = NeighborSampler({CITES: indptr[CITES], twin: indptr[CITES]}, {CITES: indices[CITES], twin: indices[CITES]},
                          [3], num_nodes={"paper": 400}, seed=1).sample({"paper": torch.arange(400)})
    assert not torch.equal(dup.edge[CITES], dup.edge[twin])


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("fanouts", [[5, 3], [-1, 2]])
def test_one_type_equals_the_homogeneous_sampler(replace, fanouts):
    rng = np.random.default_rng(5)
    indptr, indices = random_csr(rng, 300, 3000)
    seeds = torch.from_numpy(rng.choice(300, 40, replace=False))
    et = ("_N", "_E", "_N")
    homo = NeighborSampler(indptr, indices, fanouts, replace=replace, seed=4)
    hetero = NeighborSampler({et: indptr}, {et: indices}, {et: fanouts}, replace=replace, seed=4, num_nodes={"_N": 300})
    for _ in range(2):  # successive calls too
        a, b = homo.sample(seeds), hetero.sample({"_N": seeds})
        assert torch.equal(a.node, b.node["_N"])
        for name in ("row", "col", "edge"):
            assert torch.equal(getattr(a, name), getattr(b, name)[et])
        assert a.num_sampled_nodes == b.num_sampled_nodes["_N"] and a.num_sampled_edges == b.num_sampled_edges[et]


@interpret
def test_gpu_kernels_one_type_equals_homogeneous_and_cuda_graph_check():
    from sampling._gpu_sampler import GpuNeighborSampler

    rng = np.random.default_rng(6)
    indptr, indices = random_csr(rng, 60, 400)
    seeds = torch.from_numpy(rng.choice(60, 10, replace=False))
    et = ("_N", "_E", "_N")
    homo = GpuNeighborSampler(indptr, indices, (3, -1), False, device=torch.device("cpu"))
    hetero = _gpu_impl({et: indptr}, {et: indices}, {et: [3, -1]}, False, {"_N": 60})
    a, b = homo.sample(seeds, 2, 1), hetero.sample({"_N": seeds}, 2, 1)
    assert torch.equal(a.node, b.node["_N"]) and torch.equal(a.edge, b.edge[et]) and torch.equal(a.row, b.row[et])
    with pytest.raises(ValueError, match=r"cuda_graph=True needs every fanout >= 0"):
        GpuNeighborSampler({et: indptr}, {et: indices}, {et: [3, -1]}, False, cuda_graph=True,
                           device=torch.device("cpu"), num_nodes={"_N": 60})


@interpret
def test_gpu_kernels_errors_name_the_type_and_leave_maps_clean():
    from sampling._gpu_kernels import EMPTY

    num_nodes = {"paper": 3, "author": 2}
    indptr = {CITES: torch.tensor([0, 1, 1, 1]), WRITES: torch.tensor([0, 1, 2, 2])}
    indices = {CITES: torch.tensor([1]), WRITES: torch.tensor([1, 7])}  # author 7 does not exist
    sampler = _gpu_impl(indptr, indices, [2, 2], False, num_nodes)
    with pytest.raises(IndexError, match=r"seeds\['author'\]\[0\] = 5 is not a node id of node type 'author'"):
        sampler.sample({"paper": torch.tensor([0]), "author": torch.tensor([5])}, 0, 0)
    assert (sampler._node_map == EMPTY).all()
    with pytest.raises(IndexError, match=r"edge type \('author', 'writes', 'paper'\): indices\[1\] = 7"):
        sampler.sample({"paper": torch.tensor([1])}, 0, 1)
    assert (sampler._node_map == EMPTY).all()
    out = sampler.sample({"paper": torch.tensor([2]), "author": torch.tensor([1])}, 0, 2)  # never reaches author 7
    assert out.node["paper"].tolist() == [2] and out.node["author"].tolist() == [1]


def test_cpu_unvalidated_outside_neighbour_names_the_edge_type():
    num_nodes = {"paper": 3, "author": 2}
    indptr = {CITES: torch.tensor([0, 1, 1, 1]), WRITES: torch.tensor([0, 1, 2, 2])}
    indices = {CITES: torch.tensor([1]), WRITES: torch.tensor([1, 7])}
    with pytest.raises(IndexError, match=r"edge type \('author', 'writes', 'paper'\): indices holds node id 7"):
        NeighborSampler(indptr, indices, [2], num_nodes=num_nodes)
    sampler = NeighborSampler(indptr, indices, [2], num_nodes=num_nodes, validate=False)
    with pytest.raises(IndexError, match=r"edge type \('author', 'writes', 'paper'\): indices\[1\] = 7"):
        sampler.sample({"paper": torch.tensor([1])})
    assert (sampler._impl._node_map == -1).all()
    assert sampler.sample({"paper": torch.tensor([0])}).node["author"].tolist() == [1]


def test_bad_input_is_named():
    num_nodes = {"paper": 3, "author": 2}
    indptr = {CITES: torch.tensor([0, 1, 1, 1]), WRITES: torch.tensor([0, 1, 2, 2])}
    indices = {CITES: torch.tensor([1]), WRITES: torch.tensor([1, 0])}
    sampler = NeighborSampler(indptr, indices, [2, 1], num_nodes=num_nodes)
    assert sampler.is_hetero and sampler.node_types == ("paper", "author") and sampler.edge_types == (CITES, WRITES)
    assert sampler.fanouts == {CITES: (2, 1), WRITES: (2, 1)} and sampler.num_nodes == num_nodes
    assert "fanouts={('paper', 'cites', 'paper'): [2, 1]" in repr(sampler)
    with pytest.raises(IndexError, match=r"seeds\['paper'\]\[1\] = 3 is not a node id of node type 'paper'.*\[0, 3\)"):
        sampler.sample({"paper": torch.tensor([0, 3])})
    with pytest.raises(IndexError, match=r"seeds\['author'\]\[0\] = -1 is not a node id of node type 'author'"):
        sampler.sample({"author": torch.tensor([-1])})
    with pytest.raises(ValueError, match=r"seeds has node type 'venue'.*node types: \['paper', 'author'\]"):
        sampler.sample({"venue": torch.tensor([0])})
    with pytest.raises(TypeError, match="seeds must be a dict node type -> ids"):
        sampler.sample(torch.tensor([0]))
    with pytest.raises(TypeError, match=r"seeds\['paper'\] must hold integer"):
        sampler.sample({"paper": torch.tensor([0.5])})
    with pytest.raises(TypeError, match="seeds is a dict but this sampler was built from plain CSR tensors"):
        NeighborSampler(indptr[CITES], indices[CITES], [1]).sample({"paper": torch.tensor([0])})
    # edge types and node types
    with pytest.raises(ValueError, match=r"edge type \('author', 'writes', 'paper'\) has source node type 'author', "
                                         r"which num_nodes does not have"):
        NeighborSampler(indptr, indices, [2], num_nodes={"paper": 3})
    with pytest.raises(TypeError, match="edge types must be .* tuples of str"):
        NeighborSampler({"cites": indptr[CITES]}, {"cites": indices[CITES]}, [2], num_nodes=num_nodes)
    with pytest.raises(ValueError, match="indptr and indices have different edge types"):
        NeighborSampler(indptr, {CITES: indices[CITES]}, [2], num_nodes=num_nodes)
    with pytest.raises(TypeError, match="num_nodes must be a dict"):
        NeighborSampler(indptr, indices, [2])
    with pytest.raises(TypeError, match="indptr is a dict .* but indices is not"):
        NeighborSampler(indptr, indices[CITES], [2], num_nodes=num_nodes)
    with pytest.raises(ValueError, match=r"num_nodes\['author'\] = -1"):
        NeighborSampler(indptr, indices, [2], num_nodes={"paper": 3, "author": -1})
    # fanouts
    with pytest.raises(ValueError, match=r"fanouts has no entry for edge type \('author', 'writes', 'paper'\)"):
        NeighborSampler(indptr, indices, {CITES: [2]}, num_nodes=num_nodes)
    with pytest.raises(ValueError, match=r"fanouts has edge type \('paper', 'x', 'paper'\), which is not an edge type"):
        NeighborSampler(indptr, indices, {CITES: [2], WRITES: [2], ("paper", "x", "paper"): [1]}, num_nodes=num_nodes)
    with pytest.raises(ValueError, match=r"fanouts\[\('author', 'writes', 'paper'\)\] has 1 hops but .* has 2"):
        NeighborSampler(indptr, indices, {CITES: [2, 2], WRITES: [2]}, num_nodes=num_nodes)
    with pytest.raises(ValueError, match=r"fanouts\[\('author', 'writes', 'paper'\)\]\[0\] = -3"):
        NeighborSampler(indptr, indices, {CITES: [2], WRITES: [-3]}, num_nodes=num_nodes)
    with pytest.raises(ValueError, match=r"fanouts\[\('paper', 'cites', 'paper'\)\] is empty"):
        NeighborSampler(indptr, indices, {CITES: [], WRITES: []}, num_nodes=num_nodes)
    with pytest.raises(TypeError, match="fanouts must be a list of ints or a dict"):
        NeighborSampler(indptr, indices, 2, num_nodes=num_nodes)
    # CSR sizes against num_nodes
    with pytest.raises(ValueError, match=r"indptr\[\('paper', 'cites', 'paper'\)\] has 4 entries; "
                                         r"expected num_nodes\['paper'\] \+ 1 = 5"):
        NeighborSampler(indptr, indices, [2], num_nodes={"paper": 4, "author": 2})
    with pytest.raises(IndexError, match=r"edge type \('author', 'writes', 'paper'\): indices holds node id 1, "
                                         r"outside \[0, 1\)"):
        NeighborSampler(indptr, indices, [2], num_nodes={"paper": 3, "author": 1})
    with pytest.raises(ValueError, match=r"edge type \('paper', 'cites', 'paper'\): indptr\[-1\] = 1 disagrees"):
        NeighborSampler(indptr, {CITES: torch.tensor([1, 2]), WRITES: indices[WRITES]}, [2], num_nodes=num_nodes)
    with pytest.raises(TypeError, match=r"edge type \('paper', 'cites', 'paper'\): indices must be int32 or int64"):
        NeighborSampler(indptr, {CITES: torch.tensor([1.0]), WRITES: indices[WRITES]}, [2], num_nodes=num_nodes)
    with pytest.raises(ValueError, match="indptr is an empty dict"):
        NeighborSampler({}, {}, [2], num_nodes=num_nodes)


def test_node_types_without_edges_or_seeds_are_keys_too():
    num_nodes = {"paper": 3, "author": 2, "venue": 4}
    indptr = {WRITES: torch.tensor([0, 1, 2, 2])}
    indices = {WRITES: torch.tensor([1, 0], dtype=torch.int32)}
    out = NeighborSampler(indptr, indices, [1, 1], num_nodes=num_nodes).sample({"venue": torch.tensor([3, 3])})
    assert out.node["venue"].tolist() == [3, 3] and out.num_sampled_nodes["venue"] == [2, 0, 0]
    assert out.node["paper"].numel() == 0 and out.num_sampled_nodes["paper"] == [0, 0, 0]
    assert out.num_sampled_edges == {WRITES: [0, 0]} and out.row[WRITES].dtype == torch.int64
    empty = NeighborSampler(indptr, indices, [1], num_nodes=num_nodes).sample({})
    assert empty.num_nodes == {"paper": 0, "author": 0, "venue": 0}


def test_pyg_trim_to_layer_accepts_the_output():
    from torch_geometric.data import HeteroData
    from torch_geometric.utils import trim_to_layer

    rng = np.random.default_rng(9)
    sizes = {"paper": 200, "author": 150, "field": 10}
    indptr, indices = random_hetero(rng, sizes, 1500)
    fanouts = [4, 3, 2]
    out = _cpu(indptr, indices, fanouts, False, sizes).sample({"paper": torch.arange(0, 200, 20)})
    data = HeteroData()
    for t, ids in out.node.items():
        data[t].x = ids.float()[:, None]
    for et in EDGE_TYPES:
        data[et].edge_index = out.edge_index[et]
    x, edge_index = data.x_dict, data.edge_index_dict
    for layer in range(len(fanouts)):
        x, edge_index, _ = trim_to_layer(layer, out.num_sampled_nodes, out.num_sampled_edges, x, edge_index)
        hops_left = len(fanouts) - layer
        for t in sizes:
            assert x[t].shape[0] == sum(out.num_sampled_nodes[t][: hops_left + 1])
        for (s, r, d), ei in edge_index.items():
            assert ei.shape[1] == sum(out.num_sampled_edges[(s, r, d)][:hops_left])
            if ei.numel():
                assert int(ei[0].max()) < x[s].shape[0] and int(ei[1].max()) < x[d].shape[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the device machine)")
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
@settings(max_examples=20, deadline=None)
@given(case=hetero_cases)
def test_gpu_contract_on_random_hetero_graphs(placement, case):
    from zerocopy.placement import place

    sizes, indptr, indices, fanouts, replace, seeds = _case(case)
    sampler = NeighborSampler({et: place(p, placement) for et, p in indptr.items()},
                              {et: place(i, placement) for et, i in indices.items()},
                              fanouts, replace=replace, seed=5, num_nodes=sizes)
    out = sampler.sample(seeds)
    host = HeteroSamplerOutput(
        node={t: v.cpu() for t, v in out.node.items()}, row={e: v.cpu() for e, v in out.row.items()},
        col={e: v.cpu() for e, v in out.col.items()}, edge={e: v.cpu() for e, v in out.edge.items()},
        num_sampled_nodes=out.num_sampled_nodes, num_sampled_edges=out.num_sampled_edges)
    check_hetero(host, sizes, indptr, indices, seeds, fanouts, replace)
    sampler.reseed(5)
    again = sampler.sample(seeds)
    assert all(torch.equal(again.node[t], out.node[t]) for t in sizes)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the device machine)")
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
def test_gpu_cuda_graph_replays_match_direct_launches(placement):
    """A typed sampler's captured graphs draw what its direct launches draw, per batch shape (seed
    counts per type), call after call, and its outputs outlive the next replay."""
    from zerocopy.placement import place

    rng = np.random.default_rng(11)
    sizes = {"paper": 400, "author": 300, "field": 20}
    indptr, indices = random_hetero(rng, sizes, 4000)
    args = ({et: place(p, placement) for et, p in indptr.items()},
            {et: place(i, placement) for et, i in indices.items()}, [4, 3])
    direct = NeighborSampler(*args, seed=3, num_nodes=sizes)
    graphed = NeighborSampler(*args, seed=3, num_nodes=sizes, cuda_graph=True)
    kept = []
    for papers, authors in ((64, 0), (64, 0), (20, 7), (64, 0)):
        seeds = {"paper": torch.from_numpy(rng.choice(400, papers, replace=False))}
        if authors:
            seeds["author"] = torch.from_numpy(rng.choice(300, authors, replace=False))
        a, b = direct.sample(seeds), graphed.sample(seeds)
        for t in sizes:
            assert torch.equal(a.node[t], b.node[t]), t
        for et in EDGE_TYPES:
            for name in ("row", "col", "edge"):
                assert torch.equal(getattr(a, name)[et], getattr(b, name)[et]), (et, name)
        assert a.num_sampled_nodes == b.num_sampled_nodes and a.num_sampled_edges == b.num_sampled_edges
        kept.append((a, b))
    for a, b in kept:  # later replays left the earlier outputs as they were
        assert all(torch.equal(a.node[t], b.node[t]) for t in sizes)
        assert all(torch.equal(a.edge[et], b.edge[et]) for et in EDGE_TYPES)
