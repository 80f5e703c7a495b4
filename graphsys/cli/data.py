"""``graphsys data``: describe datasets (``info``, ``list``) and generate synthetic ones (``generate``)."""
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

    info = actions.add_parser("info", help="nodes, edges, features, classes and split sizes of a dataset")
    info.add_argument("name", metavar="NAME", help="a dataset name (see 'graphsys data list') or an edge-list file")
    info.add_argument("--root", default=None, help="folder holding the dataset's files (synthetic: the cache)")
    info.add_argument("--scale", type=float, default=1.0, help="synthetic presets: multiply nodes and edges")
    info.add_argument("--seed", type=int, default=0, help="seed of synthetic graphs and of unsplit datasets' splits")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    info.add_argument("--quiet", action="store_true",
                      help="no progress bars (a synthetic preset not yet in --root is generated first)")
    info.set_defaults(func=_info)

    gen = actions.add_parser("generate", help="generate a synthetic preset into a folder (memory-mapped .npy files)")
    gen.add_argument("preset", metavar="PRESET", help="synthetic-arxiv, synthetic-products or synthetic-papers100m")
    gen.add_argument("--out", required=True, help="folder to write into (a subfolder per preset, scale and seed)")
    gen.add_argument("--scale", type=float, default=1.0, help="multiply nodes, edges and split sizes")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--quiet", action="store_true", help="no progress bars")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    gen.set_defaults(func=_generate)


def _summary(ds) -> dict:
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
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        print(f"{key:<{width}}  {shown}")


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
    from graphsys.datasets.cache import FORMAT
    from graphsys.datasets.synthetic import PRESETS, cache_dir, generate

    if args.preset not in PRESETS:
        raise CommandError(f"unknown preset {args.preset!r}; known: {', '.join(PRESETS)}")
    check_scale(args.scale, args.preset)
    # --out holds one folder per preset, scale and seed: that folder must be new, empty or one
    # graphsys generated, and --out creatable or writable, before minutes of generation.
    check_output_path("--out", cache_dir(args.out, args.preset, args.scale, args.seed), FORMAT, directory=True)
    start = time.perf_counter()
    ds = generate(args.preset, args.out, scale=args.scale, seed=args.seed, quiet=args.quiet)
    summary = _summary(ds)
    summary["path"] = str(cache_dir(args.out, args.preset, args.scale, args.seed))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    _print(summary, args.json)
    return 0
