import os
import stat

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

import graphsys.graph
from graphsys import Graph
from graphsys.io import MANIFEST, CorruptFileError, atomic_dir, atomic_file
from sampling import NeighborSampler
from sampling.csr import check_csr
from zerocopy.placement import Placement, place


def random_edges(num_nodes, num_edges, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def test_csr_is_over_in_neighbours():
    g = Graph.from_edge_index(torch.tensor([[0, 0, 2, 3], [1, 2, 1, 1]]), num_nodes=4)
    assert g.indptr.dtype == torch.int64 and g.indices.dtype == torch.int32
    assert g.neighbors(1).tolist() == [0, 2, 3]
    assert g.neighbors(2).tolist() == [0]
    assert g.neighbors(0).tolist() == []
    assert g.in_degrees().tolist() == [0, 3, 1, 0]
    assert g.out_degrees().tolist() == [2, 0, 1, 1]


def test_edge_index_round_trip():
    src, dst = random_edges(500, 4000)
    edge_index = torch.from_numpy(np.stack([src, dst]))
    g = Graph.from_edge_index(edge_index, num_nodes=500)
    assert g.num_edges == 4000
    back = g.to_edge_index()
    assert back.dtype == torch.int64
    assert sorted(map(tuple, back.t().tolist())) == sorted(map(tuple, edge_index.t().tolist()))


def test_options_symmetrize_dedup_self_loops():
    edge_index = torch.tensor([[0, 0, 1, 2, 2], [1, 1, 2, 2, 0]])
    g = Graph.from_edge_index(edge_index, dedup=True)
    assert edge_set(g.to_edge_index()) == {(0, 1), (1, 2), (2, 2), (2, 0)} and g.num_edges == 4
    g = Graph.from_edge_index(edge_index, symmetrize=True, drop_self_loops=True)
    assert edge_set(g.to_edge_index()) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2)}
    assert g.num_edges == 6
    # rows come out sorted
    for v in range(g.num_nodes):
        nbrs = g.neighbors(v)
        assert torch.equal(nbrs, nbrs.sort().values)


def test_scipy_round_trip_with_weights():
    rng = np.random.default_rng(1)
    mat = sp.random(60, 60, density=0.1, random_state=2, format="csr", dtype=np.float32)
    mat.data = rng.random(mat.nnz).astype(np.float32) + 0.5
    g = Graph.from_scipy(mat)
    assert g.edge_weight is not None and g.num_edges == mat.nnz
    assert abs(g.to_scipy() - mat).max() < 1e-6


def test_scipy_stored_zeros_are_no_edges_and_repeats_add_up():
    # A[0, 2] is an explicitly stored zero: not an edge
    mat = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([1, 2, 0]), np.array([0, 2, 3, 3])), shape=(3, 3))
    g = Graph.from_scipy(mat)
    assert g.num_edges == 2 and g.neighbors(2).numel() == 0
    assert g.to_scipy().toarray().tolist() == mat.toarray().tolist()
    assert mat.nnz == 3  # the caller's matrix is untouched
    # a COO matrix listing A[0, 1] twice means A[0, 1] = 2: one edge of weight 2
    coo = sp.coo_matrix((np.array([1.0, 1.0, 1.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))), shape=(2, 2))
    g = Graph.from_scipy(coo)
    assert g.num_edges == 2 and g.edge_weight.tolist() == [1.0, 2.0]
    assert g.to_scipy().toarray().tolist() == coo.toarray().tolist() and coo.nnz == 3
    # weights given beside the matrix would follow its original entry order, not the summed one
    with pytest.raises(ValueError, match="weights from the matrix values"):
        Graph.from_scipy(coo, edge_weight=np.ones(3))


def test_from_pyg_data_and_dgl_style_object():
    data = Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=5)
    g = Graph.from_pyg(data)
    assert g.num_nodes == 5 and g.num_edges == 2

    class FakeDGLGraph:  # the two methods Graph.from_dgl uses, as DGL defines them
        def edges(self):
            return torch.tensor([0, 1]), torch.tensor([1, 2])

        def num_nodes(self):
            return 4

    g = Graph.from_dgl(FakeDGLGraph())
    assert g.num_nodes == 4 and g.neighbors(2).tolist() == [1]


