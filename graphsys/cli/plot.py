"""``graphsys plot``: training curves from metrics JSON-lines files (``--metrics-out`` of
``train`` and ``pipeline``), several runs overlaid, as one picture.

Three panels against the epoch: the loss; the scores (every ``*_acc`` / ``*_score`` field,
named by the record's ``metric`` where it has one); and the epoch time split into its parts,
stacked (``sample_s``/``gather_s``/``compute_s``/``eval_s`` for ``train``, training and
evaluation for ``pipeline``), runs side by side. Needs matplotlib (``pip install
'graphsys[plot]'``); draws with the Agg backend, so no display is needed.
"""
from __future__ import annotations

import json
from pathlib import Path

from graphsys.cli import CommandError, check_output_path

#: Manifest kind of a picture ``plot`` wrote (it replaces only its own earlier pictures).
PLOT_KIND = "graphsys.plot"
_FORMATS = ("png", "svg", "pdf")
#: The parts an epoch's time is split into, first match wins: ``train``'s records, then
#: ``pipeline``'s (whose ``epoch_s`` is the training part alone).
_SPLITS = (
    (("sample_s", "sampling"), ("gather_s", "feature gathering"), ("compute_s", "compute"), ("eval_s", "evaluation")),
    (("epoch_s", "training"), ("eval_s", "evaluation")),
)


def register(subparsers) -> None:
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot", help="draw loss, scores and the epoch time split of metrics JSON-lines files",
        description="Draw the loss, the scores and the epoch time split per epoch of one or more runs "
                    "(files written by --metrics-out), overlaid with a legend. Needs matplotlib.",
    )
    p.add_argument("metrics", nargs="+", metavar="METRICS.jsonl", help="metrics files; each is one run")
    p.add_argument("-o", "--out", required=True, help=f"the picture to write ({', '.join(_FORMATS)}, by suffix)")
    p.add_argument("--labels", default=None,
                   help="comma-separated legend names, one per file (default: the file names)")
    p.add_argument("--title", default=None, help="the figure's title (default: the files' names)")
    p.set_defaults(func=run)


def read_runs(paths: list[str]) -> list[list[dict]]:
    """Each file's records, in epoch order.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a line is not a JSON object with an ``epoch`` (naming the file and line), or
            a file has no records.
    """
    runs = []
    for name in paths:
        records = []
        with open(name, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{name} line {number}: not JSON ({err.msg})") from None
                if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
                    raise ValueError(f"{name} line {number}: expected a metrics record with an integer 'epoch'")
                records.append(record)
        if not records:
            raise ValueError(f"{name}: no metrics records (an empty file)")
        runs.append(sorted(records, key=lambda r: r["epoch"]))
    return runs


def _score_keys(records: list[dict]) -> list[str]:
    keys = {k for r in records for k, v in r.items()
            if (k.endswith("_acc") or k.endswith("_score")) and isinstance(v, int | float)}
    order = {"train": 0, "val": 1, "test": 2}
    return sorted(keys, key=lambda k: (order.get(k.split("_")[0], 3), k))


def _split(records: list[dict]) -> tuple[tuple[str, str], ...]:
    for parts in _SPLITS:
        if all(key in records[0] for key, _ in parts):
            return parts
    return ()


def draw(runs: list[list[dict]], labels: list[str], out: Path, fmt: str, title: str) -> None:
    """Render the three panels of ``runs`` into ``out`` (Agg backend). Cost: one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_score, ax_time) = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    fig.suptitle(title)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"train": ":", "val": "--", "test": "-"}
    metrics: set[str] = set()
    for i, (records, label) in enumerate(zip(runs, labels, strict=True)):
        color = colors[i % len(colors)]
        epochs = [r["epoch"] for r in records]
        ax_loss.plot(epochs, [r.get("loss") for r in records], color=color, marker=".", label=label)
        for key in _score_keys(records):
            points = [(r["epoch"], r[key]) for r in records if isinstance(r.get(key), int | float)]
            ax_score.plot(*zip(*points, strict=True), color=color, marker=".",
                          linestyle=styles.get(key.split("_")[0], "-."), label=f"{label}: {key}")
        metrics.update(str(r["metric"]) for r in records if "metric" in r)
    ax_loss.set_title("training loss")
    ax_loss.set_ylabel("loss")
    ax_score.set_title("scores (after the epoch's step)")
    ax_score.set_ylabel(" / ".join(sorted(metrics)) or "score")
    _draw_split(ax_time, runs, labels, colors)
    ax_time.set_title("epoch time, split into its parts")
    ax_time.set_ylabel("seconds")
    ax_time.set_xlabel("epoch")
    for ax, columns in ((ax_loss, 1), (ax_score, 1), (ax_time, 2)):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", ncol=columns, loc="upper left" if ax is ax_time else "best")
    fig.tight_layout()
    from graphsys.io import atomic_file

    with atomic_file(out, PLOT_KIND) as tmp:
        fig.savefig(tmp, format=fmt, dpi=100)
    plt.close(fig)


def _draw_split(ax, runs: list[list[dict]], labels: list[str], colors: list[str]) -> None:
    """Stacked bars of each epoch's time parts; several runs side by side within an epoch, the
    parts told apart by hatching (one legend entry per run and part)."""
    hatches = ("", "//", "..", "xx")
    width = 0.8 / len(runs)
    top = 0.0
    for i, (records, label) in enumerate(zip(runs, labels, strict=True)):
        parts = _split(records)
        x = [r["epoch"] - 0.4 + (i + 0.5) * width for r in records]
        bottom = [0.0] * len(records)
        for j, (key, name) in enumerate(parts):
            heights = [float(r.get(key) or 0.0) for r in records]
            ax.bar(x, heights, width, bottom=bottom, color=colors[i % len(colors)], alpha=1.0 - 0.2 * j,
                   hatch=hatches[j % len(hatches)], edgecolor="white", label=f"{label}: {name}")
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        top = max([top, *bottom])
    if top > 0:
        ax.set_ylim(0, top * (1.25 + 0.12 * len(runs)))  # headroom for the legend above the bars


def run(args) -> int:
    """Read the files, draw, write ``--out``; prints one JSON line naming the picture."""
    out = Path(args.out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in _FORMATS:
        raise CommandError(f"--out {out}: the suffix must name one of {', '.join(_FORMATS)}, got {out.suffix!r}")
    labels = [name.strip() for name in args.labels.split(",")] if args.labels else [Path(m).stem for m in args.metrics]
    if len(labels) != len(args.metrics):
        raise CommandError(f"--labels names {len(labels)} runs for {len(args.metrics)} metrics files")
    check_output_path("--out", out, PLOT_KIND)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandError("graphsys plot needs matplotlib, which is not installed; install it with: "
                           "pip install 'graphsys[plot]' (or pip install matplotlib)") from None
    runs = read_runs(args.metrics)
    draw(runs, labels, out, fmt, args.title or ", ".join(Path(m).name for m in args.metrics))
    print(json.dumps({"out": str(out), "runs": len(runs), "epochs": [len(r) for r in runs]}))
    return 0
