"""Sampling benchmark: sampled edges per second (SEPS) of every NeighborSampler placement,
random-walk steps per second, negative draws per second, side by side in one run.

Graphs: the CPU rows use a Chung-Lu power-law graph (degree exponent 2.5; default 2 M
nodes, 20 M undirected edges); the GPU rows a products-sized one (2.45 M nodes, 62 M
undirected = 124 M directed edges). Both come from ``graphsys.datasets`` when it has
``chung_lu``, else from a numpy Chung-Lu defined here. The GPU rows also time the
plain vectorized-torch sampler of DESIGN.md (with replacement, ``torch.unique`` per hop) as
the floor to clear.

Usage:
    PYTHONPATH=. python benchmarks/bench_sampling.py --part cpu --threads 2
    PYTHONPATH=. python benchmarks/bench_sampling.py --part gpu
    PYTHONPATH=. python benchmarks/bench_sampling.py --small       # seconds, any machine
    PYTHONPATH=. python benchmarks/bench_sampling.py --part modes --threads 2   # device run
    PYTHONPATH=. python benchmarks/bench_sampling.py --part modes --small       # smoke, any machine

``--part modes`` (issue 19): on the products-sized graph, uniform, weighted (random positive
weights), temporal (random edge times, rows sorted by time, every seed at the median time) and
disjoint sampling, side by side with the CSR in GPU memory, in pinned memory (UVA) and on the CPU
(``--threads``); ``*_vs_uniform`` divides each mode's SEPS by the uniform row's of its placement
(the issue asks weighted and temporal for at least 0.5).
"""
from __future__ import annotations

import argparse
import logging
import os
import time

import numba
import numpy as np
import torch

from benchmarks.common import format_table, write_result
from sampling import AliasTable, NeighborSampler, random_walk

log = logging.getLogger("bench_sampling")

PRODUCTS_NODES, PRODUCTS_EDGES = 2_449_029, 61_859_140
# Reference figures quoted by the issue (not measured here): DGL 2.1 / pecanpy on 2 cores.
REFERENCE = {"dgl_cpu_seps": 24.1e6, "dgl_walk_steps": 5.0e6, "pecanpy_walk_steps": 9.7e6}