def test_save_load_memory_mapped(tmp_path):
    src, dst = random_edges(300, 2000, seed=3)
    g = Graph.from_coo(src, dst, 300, edge_weight=np.arange(2000, dtype=np.float32))
    g.save(tmp_path / "g")
    h = Graph.load(tmp_path / "g")
    assert torch.equal(h.indptr, g.indptr) and torch.equal(h.indices, g.indices)
    assert torch.equal(h.edge_weight, g.edge_weight)
    # copy-on-write map: writing to the loaded tensor never reaches the file
    h.indices[0] = h.indices[0] + 1
    assert torch.equal(Graph.load(tmp_path / "g").indices, g.indices)
    # overwriting leaves a whole graph, never a mix
    Graph.from_coo([0], [1], 2).save(tmp_path / "g")
    assert Graph.load(tmp_path / "g").num_edges == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]


def test_load_rejects_other_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Graph.load(tmp_path / "missing")
    with pytest.raises(CorruptFileError, match="has no graphsys.manifest.json: not a complete graphsys.Graph"):
        Graph.load(tmp_path)
    Graph.from_coo([0], [1]).save(tmp_path / "ds")
    manifest = tmp_path / "ds" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"graphsys.Graph"', '"graphsys.NodeDataset"'))
    with pytest.raises(CorruptFileError, match="describes a 'graphsys.NodeDataset', expected a 'graphsys.Graph'"):
        Graph.load(tmp_path / "ds")


def test_placement_cpu_and_errors():
    g = Graph.from_coo([0, 1], [1, 0])
    assert g.to("cpu").placement == Placement("cpu")
    assert Placement.parse("cuda:1") == Placement("cuda", 1)
    with pytest.raises(ValueError, match="'tpu' is not one of"):
        Placement.parse("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA device"):
            g.to("pinned")
        with pytest.raises(RuntimeError, match="needs a CUDA device"):
            place(torch.zeros(3), "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["pinned", "cuda"])
def test_placement_gpu(placement):
    g = Graph.from_coo([0, 1, 2], [1, 2, 0]).to(placement)
    assert g.placement.kind == placement
    back = g.to("cpu")
    assert back.neighbors(0).tolist() == [2]
    # "cpu" is pageable: a pinned graph left pinned would get the GPU sampler
    assert back.placement == Placement("cpu") and not back.indptr.is_pinned()
    assert NeighborSampler(back.indptr, back.indices, [1]).device.type == "cpu"


def test_bad_ids():
    with pytest.raises(IndexError, match=r"src\[1\] = -1 is a negative node id"):
        Graph.from_coo([0, -1], [1, 1])
    with pytest.raises(IndexError, match=r"dst\[0\] = 7 is out of range for num_nodes = 5"):
        Graph.from_coo([0], [7], num_nodes=5)
    with pytest.raises(TypeError, match="integer node ids, got dtype float"):
        Graph.from_coo(np.array([0.0, 1.5]), np.array([1, 0]))
    with pytest.raises(TypeError, match="torch.float32"):
        Graph.from_edge_index(torch.tensor([[0.0], [1.0]]))
    with pytest.raises(ValueError, match="src has 2 entries but dst has 3"):
        Graph.from_coo([0, 1], [1, 0, 1])
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        Graph.from_edge_index(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(IndexError, match="node 9 is out of range"):
        Graph.from_coo([0], [1]).neighbors(9)


def test_bad_csr():
    with pytest.raises(ValueError, match=r"indptr decreases at node 1: indptr\[1\] = 3 > indptr\[2\] = 1"):
        Graph(torch.tensor([0, 3, 1, 3]), torch.tensor([0, 1, 2], dtype=torch.int32))
    with pytest.raises(ValueError, match="indptr\\[-1\\] = 2 disagrees with indices, which has 3"):
        Graph(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1], dtype=torch.int32))
    with pytest.raises(IndexError, match="node id 5, outside \\[0, 2\\)"):
        Graph(torch.tensor([0, 1, 2]), torch.tensor([0, 5], dtype=torch.int32))
    with pytest.raises(TypeError, match="indices must be int32 or int64, got torch.float32"):
        check_csr(torch.tensor([0, 1]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="indptr\\[0\\] must be 0, got 1"):
        check_csr(torch.tensor([1, 1]), torch.tensor([], dtype=torch.int64))
    with pytest.raises(ValueError, match="indptr must have num_nodes \\+ 1 >= 1 entries, got an empty tensor"):
        check_csr(torch.tensor([], dtype=torch.int64), torch.tensor([], dtype=torch.int64))
    with pytest.raises(ValueError, match=r"indices must be 1-D, got shape \(1, 1\)"):
        check_csr(torch.tensor([0, 1]), torch.tensor([[0]]))
    with pytest.raises(TypeError, match="indptr must be a torch.Tensor, got list"):
        check_csr([0, 1], torch.tensor([0]))


def test_constructor_and_file_refusals(tmp_path):
    indptr, indices = torch.tensor([0, 1, 2]), torch.tensor([1, 0], dtype=torch.int32)
    with pytest.raises(TypeError, match="indptr must be int64, got torch.int32"):
        Graph(indptr.int(), indices)
    with pytest.raises(ValueError, match="edge_weight has 3 entries but the graph has 2 edges"):
        Graph(indptr, indices, torch.ones(3))
    with pytest.raises(ValueError, match=r"edge_weight has shape \(1,\) but there are 2 edges"):
        Graph.from_coo([0, 1], [1, 0], edge_weight=[1.0])
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="num_nodes must be a non-negative int"):
            Graph.from_coo([0], [1], num_nodes=bad)
    with pytest.raises(TypeError, match="matrix must be a scipy sparse matrix, got ndarray"):
        Graph.from_scipy(np.eye(2))
    with pytest.raises(ValueError, match=r"must be square, got shape \(2, 3\)"):
        Graph.from_scipy(sp.csr_matrix((2, 3)))
    with pytest.raises(ValueError, match="has no edge_index"):
        Graph.from_pyg(Data(num_nodes=3))
    Graph(indptr, indices).save(tmp_path / "g")
    (tmp_path / "g" / "meta.json").write_text('{"format": "graphsys.Graph", "num_nodes": 5, "num_edges": 2}')
    with pytest.raises(CorruptFileError, match=r"meta.json has \d+ bytes, the manifest says \d+"):
        Graph.load(tmp_path / "g")


