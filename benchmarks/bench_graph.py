"""Graph construction and persistence: COO -> CSR build time, save time, memory-mapped open time.

Issue target: 120 M edges build in under a minute on 2 cores; a saved graph opens in seconds
without reading it all.

    python benchmarks/bench_graph.py [--nodes 2000000] [--edges 120000000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import format_table, write_result
from graphsys import Graph


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=120_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    src = rng.integers(0, args.nodes, args.edges)
    dst = rng.integers(0, args.nodes, args.edges)
    Graph.from_coo(src[:1000], dst[:1000], args.nodes)  # compile the numba kernels outside the timing

    rows = []
    graph, secs = timed(lambda: Graph.from_coo(src, dst, args.nodes))
    rows.append({"step": "from_coo", "edges": graph.num_edges, "seconds": secs})
    deduped, secs = timed(lambda: Graph.from_coo(src, dst, args.nodes, dedup=True, drop_self_loops=True))
    rows.append({"step": "from_coo dedup+drop_self_loops", "edges": deduped.num_edges, "seconds": secs})
    del deduped
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        _, secs = timed(lambda: graph.save(Path(tmp) / "g"))
        rows.append({"step": "save", "edges": graph.num_edges, "seconds": secs})
        opened, secs = timed(lambda: Graph.load(Path(tmp) / "g"))
        rows.append({"step": "load (mmap)", "edges": opened.num_edges, "seconds": secs})
        del opened
    print(format_table(rows))
    write_result("graph_build", {"nodes": args.nodes, "edges": args.edges}, rows)


if __name__ == "__main__":
    main()
