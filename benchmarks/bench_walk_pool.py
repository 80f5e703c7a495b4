"""DeepWalk pool producer on the CPU: ``SampleProducer.fill`` at P = 1, 2, 4 partitions.

The Youtube-like community graph of ``bench_embed.py`` (1.1 M nodes, 2.5 M undirected edges
stored both ways, 10 K communities, 70 % homophily, exponent 2.2), walk length 40,
augmentation step 5. For each thread count (numba and torch threads set alike) every ``P``
fills one untimed pool first (numba compile, first touch of the buffers), then the ``P``
values take turns, pool after pool, so that a load change on a shared machine hits them all
alike. Reported per ``P``: the median fill (and the part of it spent in
:func:`embedding.walk_pool.walk_pool`, the rest being the start-edge draw), samples per second
and nanoseconds per sample per thread (wall time x threads / samples).

    PYTHONPATH=. python benchmarks/bench_walk_pool.py                          # 2-core dev machine: 20 M-sample pools
    PYTHONPATH=. python benchmarks/bench_walk_pool.py --pool-size 100000000  # the H200 host's pool size
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from unittest import mock

import numba
import torch

from benchmarks.common import format_table, write_result
from embedding import EmbeddingConfig, degree_balanced_partition
from embedding import walk_pool as walk_pool_module
from embedding.producer import SampleProducer


def build_graph(args) -> tuple[torch.Tensor, torch.Tensor]:
    from graphsys.datasets.generator import GraphSpec, community_graph

    nodes, communities = int(args.nodes * args.scale), max(2, int(args.communities * args.scale))
    sizes = tuple(nodes // communities + (1 if c < nodes % communities else 0) for c in range(communities))
    spec = GraphSpec(nodes, int(args.edges * args.scale), sizes, exponent=args.exponent, homophily=args.homophily)
    graph = community_graph(spec, seed=0).graph
    return graph.indptr, graph.indices


class WalkPoolTimer:
    """Wraps :func:`embedding.walk_pool.walk_pool` where the producer calls it, adding up its wall time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._inner = walk_pool_module.walk_pool

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_100_000)
    parser.add_argument("--edges", type=int, default=2_500_000, help="undirected edges (stored both ways)")
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--exponent", type=float, default=2.2)
    parser.add_argument("--homophily", type=float, default=0.7)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies nodes and edges")
    parser.add_argument("--walk-length", type=int, default=40)
    parser.add_argument("--augmentation-step", type=int, default=5)
    parser.add_argument("--pool-size", type=int, default=20_000_000, help="samples per pool")
    parser.add_argument("--partitions", default="1,2,4", help="comma-separated P values")
    parser.add_argument("--threads", default=f"{os.cpu_count()},1", help="comma-separated thread counts")
    parser.add_argument("--pools", type=int, default=9, help="timed pools per P and thread count")
    args = parser.parse_args()
    partitions = [int(p) for p in args.partitions.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    t0 = time.perf_counter()
    indptr, indices = build_graph(args)
    build_s = time.perf_counter() - t0
    degree = (indptr[1:] - indptr[:-1]).double()
    producers = {}
    for p in partitions:
        config = EmbeddingConfig(num_partitions=p, walk_length=args.walk_length,
                                 augmentation_step=args.augmentation_step, pool_size=args.pool_size, seed=0)
        producers[p] = SampleProducer(indptr, indices, degree_balanced_partition(degree, p), config)
    capacity = max(producer.capacity_for(args.pool_size) for producer in producers.values())
    heads, tails = torch.empty(capacity, dtype=torch.int32), torch.empty(capacity, dtype=torch.int32)

    timer = WalkPoolTimer()
    load_before = os.getloadavg()
    rows = []
    with mock.patch("embedding.producer.walk_pool", timer):
        for n in threads:
            numba.set_num_threads(n)
            torch.set_num_threads(n)
            fill_s = {p: [] for p in partitions}
            pool_s = {p: [] for p in partitions}
            samples = {}
            for p, producer in producers.items():  # compile, fault the buffers in
                capacity_p = producer.capacity_for(args.pool_size)
                samples[p] = producer.fill(0, heads[:capacity_p], tails[:capacity_p]).num_samples
            for k in range(1, args.pools + 1):
                for p, producer in producers.items():
                    capacity_p = producer.capacity_for(args.pool_size)
                    timer.seconds = 0.0
                    t0 = time.perf_counter()
                    made = producer.fill(k, heads[:capacity_p], tails[:capacity_p]).num_samples
                    fill_s[p].append(time.perf_counter() - t0)
                    pool_s[p].append(timer.seconds)
                    samples[p] = made
            for p in partitions:
                fill = statistics.median(fill_s[p])
                walk = statistics.median(pool_s[p])
                rows.append({
                    "threads": n, "P": p, "samples": samples[p], "fill_ms": 1e3 * fill,
                    "fill_best_ms": 1e3 * min(fill_s[p]), "walk_pool_ms": 1e3 * walk,
                    "samples/s": samples[p] / fill, "ns/sample/thread": 1e9 * fill * n / samples[p],
                    "walk_pool ns/sample/thread": 1e9 * walk * n / samples[p],
                    f"vs P={partitions[0]}": fill / statistics.median(fill_s[partitions[0]]),
                })
    load_after = os.getloadavg()
    figures = {
        "nodes": int(indptr.numel() - 1), "edges_stored": int(indices.numel()), "graph_build_s": build_s,
        "walk_length": args.walk_length, "augmentation_step": args.augmentation_step, "pool_size": args.pool_size,
        "pools_timed": args.pools, "load_average_before": load_before, "load_average_after": load_after,
        "numba": numba.__version__, "numba_threading_layer": numba.threading_layer(),
    }
    print(f"graph: {figures['nodes']} nodes, {figures['edges_stored']} stored edges ({build_s:.1f} s); "
          f"load average before {load_before}, after {load_after}")
    print(format_table(rows))
    write_result("walk_pool", figures, rows)


if __name__ == "__main__":
    main()