def _numpy_chung_lu(num_nodes: int, num_edges: int, exponent: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Endpoints drawn by weight ``(i + 1) ** (-1 / (exponent - 1))``, self-loops dropped, both directions."""
    rng = np.random.default_rng(seed)
    weights = (np.arange(num_nodes, dtype=np.float64) + 1.0) ** (-1.0 / (exponent - 1.0))
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    perm = rng.permutation(num_nodes)
    src = perm[np.searchsorted(cdf, rng.random(num_edges))]
    dst = perm[np.searchsorted(cdf, rng.random(num_edges))]
    keep = src != dst
    src, dst = src[keep], dst[keep]
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=num_nodes) + np.bincount(src, minlength=num_nodes), out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    _scatter_both_ways(src, dst, indptr[:-1].copy(), indices)
    return torch.from_numpy(indptr), torch.from_numpy(indices)


@numba.njit(cache=True)
def _scatter_both_ways(src, dst, fill, indices):
    """Counting-sort placement of ``src -> dst`` and ``dst -> src`` into the in-neighbour CSR."""
    for e in range(src.shape[0]):
        indices[fill[dst[e]]] = src[e]
        fill[dst[e]] += 1
        indices[fill[src[e]]] = dst[e]
        fill[src[e]] += 1


def chung_lu_csr(num_nodes: int, num_edges: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(indptr, indices, source)`` of a Chung-Lu graph, exponent 2.5, ``num_edges`` undirected edges."""
    try:
        from graphsys.datasets.generator import chung_lu

        graph = chung_lu(num_nodes, num_edges, exponent=2.5, seed=seed)
        return graph.indptr, graph.indices, "graphsys.datasets.generator.chung_lu (exponent 2.5)"
    except Exception:  # the generator is optional here: fall back to the numpy one
        log.exception("graphsys.datasets.generator.chung_lu unavailable; using the numpy Chung-Lu")
    indptr, indices = _numpy_chung_lu(num_nodes, num_edges, 2.5, seed)
    return indptr, indices, "bench_sampling numpy Chung-Lu (exponent 2.5)"


def torch_baseline_sample(indptr: torch.Tensor, indices: torch.Tensor, seeds: torch.Tensor, fanouts, gen) -> int:
    """DESIGN.md's floor: vectorized torch, with replacement, ``torch.unique`` per hop. Returns edges."""
    frontier, seen, edges = seeds, seeds, 0
    for fanout in fanouts:
        start = indptr[frontier]
        deg = indptr[frontier + 1] - start
        has = deg > 0
        start, deg = start[has], deg[has]
        r = torch.rand(start.numel(), fanout, device=seeds.device, generator=gen)
        nbr = indices[start[:, None] + (r * deg[:, None]).long()].long().flatten()
        edges += nbr.numel()
        merged, inverse = torch.unique(torch.cat([seen, nbr]), return_inverse=True)
        frontier = merged[~torch.isin(merged, seen)]
        seen = torch.cat([seen, frontier])
    return edges


def _time_batches(fn, batches, sync) -> tuple[float, int, float]:
    """Wall seconds, total edges and this process's CPU seconds (all threads) over ``batches``."""
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    edges = 0
    for seeds in batches:
        edges += fn(seeds)
    sync()
    return time.perf_counter() - t0, edges, time.process_time() - c0


def _seed_batches(num_nodes: int, batch: int, count: int, device, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_nodes, generator=gen)
    return [perm[(i * batch) % (num_nodes - batch) :][:batch].to(device) for i in range(count)]


def _edge_count(out) -> int:
    """Sampled edges of an output, over every edge type of a heterogeneous one (no sync: sizes are known)."""
    edges = out.num_edges
    return sum(edges.values()) if isinstance(edges, dict) else edges


def _sampler_row(name, graph, sampler, batches, warmup, sync, target=None) -> dict:
    for seeds in warmup:
        sampler.sample(seeds)
    load = os.getloadavg()[0]
    seconds, edges, cpu = _time_batches(lambda s: _edge_count(sampler.sample(s)), batches, sync)
    return {
        "path": name, "graph": graph, "batches": len(batches), "edges_per_batch": edges / len(batches),
        "ms_per_batch": 1e3 * seconds / len(batches), "rate": edges / seconds, "unit": "sampled edges/s",
        "target": target, "cpu_s_per_batch": cpu / len(batches), "load_avg_1m": load,
    }


def bench_cpu(args, figures, rows) -> None:
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))  # the samplers' pool size
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    indptr, indices, source = chung_lu_csr(args.cpu_nodes, args.cpu_edges)
    figures["cpu_graph"] = {"source": source, "nodes": indptr.numel() - 1, "directed_edges": indices.numel(),
                            "build_s": time.perf_counter() - t0}
    graph = f"Chung-Lu {indptr.numel() - 1:,} n / {indices.numel():,} e"
    fanouts = args.fanouts
    sampler = NeighborSampler(indptr, indices, fanouts, seed=0)
    batches = _seed_batches(indptr.numel() - 1, args.batch_size, args.batches + 3, "cpu", 1)
    row = _sampler_row(f"NeighborSampler cpu ({args.threads} threads)", graph, sampler, batches[3:], batches[:3],
                       lambda: None, REFERENCE["dgl_cpu_seps"])
    rows.append(row)
    figures["cpu_seps"] = row["rate"]
    gen = torch.Generator().manual_seed(2)
    starts = torch.randint(0, indptr.numel() - 1, (args.walk_starts,), generator=gen)
    walks = (("uniform (DeepWalk)", 1.0, 1.0, "walk_steps_per_s", 2 * REFERENCE["dgl_walk_steps"]),
             ("node2vec p=0.5 q=2", 0.5, 2.0, "node2vec_steps_per_s", None))
    for label, p, q, key, target in walks:
        random_walk(indptr, indices, starts[:1000], 4, p=p, q=q)  # compile
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        walks = random_walk(indptr, indices, starts, args.walk_length, p=p, q=q, seed=3, validate=False)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps = int((walks[:, 1:] >= 0).sum())
        figures[key] = steps / seconds
        rows.append({"path": f"random_walk {label}, {args.threads} threads", "graph": graph, "batches": 1,
                     "edges_per_batch": steps, "ms_per_batch": 1e3 * seconds, "rate": steps / seconds,
                     "unit": "walk steps/s", "target": target, "cpu_s_per_batch": cpu, "load_avg_1m": load})
    rows.append(_negatives_row(indptr, "cpu", graph, args))
    figures["cpu_negatives_per_s"] = rows[-1]["rate"]


