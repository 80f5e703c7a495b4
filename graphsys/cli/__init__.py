"""The ``graphsys`` command line: one program, one subcommand per module in this package.

Each module here defines ``register(subparsers)``, which adds its subcommand and sets
``func`` (taking the parsed args, returning an exit code). Modules import heavy
dependencies inside ``func`` so that ``graphsys --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
import pkgutil
import sys


class CommandError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``prog: error: message``), exit status 2.

    argparse prints the whole usage first, which for ``train`` wraps over a dozen lines;
    the message already names the argument, and ``--help`` shows the usage.
    """

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def _one_line(message: object) -> str:
    """``message`` on one line: its lines joined with '; ' (some libraries' errors span several)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(message).__name__


def check_finite(flag: str, value: float | None, expected: str = "a finite number") -> None:
    """Refuse a float flag that is NaN or infinite (argparse's ``float`` takes 'nan' and 'inf').

    Raises:
        CommandError: naming ``flag``, the value and ``expected``.
    """
    if value is not None and not math.isfinite(value):
        raise CommandError(f"{flag} must be {expected}, got {value}")


def check_scale(scale: float, dataset: str) -> None:
    """Refuse a ``--scale`` that is not a finite positive number, or one that would do nothing
    (``dataset`` is not a synthetic preset, the only datasets it resizes).

    Raises:
        CommandError: naming ``--scale``, its value and what was expected.
    """
    from graphsys.datasets.registry import SYNTHETIC_NAMES, is_synthetic

    check_finite("--scale", scale, "a finite positive number (it multiplies a synthetic preset's size)")
    if scale <= 0:
        raise CommandError(f"--scale must be positive, got {scale}")
    if scale != 1.0 and not is_synthetic(dataset):
        raise CommandError(f"--scale {scale} applies only to the synthetic presets ({', '.join(SYNTHETIC_NAMES)}), "
                           f"not to {dataset!r}, whose size is fixed; drop --scale")


def as_flags(message: str, renamed: dict[str, str] | None = None) -> str:
    """A config error message whose leading field name is spelled as the flag the user typed
    (``--`` + the field with '-' for '_', unless ``renamed`` maps the field to its flag)."""
    head, sep, rest = message.partition(" ")
    if head.isidentifier() and head.islower():
        return (renamed or {}).get(head, "--" + head.replace("_", "-")) + sep + rest
    return message


def check_output_path(flag: str, path, kind: str, *, directory: bool = False) -> None:
    """Refuse, before any work, an output path a graphsys writer of ``kind`` would refuse later.

    Raises:
        CommandError: ``path`` holds something graphsys did not write, is a folder where a
            file is expected (or the reverse), lies under a regular file, or its folder is not
            writable; the message names ``flag`` and the path.
    """
    from graphsys.io import check_output

    if path is None:
        return
    try:
        check_output(path, kind, directory=directory)
    except OSError as err:
        raise CommandError(f"{flag}: {_one_line(err)}") from None


def add_tensorboard_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--tensorboard DIR``: ``what`` (e.g. "every epoch's metrics") as TensorBoard scalars."""
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help=f"also write {what} as TensorBoard scalars to an event file in DIR "
                             "(needs the tensorboard package: pip install 'graphsys[tensorboard]'); "
                             "view with `tensorboard --logdir DIR`")


def check_tensorboard(directory) -> None:
    """Refuse, before any work, a ``--tensorboard`` that cannot be written.

    Raises:
        CommandError: the tensorboard package is missing (the message says how to install it),
            or ``directory`` is an existing file.
    """
    from pathlib import Path

    from graphsys.metrics_tensorboard import TensorBoardUnavailable, require_tensorboard

    if directory is None:
        return
    if Path(directory).exists() and not Path(directory).is_dir():
        raise CommandError(f"--tensorboard {directory} is a file; pass a folder (new, or one of earlier runs)")
    try:
        require_tensorboard("--tensorboard")
    except TensorBoardUnavailable as err:
        raise CommandError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    except (CommandError, ValueError, TypeError, IndexError, OSError, RuntimeError) as err:
        # OSError: a missing file, a folder where a file was expected (IsADirectoryError) or
        # the reverse, an output graphsys refuses to replace (graphsys.io.OutputError, a
        # FileExistsError), no permission; ValueError includes graphsys.io.CorruptFileError.
        print(f"graphsys {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except MemoryError as err:  # what the up-front size checks could not foresee
        print(f"graphsys {args.command}: error: out of memory ({_one_line(err) or 'an allocation failed'}); "
              "use a smaller dataset, scale or batch", file=sys.stderr)
        return 2
