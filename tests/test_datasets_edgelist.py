"""Edge-list files: parsing, errors with file and line, the Gnutella counts."""
import numpy as np
import pytest
import torch

from graphsys.datasets import load
from graphsys.datasets.edgelist import read_edge_list


def _write(tmp_path, text: str, name: str = "g.edgelist"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_gnutella_counts(shared_data):
    path = shared_data("gnutella/p2p-Gnutella08.edgelist")
    ds = load(str(path))
    assert ds.num_nodes == 6301 and ds.graph.num_edges == 20777
    assert ds.x is None and ds.num_classes == 0 and (ds.y == -1).all()
    assert ds.train_idx.numel() == ds.val_idx.numel() == ds.test_idx.numel() == 0
    same = load("edgelist", path=path)
    assert torch.equal(same.graph.indices, ds.graph.indices)
    # The first line of the file is "0<TAB>1": node 1 receives from node 0.
    assert 0 in ds.graph.neighbors(1).tolist()


def test_comments_whitespace_and_weights(tmp_path):
    path = _write(tmp_path, "# header\n\n0 1 0.5\n  3\t7   2 # trailing\r\n7 0 -1.5e-1\n")
    src, dst, w = read_edge_list(path)
    assert src.tolist() == [0, 3, 7] and dst.tolist() == [1, 7, 0]
    assert w.dtype == np.float32 and np.allclose(w, [0.5, 2.0, -0.15])
    ds = load(str(path))
    assert ds.num_nodes == 8  # ids kept as they are: 0..7
    assert ds.graph.edge_weight is not None and ds.graph.num_edges == 3


def test_arbitrary_ids_kept_and_undirected(tmp_path):
    path = _write(tmp_path, "10 20\n20 10\n10 10\n5 20\n", name="g.txt")
    ds = load(str(path))
    assert ds.num_nodes == 21 and ds.graph.num_edges == 4
    und = load(str(path), undirected=True)
    assert und.graph.num_edges == 4  # {10-20, 5-20} both ways, self loop dropped
    assert sorted(und.graph.neighbors(20).tolist()) == [5, 10]
    assert load(str(path), num_nodes=30).num_nodes == 30
    with pytest.raises(IndexError, match="num_nodes = 15"):
        load(str(path), num_nodes=15)


def test_empty_file(tmp_path):
    src, dst, w = read_edge_list(_write(tmp_path, ""))
    assert src.size == dst.size == 0 and w is None
    src, _, _ = read_edge_list(_write(tmp_path, "# only a comment\n"))
    assert src.size == 0


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("0 1\n2 x\n", 2, "non-negative integer ids"),
        ("0 1\n1 2\n3\n", 3, "single column"),
        ("0 1 2 3\n", 1, "more than three columns"),
        ("0 1 0.5\n1 2\n", 2, "weight column"),
        ("# c\n0 1\n-1 2\n", 3, "non-negative integer ids"),
        ("0 1 1e\n", 1, "numeric weight"),
        ("0 1.5\n", 1, "integer ids"),
        ("0 1\n99999999999999999999 1\n", 2, "does not fit"),
        ("0 1 2.5\n1 2 1e39\n", 2, "weight does not fit float32"),  # was read as inf
        ("0 1 -1e999\n", 1, "weight does not fit float32"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, text, line, what):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=rf"g\.edgelist, line {line}: .*{what}"):
        load(str(path))


def test_error_shows_line_text(tmp_path):
    path = _write(tmp_path, "0 1\n0 1\nfoo bar\n")
    with pytest.raises(ValueError, match="'foo bar'"):
        read_edge_list(path)


def test_missing_file_and_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.edgelist"):
        load(str(tmp_path / "nope.edgelist"))
    with pytest.raises(ValueError, match="path="):
        load("edgelist")


def test_large_file_matches_numpy(tmp_path):
    rng = np.random.default_rng(0)
    edges = rng.integers(0, 50_000, size=(200_000, 2))
    path = tmp_path / "big.tsv"
    np.savetxt(path, edges, fmt="%d", delimiter="\t")
    src, dst, w = read_edge_list(path)
    assert np.array_equal(src, edges[:, 0]) and np.array_equal(dst, edges[:, 1]) and w is None


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Split even small files into many chunks, so the parallel path and its bookkeeping run."""
    import graphsys.datasets.edgelist as edgelist

    monkeypatch.setattr(edgelist, "_CHUNK_BYTES", 8)


def test_chunked_parse_matches_and_keeps_order(tmp_path, tiny_chunks):
    rng = np.random.default_rng(1)
    edges = rng.integers(0, 1000, size=(3000, 2))
    lines = [f"{a} {b}" for a, b in edges]
    lines[10:10] = ["# a comment", "", "   "]
    path = _write(tmp_path, "\n".join(lines))  # no final newline
    src, dst, w = read_edge_list(path)
    assert np.array_equal(src, edges[:, 0]) and np.array_equal(dst, edges[:, 1]) and w is None


@pytest.mark.parametrize(
    "bad_line, bad_text, what",
    [(2500, "7 x", "integer ids"), (1500, "7 8 1.0", "weight column"), (2999, "1 2 3 4", "three columns")],
)
def test_chunked_errors_name_the_global_line(tmp_path, tiny_chunks, bad_line, bad_text, what):
    lines = [f"{i} {i + 1}" for i in range(3000)]
    lines[bad_line - 1] = bad_text
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"line {bad_line}: .*{what}.*'{bad_text}'"):
        read_edge_list(path)


def test_chunked_weights_mixed_across_chunks(tmp_path, tiny_chunks):
    lines = [f"{i} {i + 1} 0.5" for i in range(2000)] + ["# switch", "5 6"]
    path = _write(tmp_path, "\n".join(lines))
    with pytest.raises(ValueError, match="line 2002: some lines have a weight"):
        read_edge_list(path)
    weighted = _write(tmp_path, "\n".join(lines[:2000]), name="w.edgelist")
    _, _, w = read_edge_list(weighted)
    assert w.shape == (2000,) and np.all(w == 0.5)