def _negatives_row(indptr: torch.Tensor, device: str, graph: str, args) -> dict:
    degree = (indptr[1:] - indptr[:-1]).double()
    table = AliasTable(degree.pow(0.75), device, seed=0)
    n = args.negatives
    table.sample(n)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(5):
        table.sample(n)
    sync()
    seconds = (time.perf_counter() - t0) / 5
    return {"path": f"AliasTable.sample {device} (degree^0.75)", "graph": graph, "batches": 5, "edges_per_batch": n,
            "ms_per_batch": 1e3 * seconds, "rate": n / seconds, "unit": "draws/s", "target": None}


def bench_gpu(args, figures, rows) -> None:
    t0 = time.perf_counter()
    indptr, indices, source = chung_lu_csr(args.gpu_nodes, args.gpu_edges)
    num_nodes = indptr.numel() - 1
    figures["gpu_graph"] = {"source": source, "nodes": num_nodes, "directed_edges": indices.numel(),
                            "build_s": time.perf_counter() - t0}
    graph = f"Chung-Lu {num_nodes:,} n / {indices.numel():,} e"
    dev = torch.device("cuda")
    sync = torch.cuda.synchronize
    batches = _seed_batches(num_nodes, args.batch_size, args.batches + 10, dev, 1)
    warm, timed = batches[:10], batches[10:]
    placed = {"cuda": (indptr.to(dev), indices.to(dev)), "pinned": (indptr.pin_memory(), indices.pin_memory())}
    targets = {"cuda": 1e9, "pinned": 3e8}
    for placement, (ip, ix) in placed.items():
        for graphed in (False, True):
            for replace in (False, True):
                label = f"{placement}{' replace' if replace else ''}{' cuda_graph' if graphed else ''}"
                try:
                    sampler = NeighborSampler(ip, ix, args.fanouts, replace=replace, seed=0, cuda_graph=graphed)
                    row = _sampler_row(f"NeighborSampler {label}", graph, sampler, timed, warm, sync,
                                       targets[placement])
                except Exception as exc:  # keep the other rows when one path fails on the device
                    log.exception("%s failed", label)
                    row = {"path": f"NeighborSampler {label}", "graph": graph, "error": repr(exc)}
                rows.append(row)
                figures[label.replace(" ", "_") + "_seps"] = row.get("rate")
    if args.profile:
        _profile(NeighborSampler(*placed["cuda"], args.fanouts, seed=0), timed[:5])
        _profile(NeighborSampler(*placed["cuda"], args.fanouts, seed=0, cuda_graph=True), timed[:5])
    ip, ix = placed["cuda"]
    gen = torch.Generator(device=dev).manual_seed(0)
    for seeds in warm:
        torch_baseline_sample(ip, ix, seeds, args.fanouts, gen)
    seconds, edges, _ = _time_batches(lambda s: torch_baseline_sample(ip, ix, s, args.fanouts, gen), timed, sync)
    rows.append({"path": "torch baseline cuda (replace + unique)", "graph": graph, "batches": len(timed),
                 "edges_per_batch": edges / len(timed), "ms_per_batch": 1e3 * seconds / len(timed),
                 "rate": edges / seconds, "unit": "sampled edges/s", "target": None})
    figures["torch_baseline_cuda_seps"] = rows[-1]["rate"]
    rows.append(_negatives_row(indptr, "cuda", graph, args))
    figures["cuda_negatives_per_s"] = rows[-1]["rate"]


