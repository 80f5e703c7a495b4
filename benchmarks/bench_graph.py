"""Graph construction and persistence: COO -> CSR build time, save time, memory-mapped open time.

Issue target: 120 M edges build in under a minute on 2 cores; a saved graph opens in seconds
without reading it all.

    python benchmarks/bench_graph.py [--nodes 2000000] [--edges 120000000]

Each build runs once on 1,000 edges first, so numba's compilation is not timed.
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


BUILDS = {"from_coo": {}, "from_coo dedup+drop_self_loops": {"dedup": True, "drop_self_loops": True}}
"""The timed builds: step name -> ``Graph.from_coo`` options."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=120_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    src = rng.integers(0, args.nodes, args.edges)
    dst = rng.integers(0, args.nodes, args.edges)
    for options in BUILDS.values():  # compile every build's numba kernels outside the timing
        Graph.from_coo(src[:1000], dst[:1000], args.nodes, **options)

    rows, built = [], {}
    for step, options in BUILDS.items():
        built[step], secs = timed(lambda: Graph.from_coo(src, dst, args.nodes, **options))
        rows.append({"step": step, "edges": built[step].num_edges, "seconds": secs})
    graph = built.pop("from_coo")  # saved and reopened below
    del built
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
