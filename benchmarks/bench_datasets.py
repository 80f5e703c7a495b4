"""Dataset generation and loading speed: Chung-Lu graphs, synthetic presets, edge-list parsing.

Prints a table and writes benchmarks/results/datasets.json (datasets_small.json with --small). On the CPU:

    PYTHONPATH=. python benchmarks/bench_datasets.py                 # products at full scale, 2 M / 20 M Chung-Lu
    PYTHONPATH=. python benchmarks/bench_datasets.py --small         # a few seconds: every path at small sizes
    # papers100M: ~16 GB RAM, 37 GB disk (estimated)
    PYTHONPATH=. python benchmarks/bench_datasets.py --papers-scale 1 --root /scratch
    PYTHONPATH=. python benchmarks/bench_datasets.py --quality synthetic-arxiv:0.1,synthetic-products:0.01

``--quality`` instead measures how learnable the presets are: a 2-layer GCN and a 2-layer MLP
trained full-graph on the CPU (hidden 64, Adam lr 0.01, 60 epochs, test accuracy at the best
validation epoch) against the majority class; results/datasets_quality.json.

Each synthetic preset is timed twice: generated in memory, then generated into ``--root``
(features written straight into a memory-mapped .npy) and reopened from there twice: with every
file checked against the manifest's checksums (what ``load`` does) and with sizes only.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import format_table, write_result  # noqa: E402
from graphsys.datasets import chung_lu, load  # noqa: E402
from graphsys.datasets.cache import open_dataset, read_meta  # noqa: E402
from graphsys.datasets.edgelist import read_edge_list  # noqa: E402
from graphsys.datasets.synthetic import cache_dir  # noqa: E402


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _warm_up() -> None:
    """Compile every numba kernel once (numba caches them on disk), so timings exclude compilation."""
    chung_lu(500, 2000, seed=0)
    load("synthetic-arxiv", scale=0.002)
    load("synthetic-products", scale=0.001)


def bench_chung_lu(num_nodes: int, num_edges: int) -> dict:
    graph, seconds = _timed(lambda: chung_lu(num_nodes, num_edges, exponent=2.5, seed=0))
    deg = graph.in_degrees().numpy()
    return {"what": "chung_lu(exponent=2.5)", "nodes": graph.num_nodes, "edges": graph.num_edges,
            "seconds": seconds, "Medges_per_s": graph.num_edges / seconds / 1e6,
            "max_degree": int(deg.max()), "median_degree": float(np.median(deg)), "peak_rss_gb": _peak_rss_gb()}


def bench_preset(name: str, scale: float, root: Path | None) -> list[dict]:
    rows = []
    if root is None:
        ds, seconds = _timed(lambda: load(name, scale=scale, seed=0))
        rows.append({"what": f"{name} scale {scale:g} in memory", "nodes": ds.num_nodes,
                     "edges": ds.graph.num_edges, "seconds": seconds,
                     "Medges_per_s": ds.graph.num_edges / seconds / 1e6, "peak_rss_gb": _peak_rss_gb()})
        return rows
    if read_meta(cache_dir(root, name, scale, 0)) is None:
        ds, seconds = _timed(lambda: load(name, root, scale=scale, seed=0))
        rows.append({"what": f"{name} scale {scale:g} generate into root", "nodes": ds.num_nodes,
                     "edges": ds.graph.num_edges, "seconds": seconds,
                     "Medges_per_s": ds.graph.num_edges / seconds / 1e6, "peak_rss_gb": _peak_rss_gb()})
        del ds
    else:
        rows.append({"what": f"{name} scale {scale:g} was already in root (not timed)"})
    target = cache_dir(root, name, scale, 0)
    size_gb = sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) / 1e9
    ds, seconds = _timed(lambda: load(name, root, scale=scale, seed=0))
    rows.append({"what": f"{name} scale {scale:g} reopen (mmap, checksums verified)", "nodes": ds.num_nodes,
                 "edges": ds.graph.num_edges, "seconds": seconds, "MB_per_s": size_gb * 1e3 / seconds,
                 "peak_rss_gb": _peak_rss_gb()})
    ds, seconds = _timed(lambda: open_dataset(target, checksums=False))
    rows.append({"what": f"{name} scale {scale:g} reopen (mmap, sizes only)", "nodes": ds.num_nodes,
                 "edges": ds.graph.num_edges, "seconds": seconds, "peak_rss_gb": _peak_rss_gb()})
    return rows


def seconds_by_row(rows: list[dict]) -> dict:
    """``{"<what> seconds": seconds}`` of the timed rows (a preset found in ``--root`` is not timed)."""
    return {f"{row['what']} seconds": row["seconds"] for row in rows if "seconds" in row}


def bench_edge_list(num_edges: int, folder: Path) -> dict:
    rng = np.random.default_rng(0)
    edges = rng.integers(0, 10 * num_edges // 8, size=(num_edges, 2))
    path = folder / "bench.edgelist"
    np.savetxt(path, edges, fmt="%d", delimiter="\t")
    size_mb = path.stat().st_size / 1e6
    (src, _, _), seconds = _timed(lambda: read_edge_list(path))
    assert src.shape[0] == num_edges
    path.unlink()
    return {"what": "edge-list parse (src<TAB>dst)", "edges": num_edges, "seconds": seconds,
            "Medges_per_s": num_edges / seconds / 1e6, "MB_per_s": size_mb / seconds}


def _fit(ds, model: torch.nn.Module, forward, epochs: int) -> float:
    """Test accuracy at the epoch of best validation accuracy (evaluated every 5 epochs)."""
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, test_at_best = -1.0, 0.0
    for epoch in range(epochs):
        model.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward()[ds.train_idx], ds.y[ds.train_idx]).backward()
        opt.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            model.eval()
            with torch.no_grad():
                pred = forward().argmax(dim=1)
            val = (pred[ds.val_idx] == ds.y[ds.val_idx]).float().mean().item()
            if val > best_val:
                best_val, test_at_best = val, (pred[ds.test_idx] == ds.y[ds.test_idx]).float().mean().item()
    return test_at_best


def bench_quality(name: str, scale: float, epochs: int = 60, hidden: int = 64) -> dict:
    from torch_geometric.nn import GCNConv

    ds = load(name, scale=scale, seed=0)
    x, edge_index = ds.x.float(), ds.graph.to_edge_index()
    torch.manual_seed(0)
    convs = torch.nn.ModuleList([GCNConv(ds.num_features, hidden, cached=True),
                                 GCNConv(hidden, ds.num_classes, cached=True)])

    def gcn():
        h = torch.nn.functional.dropout(torch.relu(convs[0](x, edge_index)), 0.5, convs.training)
        return convs[1](h, edge_index)

    mlp = torch.nn.Sequential(torch.nn.Linear(ds.num_features, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                              torch.nn.Linear(hidden, ds.num_classes))
    (gcn_acc, gcn_s), (mlp_acc, mlp_s) = (_timed(lambda: _fit(ds, convs, gcn, epochs)),
                                          _timed(lambda: _fit(ds, mlp, lambda: mlp(x), epochs)))
    majority = torch.bincount(ds.y[ds.train_idx]).argmax()
    return {"dataset": name, "scale": scale, "nodes": ds.num_nodes, "edges": ds.graph.num_edges,
            "train": ds.train_idx.numel(), "gcn_test_acc": gcn_acc, "mlp_test_acc": mlp_acc,
            "majority_test_acc": (ds.y[ds.test_idx] == majority).float().mean().item(),
            "gcn_seconds": gcn_s, "mlp_seconds": mlp_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small sizes: checks every path in seconds")
    parser.add_argument("--products-scale", type=float, default=1.0)
    parser.add_argument("--arxiv-scale", type=float, default=1.0)
    parser.add_argument("--papers-scale", type=float, default=0.0, help="0 skips synthetic-papers100m")
    parser.add_argument("--chung-lu", default="2000000,20000000", help="NODES,EDGES (undirected) of the Chung-Lu run")
    parser.add_argument("--edge-list-edges", type=int, default=10_000_000)
    parser.add_argument("--quality", default=None, metavar="NAME:SCALE,...",
                        help="measure GCN / MLP / majority test accuracy on these presets instead of speed")
    parser.add_argument("--root", default=None,
                        help="keep generated presets here (a preset already there is only reopened); "
                             "default: a temporary folder, removed at the end")
    args = parser.parse_args()
    if args.small:
        args.products_scale, args.arxiv_scale = 0.01, 0.05
        args.papers_scale = 1e-4
        args.chung_lu, args.edge_list_edges = "100000,1000000", 500_000
    nodes, edges = (int(v) for v in args.chung_lu.split(","))
    if args.quality:
        torch.set_num_threads(1)  # small dense layers: one thread is fastest and does not spin on busy cores
        rows = [bench_quality(item.split(":")[0], float(item.split(":")[1])) for item in args.quality.split(",")]
        print(format_table(rows))
        print(f"wrote {write_result('datasets_quality', {'epochs': 60, 'hidden': 64}, rows)}")
        return

    _warm_up()
    rows = [bench_chung_lu(nodes, edges)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp)
        rows += bench_preset("synthetic-arxiv", args.arxiv_scale, None)
        rows += bench_preset("synthetic-products", args.products_scale, None)
        rows += bench_preset("synthetic-products", args.products_scale, root)
        if args.papers_scale > 0:
            rows += bench_preset("synthetic-papers100m", args.papers_scale, root)
        rows.append(bench_edge_list(args.edge_list_edges, Path(tmp)))
    columns = ["what", "nodes", "edges", "seconds", "Medges_per_s", "MB_per_s", "max_degree", "median_degree",
               "peak_rss_gb"]
    print(format_table(rows, columns))
    figures = {"load_average_1min_at_end": os.getloadavg()[0],
               "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", 0)) or os.cpu_count()}
    figures.update(seconds_by_row(rows))
    # a smoke run keeps datasets.json
    path = write_result("datasets_small" if args.small else "datasets", figures, rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