def bench_hetero(args, figures, rows) -> None:
    """Heterogeneous GPU sampling on synthetic-mag240m's graph (reverse edge types added, as for
    training), seeds of type paper, against the homogeneous sampler on a Chung-Lu graph with the
    same node and edge totals and the same fanouts: what the type dimension costs."""
    from graphsys.datasets.hetero_synthetic import PRESETS, generate_graph

    dev, sync = torch.device("cuda"), torch.cuda.synchronize
    t0 = time.perf_counter()
    graph, _ = generate_graph(PRESETS["synthetic-mag240m"].at(args.mag240m_scale), seed=0)
    generated = time.perf_counter()
    graph = graph.add_reverse()
    nodes, edges = sum(graph.num_nodes_dict.values()), sum(graph.num_edges_dict.values())
    figures["hetero_graph"] = {
        "preset": "synthetic-mag240m", "scale": args.mag240m_scale, "num_nodes": graph.num_nodes_dict,
        "num_edges": {"__".join(et): n for et, n in graph.num_edges_dict.items()},
        "generate_s": generated - t0, "add_reverse_s": time.perf_counter() - generated}
    name = f"synthetic-mag240m x{args.mag240m_scale:g} ({nodes:,} n / {edges:,} e, {len(graph.edge_types)} edge types)"
    fanouts = args.hetero_fanouts
    papers = graph.num_nodes("paper")
    batches = [{"paper": b} for b in _seed_batches(papers, args.batch_size, args.batches + 10, dev, 1)]
    warm, timed = batches[:10], batches[10:]
    targets = {"cuda": 5e8, "pinned": 2e8}
    for placement in ("cuda", "pinned"):
        g = graph.to(placement)
        for graphed in (False, True):
            mode = f"{placement}{' cuda_graph' if graphed else ''}"
            label = f"hetero NeighborSampler {mode}"
            try:
                sampler = NeighborSampler({et: g.csr(et)[0] for et in g.edge_types},
                                          {et: g.csr(et)[1] for et in g.edge_types}, fanouts,
                                          num_nodes=g.num_nodes_dict, seed=0, cuda_graph=graphed)
                row = _sampler_row(label, name, sampler, timed, warm, sync, targets[placement])
            except Exception as exc:  # keep the other rows when one path fails on the device
                log.exception("%s failed", label)
                row = {"path": label, "graph": name, "error": repr(exc)}
            rows.append(row)
            figures[f"hetero_{mode.replace(' ', '_')}_seps"] = row.get("rate")
        del g
    del graph
    torch.cuda.empty_cache()
    t0 = time.perf_counter()
    indptr, indices, source = chung_lu_csr(nodes, edges // 2)
    reference = f"Chung-Lu {indptr.numel() - 1:,} n / {indices.numel():,} e (the homogeneous reference)"
    figures["hetero_reference_graph"] = {"source": source, "build_s": time.perf_counter() - t0}
    flat = _seed_batches(indptr.numel() - 1, args.batch_size, args.batches + 10, dev, 1)
    placed = {"cuda": (indptr.to(dev), indices.to(dev)), "pinned": (indptr.pin_memory(), indices.pin_memory())}
    for placement, (ip, ix) in placed.items():
        for graphed in (False, True):
            mode = f"{placement}{' cuda_graph' if graphed else ''}"
            row = _sampler_row(f"homogeneous NeighborSampler {mode}", reference,
                               NeighborSampler(ip, ix, fanouts, seed=0, cuda_graph=graphed), flat[10:], flat[:10],
                               sync)
            rows.append(row)
            key = mode.replace(" ", "_")
            figures[f"homogeneous_reference_{key}_seps"] = row["rate"]
            hetero = figures.get(f"hetero_{key}_seps")
            if hetero:
                figures[f"type_dimension_cost_{key}"] = row["rate"] / hetero


class _Mode:
    """A sampler with the seeds' times bound (temporal rows), so ``_sampler_row`` times ``sample(seeds)``."""

    def __init__(self, sampler: NeighborSampler, seed_time: int | None) -> None:
        self.sampler, self.seed_time = sampler, seed_time

    def sample(self, seeds: torch.Tensor):
        if self.seed_time is None:
            return self.sampler.sample(seeds)
        times = torch.full((seeds.numel(),), self.seed_time, dtype=torch.int64, device=seeds.device)  # as edge times
        return self.sampler.sample(seeds, times)


def _mode_sampler(mode: str, placed: dict, fanouts: list[int], seed_time: int) -> _Mode:
    """The sampler of one ``--part modes`` row over the arrays of one placement."""
    ip, ix = placed["indptr"], placed["indices"]
    if mode == "weighted":
        return _Mode(NeighborSampler(ip, ix, fanouts, seed=0, validate=False, edge_weight=placed["weight"]), None)
    if mode == "temporal":
        sampler = NeighborSampler(ip, placed["t_indices"], fanouts, seed=0, validate=False, edge_time=placed["times"])
        return _Mode(sampler, seed_time)
    return _Mode(NeighborSampler(ip, ix, fanouts, seed=0, validate=False, disjoint=mode == "disjoint"), None)


def bench_modes(args, figures, rows) -> None:
    """Uniform, weighted, temporal and disjoint SEPS on one products-sized graph: GPU memory, pinned, CPU."""
    from sampling.csr import sort_rows_by

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    indptr, indices, source = chung_lu_csr(args.gpu_nodes, args.gpu_edges)
    num_nodes, num_edges = indptr.numel() - 1, indices.numel()
    gen = torch.Generator().manual_seed(5)
    weight = torch.rand(num_edges, generator=gen) + 0.01  # random positive weights
    times = torch.randint(0, 1000, (num_edges,), generator=gen)
    order = sort_rows_by(indptr, times)  # temporal sampling reads rows sorted by time
    t_indices, t_times = indices[order], times[order]
    median = int(times.median())
    figures["modes_graph"] = {"source": source, "nodes": num_nodes, "directed_edges": num_edges,
                              "build_s": time.perf_counter() - t0, "seed_time": median,
                              "weights": "U(0.01, 1.01)", "edge_times": "randint(0, 1000)"}
    graph = f"Chung-Lu {num_nodes:,} n / {num_edges:,} e"
    placements = (["cuda", "pinned"] if torch.cuda.is_available() else []) + ["cpu"]
    for placement in placements:
        if placement == "cpu":
            dev, sync, where = torch.device("cpu"), (lambda: None), f"cpu ({args.threads} threads)"
            move = lambda t: t  # noqa: E731
        else:
            dev, sync, where = torch.device("cuda"), torch.cuda.synchronize, placement
            move = (lambda t: t.to(dev)) if placement == "cuda" else (lambda t: t.pin_memory())
        placed = {"indptr": indptr, "indices": indices, "weight": weight, "t_indices": t_indices, "times": t_times}
        placed = {k: move(t) for k, t in placed.items()}
        count = args.modes_cpu_batches if placement == "cpu" else args.batches
        batches = _seed_batches(num_nodes, args.batch_size, count + 5, dev, 1)
        modes = ("uniform", "weighted", "temporal", "disjoint")
        uniform = None
        for mode in modes:
            label = f"{mode} {where}"
            try:
                sampler = _mode_sampler(mode, placed, args.fanouts, median)
                row = _sampler_row(f"NeighborSampler {label}", graph, sampler, batches[5:], batches[:5], sync)
            except Exception as exc:  # keep the other rows when one path fails on the device
                log.exception("%s failed", label)
                row = {"path": f"NeighborSampler {label}", "graph": graph, "error": repr(exc)}
            row["mode"], row["placement"] = mode, placement
            if mode == "uniform":
                uniform = row.get("rate")
            elif uniform and row.get("rate"):
                row["vs_uniform"] = row["rate"] / uniform
                figures[f"{mode}_vs_uniform_{placement}"] = row["vs_uniform"]
            rows.append(row)
            figures[f"{mode}_{placement}_seps"] = row.get("rate")
        placed.clear()
        if placement != "cpu":
            torch.cuda.empty_cache()


def _profile(sampler: NeighborSampler, batches: list[torch.Tensor]) -> None:
    """Per-kernel GPU and host times of a few batches (torch.profiler), to $OUT/profile_sampling.txt."""
    from torch.profiler import ProfilerActivity, profile

    for seeds in batches:
        sampler.sample(seeds)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for seeds in batches:
            sampler.sample(seeds)
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=25)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "profile_sampling.txt"), "a") as fh:
            fh.write(f"{sampler!r}\n{table}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["cpu", "gpu", "hetero", "modes", "all"], default="all",
                        help="hetero: synthetic-mag240m's graph against the homogeneous sampler (GPU; not in all); "
                             "modes: uniform/weighted/temporal/disjoint on the products-sized graph, GPU, pinned "
                             "and CPU (not in all)")
    parser.add_argument("--mag240m-scale", type=float, default=0.2, help="--part hetero: the preset's scale")
    parser.add_argument("--hetero-fanouts", type=lambda s: [int(x) for x in s.split(",")], default=[25, 15],
                        help="--part hetero: fanouts per edge type (OGB-LSC's MAG240M baseline: 25,15)")
    parser.add_argument("--modes-cpu-batches", type=int, default=20,
                        help="--part modes: timed batches of the CPU rows (disjoint and temporal trees take seconds)")
    parser.add_argument("--small", action="store_true", help="tiny graphs and few batches: a smoke run in seconds")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the CPU rows")
    parser.add_argument("--fanouts", type=lambda s: [int(x) for x in s.split(",")], default=[15, 10, 5])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--cpu-nodes", type=int, default=2_000_000)
    parser.add_argument("--cpu-edges", type=int, default=20_000_000)
    parser.add_argument("--gpu-nodes", type=int, default=PRODUCTS_NODES)
    parser.add_argument("--gpu-edges", type=int, default=PRODUCTS_EDGES)
    parser.add_argument("--walk-starts", type=int, default=200_000)
    parser.add_argument("--walk-length", type=int, default=40)
    parser.add_argument("--negatives", type=int, default=10_000_000)
    parser.add_argument("--profile", action="store_true", help="print per-kernel times of 5 CUDA batches")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.small:
        args.cpu_nodes, args.cpu_edges = 20_000, 200_000
        args.gpu_nodes, args.gpu_edges = 50_000, 1_000_000
        args.batches, args.walk_starts, args.negatives = 5, 5_000, 100_000
        args.modes_cpu_batches = 5
        args.mag240m_scale = 0.0005
    figures: dict = {"fanouts": args.fanouts, "batch_size": args.batch_size, "reference_quoted": REFERENCE,
                     "numba_threads_available": numba.config.NUMBA_NUM_THREADS, "cpu_count": os.cpu_count()}
    rows: list[dict] = []
    if args.part in ("cpu", "all"):
        bench_cpu(args, figures, rows)
        figures["load_avg_after"] = os.getloadavg()
    if args.part in ("gpu", "all"):
        if torch.cuda.is_available():
            bench_gpu(args, figures, rows)
        else:
            log.info("no CUDA device: GPU rows skipped")
    if args.part == "hetero":
        if torch.cuda.is_available():
            bench_hetero(args, figures, rows)
        else:
            log.info("no CUDA device: hetero rows skipped")
    if args.part == "modes":
        bench_modes(args, figures, rows)
    name = "bench_sampling" if not args.small else "bench_sampling_small"
    if args.part != "all" and not args.small:
        name = f"bench_sampling_{args.part}"
    if args.part == "modes" and args.small:
        name = "bench_sampling_modes_small"
    path = write_result(name, figures, rows)
    columns = ["path", "edges_per_batch", "ms_per_batch", "cpu_s_per_batch", "rate", "unit", "target", "load_avg_1m"]
    if args.part == "modes":
        columns.insert(5, "vs_uniform")
    print(format_table(rows, columns))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
