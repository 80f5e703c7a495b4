"""Shared by every benchmark: the machine description and the result file (DESIGN.md, Conventions).

Each benchmark prints a table and calls :func:`write_result`, which writes
``benchmarks/results/<name>.json`` (or ``$OUT/<name>.json`` too when ``OUT`` is set, as on
the device machine) with the machine, the command line and every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    info = {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    return info


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A markdown table of ``rows`` (dicts), floats shown with 4 significant digits."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_result(name: str, figures: dict, rows: list[dict] | None = None, *,
                 argv: list[str] | None = None) -> Path:
    """Write the result JSON for benchmark ``name`` and return its path. ``argv``: the command line
    to record (script and arguments) when the benchmark's ``main`` was called in-process with its
    own arguments; default ``sys.argv``."""
    payload = {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name] + (sys.argv if argv is None else argv)),
        "machine": machine_info(),
        "figures": figures,
        "rows": rows or [],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)
    out = os.environ.get("OUT")
    if out:
        shutil.copy(path, Path(out) / path.name)
    return path


def add_products_batch_args(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that sample minibatches of the synthetic ogbn-products preset:
    ``--scale``, ``--root``, ``--fanouts`` (comma-separated) and ``--batch-size``."""
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic-products scale (1.0 = ogbn-products size)")
    parser.add_argument("--root", default=None, help="cache folder of the generated dataset (default: in memory)")
    parser.add_argument("--fanouts", default="15,10,5")
    parser.add_argument("--batch-size", type=int, default=1024)