def test_empty_graph():
    g = Graph.from_coo(np.array([], dtype=np.int64), np.array([], dtype=np.int64), num_nodes=3)
    assert g.num_nodes == 3 and g.num_edges == 0
    assert g.to_edge_index().shape == (2, 0)


def test_atomic_writers_leave_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_file(target, "test.kind") as tmp:
        tmp.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_file(target, "test.kind") as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "good"
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "d", "test.kind") as tmp:
            (tmp / "x").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.txt.graphsys.json", "out.txt"]


def test_atomic_writers_give_the_umask_permissions(tmp_path):
    """mkstemp / mkdtemp made every written file 0600 and directory 0700: a dataset cache or
    checkpoint others could not read."""
    before = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "f.txt", "test.kind") as tmp:
            tmp.write_text("x")
        with atomic_dir(tmp_path / "d", "test.kind") as tmp:
            (tmp / "a.txt").write_text("y")
        Graph.from_coo([0], [1]).save(tmp_path / "g")
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "g").stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == [".f.txt.graphsys.json", "d", "f.txt", "g"]
    with pytest.raises(FileNotFoundError):
        with atomic_file(tmp_path / "never.txt", "test.kind"):
            pass  # nothing written: no empty file appears in its place
    assert not (tmp_path / "never.txt").exists()


def test_out_degrees_count_the_in_neighbour_lists_holding_each_node_in_chunks_too(monkeypatch):
    src, dst = random_edges(300, 5000)
    g = Graph.from_coo(torch.from_numpy(src), torch.from_numpy(dst), 300)
    expected = torch.bincount(torch.from_numpy(src).long(), minlength=300)
    assert torch.equal(g.out_degrees(), expected)
    monkeypatch.setattr(graphsys.graph, "DEGREE_CHUNK", 777)
    assert torch.equal(g.out_degrees("cpu"), expected)
