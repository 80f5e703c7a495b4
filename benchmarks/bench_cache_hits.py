"""Hit rate of a feature cache by ranking: which rows should a 20% cache hold? (any machine)

A [15, 10, 5] neighbour sampler's batches (batch 1024, training seeds) are gathered through a
``zerocopy.UnifiedTensor`` cache holding ``--cache-fraction`` of the rows, ranked by:

* ``in-degree``: the length of each node's own in-neighbour list (``indptr`` differences);
* ``out-degree``: how many in-neighbour lists hold the node (``zerocopy.degree_ranking``), which
  is what the sampler's draws follow;
* ``visits, k epochs``: how often each row appeared in ``k`` presampled epochs (other seeds).

The hit rate is the cache's own count (``cache_stats``) over ``--batches`` batches of an epoch that
no ranking saw. On an undirected graph (synthetic-products) the two degrees are the same; the
papers100M preset is directed.

    PYTHONPATH=. python benchmarks/bench_cache_hits.py --dataset synthetic-papers100m --scale 0.1
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import format_table, write_result  # noqa: E402
from graphsys.datasets import load  # noqa: E402
from sampling import NeighborSampler  # noqa: E402
from zerocopy import UnifiedTensor, degree_ranking, visit_ranking  # noqa: E402


def epoch_node_sets(ds, fanouts: list[int], batch_size: int, seed: int, limit: int | None = None) -> list[torch.Tensor]:
    """The node ids each batch of one epoch gathers (seeds shuffled with ``seed``)."""
    graph = ds.graph
    sampler = NeighborSampler(graph.indptr, graph.indices, fanouts, seed=seed, validate=False)
    seeds = ds.train_idx[torch.randperm(ds.train_idx.numel(), generator=torch.Generator().manual_seed(seed))]
    starts = list(range(0, seeds.numel(), batch_size))[:limit]
    return [sampler.sample(seeds[s : s + batch_size]).node for s in starts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic-papers100m")
    parser.add_argument("--scale", type=float, default=0.1,
                        help="synthetic datasets only: size multiplier (pass 1 for a fixed-size dataset)")
    parser.add_argument("--root", default=None, help="dataset cache folder (default: generate in memory)")
    parser.add_argument("--fanouts", default="15,10,5")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=60, help="batches of the measured epoch")
    parser.add_argument("--cache-fraction", type=float, default=0.2)
    parser.add_argument("--visit-epochs", default="1,3", help="presampled epochs of each visit-count ranking")
    args = parser.parse_args()
    fanouts = [int(f) for f in args.fanouts.split(",")]

    ds = load(args.dataset, root=args.root, scale=args.scale, seed=0, quiet=True)
    graph, n = ds.graph, ds.graph.num_nodes
    table = UnifiedTensor(ds.x, pin=False)
    row_bytes = ds.x[0].numel() * ds.x.element_size()
    budget = int(args.cache_fraction * n) * row_bytes + 4 * n
    measured = epoch_node_sets(ds, fanouts, args.batch_size, seed=1, limit=args.batches)

    rankings = {"in-degree": lambda: graph.in_degrees(), "out-degree": lambda: degree_ranking(graph.indices, n)}
    for k in (int(e) for e in args.visit_epochs.split(",") if e):
        rankings[f"visits, {k} presampled epoch(s)"] = lambda k=k: visit_ranking(
            (nodes for e in range(k) for nodes in epoch_node_sets(ds, fanouts, args.batch_size, seed=100 + e)), n)
    rows = []
    for name, rank in rankings.items():
        start = time.perf_counter()
        ranking = rank()
        ranking_s = time.perf_counter() - start
        table.enable_cache(budget, ranking, "cpu")
        for nodes in measured:
            table.gather(nodes)
        stats = table.cache_stats()
        rows.append({"ranking": name, "hit_rate": stats.hit_rate, "cached_rows": stats.cached_rows,
                     "rows_gathered": stats.hits + stats.misses, "ranking_s": ranking_s})
        print(rows[-1], flush=True)
    figures = {"dataset": args.dataset, "scale": args.scale, "num_nodes": n, "num_edges": graph.num_edges,
               "in_and_out_degrees_equal": bool(torch.equal(graph.in_degrees(), degree_ranking(graph.indices, n))),
               "batches": len(measured), "cache_fraction": args.cache_fraction, "fanouts": fanouts}
    print(format_table(rows, ["ranking", "hit_rate", "cached_rows", "rows_gathered", "ranking_s"]))
    write_result(f"cache_hits_{args.dataset}", figures, rows)


if __name__ == "__main__":
    main()
