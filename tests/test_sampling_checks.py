"""Shared checks of a SamplerOutput against its CSR (used by the sampler tests on every placement)."""
from __future__ import annotations

import numpy as np
import torch


def random_csr(rng: np.random.Generator, num_nodes: int, num_edges: int, index_dtype=torch.int32):
    """A random in-neighbour CSR (repeated edges and self-loops allowed) as CPU tensors."""
    dst = rng.integers(0, num_nodes, num_edges)
    src = rng.integers(0, num_nodes, num_edges)
    order = np.argsort(dst, kind="stable")
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=num_nodes), out=indptr[1:])
    return torch.from_numpy(indptr), torch.from_numpy(src[order]).to(index_dtype)


def check_output(out, indptr, indices, seeds, fanouts, replace):
    """Assert every property of the sampler contract; return per-hop edge ranges."""
    indptr = indptr.cpu().numpy()
    indices = indices.cpu().numpy().astype(np.int64)
    node = out.node.cpu().numpy()
    row, col, edge = (t.cpu().numpy() for t in (out.row, out.col, out.edge))
    for t in (out.node, out.row, out.col, out.edge):
        assert t.dtype == torch.int64
    seeds = np.asarray(seeds.cpu(), dtype=np.int64)
    hops = len(fanouts)
    assert len(out.num_sampled_nodes) == hops + 1 and len(out.num_sampled_edges) == hops
    assert sum(out.num_sampled_nodes) == node.size and sum(out.num_sampled_edges) == row.size
    assert row.size == col.size == edge.size
    assert out.num_sampled_nodes[0] == seeds.size
    np.testing.assert_array_equal(node[: seeds.size], seeds)
    new = node[seeds.size :]
    assert np.unique(new).size == new.size, "a node appears twice"
    assert not np.isin(new, seeds).any(), "a seed reappears as a new node"
    node_bounds = np.concatenate([[0], np.cumsum(out.num_sampled_nodes)])
    edge_bounds = np.concatenate([[0], np.cumsum(out.num_sampled_edges)])
    # Every sampled edge exists: indices[edge] is the source, and edge lies in the target's row.
    np.testing.assert_array_equal(indices[edge], node[row])
    targets = node[col]
    assert ((edge >= indptr[targets]) & (edge < indptr[targets + 1])).all()
    for h, fanout in enumerate(fanouts):
        lo, hi = edge_bounds[h], edge_bounds[h + 1]
        f_lo, f_hi = node_bounds[h], node_bounds[h + 1]
        c, r, e = col[lo:hi], row[lo:hi], edge[lo:hi]
        assert ((c >= f_lo) & (c < f_hi)).all(), f"hop {h}: a target outside the hop's frontier"
        assert (r < node_bounds[h + 2]).all(), f"hop {h}: a source not yet sampled"
        assert (np.diff(c) >= 0).all(), f"hop {h}: edges not grouped by target"
        # New nodes of this hop: the unseen sources in order of first appearance.
        _, first = np.unique(node[r], return_index=True)
        appeared = node[r][np.sort(first)]
        seen = node[: node_bounds[h + 1]]
        expected_new = appeared[~np.isin(appeared, seen)]
        np.testing.assert_array_equal(node[node_bounds[h + 1] : node_bounds[h + 2]], expected_new)
        counts = np.bincount(c - f_lo, minlength=f_hi - f_lo)
        degree = indptr[node[f_lo:f_hi] + 1] - indptr[node[f_lo:f_hi]]
        if fanout < 0:
            np.testing.assert_array_equal(counts, degree)
        elif replace:
            np.testing.assert_array_equal(counts, np.where(degree > 0, fanout, 0))
        else:
            np.testing.assert_array_equal(counts, np.minimum(degree, fanout))
        if not replace:
            pairs = np.stack([c, e])
            assert np.unique(pairs, axis=1).shape[1] == c.size, f"hop {h}: a neighbour position drawn twice"
    return edge_bounds
