"""``graphsys data``: describe datasets (``info``, ``list``), generate synthetic ones (``generate``) and
renumber one for locality (``reorder``)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from graphsys.cli import CommandError, check_output_path, check_scale


def register(subparsers) -> None:
    """Add the ``data`` subcommand and its ``list``, ``info`` and ``generate`` actions."""
    p = subparsers.add_parser("data", help="list, describe and generate datasets",
                              description="List, describe and generate datasets.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="the dataset names graphsys knows")
    listing.set_defaults(func=_list)

    info = actions.add_parser("info", help="nodes, edges, features, classes (or metric) and split sizes of a dataset")
    info.add_argument("name", metavar="NAME", help="a dataset name (see 'graphsys data list') or an edge-list file")
    info.add_argument("--root", default=None, help="folder holding the dataset's files (synthetic: the cache)")
    info.add_argument("--scale", type=float, default=1.0, help="synthetic presets: multiply nodes and edges")
    info.add_argument("--seed", type=int, default=0, help="seed of synthetic graphs and of unsplit datasets' splits")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    info.add_argument("--quiet", action="store_true",
                      help="no progress bars (a synthetic preset not yet in --root is generated first)")
    info.set_defaults(func=_info)

    gen = actions.add_parser("generate", help="generate a synthetic preset into a folder (memory-mapped .npy files)")
    gen.add_argument("preset", metavar="PRESET", help="synthetic-arxiv, synthetic-products, synthetic-papers100m, "
                                                      "synthetic-mag, synthetic-mag240m or synthetic-citation2")
    gen.add_argument("--out", required=True, help="folder to write into (a subfolder per preset, scale and seed)")
    gen.add_argument("--scale", type=float, default=1.0, help="multiply nodes, edges and split sizes")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--quiet", action="store_true", help="no progress bars")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    gen.add_argument("--reorder", nargs="?", const="hot-rcm", default=None, metavar="METHOD",
                     help="also write a copy renumbered for locality beside it (hot-rcm when no METHOD; "
                          "see 'graphsys data reorder')")
    gen.set_defaults(func=_generate)

    reo = actions.add_parser("reorder", help="write a dataset renumbered for locality (hot rows first, RCM inside)",
                             description="Renumber a dataset's nodes so that the rows a neighbour sampler draws lie "
                                         "close in the feature table, and write it as a dataset folder (with "
                                         "original_ids.npy, the permutation) that --dataset accepts as a path.")
    reo.add_argument("name", metavar="DATASET", help="a dataset name (see 'graphsys data list') or a dataset folder")
    reo.add_argument("--root", default=None, help="folder holding the dataset's files (synthetic: the cache)")
    reo.add_argument("--out", required=True, help="the folder to write (new, empty or an earlier graphsys dataset)")
    reo.add_argument("--method", default="hot-rcm", choices=["hot-rcm", "hot", "rcm"],
                    help="hot-rcm: hot rows first by estimated draw frequency, in tiers, RCM order inside; hot: by "
                         "frequency alone; rcm: reverse Cuthill-McKee alone")
    reo.add_argument("--estimate", default="expected", choices=["expected", "degree", "sampled"],
                    help="how draw frequency is estimated (expected: fanout-weighted visits from the training seeds)")
    reo.add_argument("--fanouts", default="15,10,5", help="the sampler's fanouts the estimate assumes")
    reo.add_argument("--scale", type=float, default=1.0, help="synthetic presets: multiply nodes and edges")
    reo.add_argument("--seed", type=int, default=0, help="seed of synthetic graphs and of the sampled estimate")
    reo.add_argument("--undirected", action="store_true", help="ogbn-* datasets: store every edge both ways")
    reo.add_argument("--quiet", action="store_true", help="no progress bars")
    reo.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    reo.set_defaults(func=_reorder)


def _link_summary(ds) -> dict:
    def negatives(split) -> int | None:
        if split.target_node_neg is not None:
            return int(split.target_node_neg.shape[1])
        return None if split.edge_neg is None else int(split.edge_neg.shape[1])

    return {
        "name": ds.name,
        "task": "link",
        "nodes": ds.num_nodes,
        "edges": ds.graph.num_edges,
        "undirected": ds.undirected,
        "features": ds.num_features,
        "feature_dtype": str(ds.x.dtype).replace("torch.", "") if ds.x is not None else None,
        "metric": ds.metric,
        "train_edges": ds.train.num_edges,
        "val_edges": ds.val.num_edges,
        "test_edges": ds.test.num_edges,
        # per source (mrr: target_node_neg's width) or in all (hits@K, auc: edge_neg's count)
        "val_negatives": negatives(ds.val),
        "test_negatives": negatives(ds.test),
        "edge_weight": ds.graph.edge_weight is not None,
        "edge_year": ds.train.year is not None,
    }


def _summary(ds) -> dict:
    from graphsys.datasets import HeteroNodeDataset, LinkDataset

    if isinstance(ds, LinkDataset):
        return _link_summary(ds)
    if isinstance(ds, HeteroNodeDataset):
        return {
            "name": ds.name,
            "target": ds.target,
            "nodes": ds.num_nodes,
            "edges": {"__".join(k): v for k, v in ds.graph.num_edges_dict.items()},
            "features": {t: int(x.shape[1]) for t, x in ds.x.items()},
            "feature_dtype": {t: str(x.dtype).replace("torch.", "") for t, x in ds.x.items()},
            "featureless": ds.featureless_types,
            "classes": ds.num_classes,
            "train": ds.train_idx.numel(),
            "val": ds.val_idx.numel(),
            "test": ds.test_idx.numel(),
        }
    return {
        "name": ds.name,
        "nodes": ds.num_nodes,
        "edges": ds.graph.num_edges,
        "features": ds.num_features,
        "feature_dtype": str(ds.x.dtype).replace("torch.", "") if ds.x is not None else None,
        "classes": ds.num_classes,
        "multilabel": ds.multilabel,
        "train": ds.train_idx.numel(),
        "val": ds.val_idx.numel(),
        "test": ds.test_idx.numel(),
    }


def _print(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if isinstance(value, dict):
            print(key)
            inner = max((len(k) for k in value), default=0)
            for k, v in value.items():
                print(f"  {k:<{inner}}  {_shown(v)}")
            continue
        print(f"{key:<{width}}  {_shown(value)}")


def _shown(value):
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value


def _list(args: argparse.Namespace) -> int:
    from graphsys.datasets import names

    for name in names():
        print(name)
    return 0


def _info(args: argparse.Namespace) -> int:
    from graphsys.datasets import load

    check_scale(args.scale, args.name)
    ds = load(args.name, args.root, scale=args.scale, seed=args.seed, quiet=args.quiet or not sys.stderr.isatty())
    _print(_summary(ds), args.json)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from graphsys.datasets import cache, hetero_cache, link_cache
    from graphsys.datasets.hetero_synthetic import PRESETS as HETERO_PRESETS
    from graphsys.datasets.hetero_synthetic import generate_hetero
    from graphsys.datasets.link_synthetic import PRESETS as LINK_PRESETS
    from graphsys.datasets.link_synthetic import generate_link
    from graphsys.datasets.synthetic import PRESETS, cache_dir, generate

    kinds = {**{p: (cache.FORMAT, generate) for p in PRESETS},
             **{p: (hetero_cache.FORMAT, generate_hetero) for p in HETERO_PRESETS},
             **{p: (link_cache.FORMAT, generate_link) for p in LINK_PRESETS}}
    if args.preset not in kinds:
        raise CommandError(f"unknown preset {args.preset!r}; known: {', '.join(kinds)}")
    kind, generator = kinds[args.preset]
    check_scale(args.scale, args.preset)
    # --out holds one folder per preset, scale and seed: that folder must be new, empty or one
    # graphsys generated, and --out creatable or writable, before minutes of generation.
    check_output_path("--out", cache_dir(args.out, args.preset, args.scale, args.seed), kind, directory=True)
    start = time.perf_counter()
    if args.reorder is not None and kind != cache.FORMAT:
        raise CommandError(f"--reorder applies to node-classification presets ({', '.join(PRESETS)}), "
                           f"not {args.preset!r}")
    config = _reorder_config(args.reorder) if args.reorder is not None else None
    ds = generator(args.preset, args.out, scale=args.scale, seed=args.seed, quiet=args.quiet)
    summary = _summary(ds)
    summary["path"] = str(cache_dir(args.out, args.preset, args.scale, args.seed))
    if config is not None:
        from graphsys.datasets.reorder import load_reordered, reordered_dir

        source = {"name": args.preset, "scale": args.scale, "seed": args.seed}
        load_reordered(ds, config, args.out, source, quiet=args.quiet)
        summary["reordered_path"] = str(reordered_dir(args.out, args.preset, args.scale, args.seed, config))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    _print(summary, args.json)
    return 0


def _reorder_config(method: str, estimate: str = "expected", fanouts: str = "15,10,5", seed: int = 0):
    from graphsys.datasets.reorder import ReorderConfig

    try:
        values = tuple(int(f) for f in fanouts.split(","))
    except ValueError:
        raise CommandError(f"--fanouts must be comma-separated integers like 15,10,5, got {fanouts!r}") from None
    try:
        return ReorderConfig(method=method, estimate=estimate, fanouts=values, seed=seed)
    except ValueError as err:
        raise CommandError(f"--{err}") from None


def _reorder(args: argparse.Namespace) -> int:
    from graphsys.datasets import NodeDataset, load
    from graphsys.datasets.cache import FORMAT
    from graphsys.datasets.reorder import reorder_dataset

    check_scale(args.scale, args.name)
    config = _reorder_config(args.method, args.estimate, args.fanouts, args.seed)
    check_output_path("--out", args.out, FORMAT, directory=True)
    start = time.perf_counter()
    options = {"undirected": True} if args.undirected else {}
    ds = load(args.name, args.root, scale=args.scale, seed=args.seed, quiet=args.quiet or not sys.stderr.isatty(),
              **options)
    if not isinstance(ds, NodeDataset):
        raise CommandError(f"{args.name!r} is a {type(ds).__name__}; reorder renumbers node-classification "
                           "datasets with one node type")
    source = {"name": args.name.lower(), "scale": args.scale, "seed": args.seed, **({"options": options} if options
                                                                                   else {})}
    out = reorder_dataset(ds, config, args.out, quiet=args.quiet, source=source)
    summary = _summary(out)
    summary.update(path=str(args.out), method=config.method.value, estimate=config.estimate.value,
                   seconds=round(time.perf_counter() - start, 2))
    _print(summary, args.json)
    return 0
