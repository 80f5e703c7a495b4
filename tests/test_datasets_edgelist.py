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
