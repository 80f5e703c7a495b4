"""The ``graphsys`` command line: one program, one subcommand per module in this package.

Each module here defines ``register(subparsers)``, which adds its subcommand and sets
``func`` (taking the parsed args, returning an exit code). Modules import heavy
dependencies inside ``func`` so that ``graphsys --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys


class CommandError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphsys", description="Graph learning with GPU-centric data access."
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log what each stage does and how long it took (dataset loading, placement, caches)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (the library itself never exits)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if args.verbose
                        else "%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("graphsys: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, IndexError, FileNotFoundError, RuntimeError) as err:
        print(f"graphsys {args.command}: error: {err}", file=sys.stderr)
        return 2
