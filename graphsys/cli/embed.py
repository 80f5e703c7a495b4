"""``graphsys embed`` (train DeepWalk / LINE / node2vec and save) and ``graphsys export``.

``embed`` writes a directory: ``vertex.npy`` and ``context.npy`` (``[N, dim]`` float32, row
``i`` is node ``node_ids[i]``; a node's embedding is their sum unless ``--which`` says
otherwise), ``node_ids.npy``, ``meta.json`` (config, throughput, scores)
and ``checkpoint.pt`` (to ``--resume``). ``export`` turns that directory into one file:
``npy`` (a structured array of ``id`` and ``embedding``), ``w2v`` (word2vec text, as gensim's
``KeyedVectors.load_word2vec_format`` reads it, node ids as keys), ``pt`` (a dict of tensors)
or ``parquet`` (needs pyarrow).

The directory is one unit with a manifest (sizes and checksums of every file), swapped in
whole when training ends: a kill at any moment leaves the previous complete result or the
new one, never a mix, and ``export`` and ``--resume`` refuse a directory that does not match
its manifest. Checkpoints taken during training go to ``.<out>.graphsys-partial/`` beside
it (what ``--resume`` continues from); a run without ``--resume`` discards that folder.
``--out`` must be new, empty or an earlier ``embed`` result; an export's ``--out`` must be
new or an earlier export. Checkpoints load with ``weights_only=True``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from graphsys.cli import CommandError, add_tensorboard_flag, as_flags, check_output_path, check_tensorboard

log = logging.getLogger(__name__)

FORMATS = ("npy", "w2v", "pt", "parquet")
_META = "meta.json"
_CHECKPOINT = "checkpoint.pt"
#: Manifest kinds: the ``embed`` directory, a checkpoint taken during training, an export.
EMBED_KIND = "graphsys.embedding"
PARTIAL_KIND = "graphsys.embedding.checkpoint"
EXPORT_KIND = "graphsys.export"


def register(subparsers) -> None:
    """Add the ``embed`` and ``export`` subcommands."""
    p = subparsers.add_parser("embed", help="train node embeddings (DeepWalk, LINE, node2vec) and save them",
                              description="Train node embeddings GraphVite-style and save them to --out.")
    p.add_argument("--graph", required=True, help="a dataset name (e.g. blogcatalog) or an edge-list file")
    p.add_argument("--root", default=None, help="folder holding the dataset's files")
    p.add_argument("--directed", action="store_true", help="edge lists: keep edges one-way (default: both ways)")
    p.add_argument("--model", default="deepwalk", choices=["deepwalk", "line", "node2vec"])
    p.add_argument("--dim", type=int, default=128, help="embedding width")
    p.add_argument("--epochs", type=float, default=None,
                   help="positive samples to train, in units of the edge count (default: the config's)")
    p.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (decays linearly)")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--negatives", type=int, default=None, help="negatives per positive sample")
    p.add_argument("--negative-weight", type=float, default=None)
    p.add_argument("--walk-length", type=int, default=None)
    p.add_argument("--augmentation-step", type=int, default=None,
                   help="pairs up to this far apart on a walk (default: 3 on the CPU, 5 on GPUs)")
    p.add_argument("--p", type=float, default=1.0, help="node2vec return parameter")
    p.add_argument("--q", type=float, default=1.0, help="node2vec in-out parameter")
    p.add_argument("--partitions", type=int, default=None,
                   help="P: the pool is a P x P grid of blocks "
                        "(default: the config's, raised to the number of workers)")
    p.add_argument("--pool-size", type=int, default=None,
                   help="positive samples per pool (default: 20 x |E| per worker, at most 1/64 of the run, "
                        "within 65536..1e8)")
    p.add_argument("--row-dtype", default=None, choices=["float32", "bf16", "bfloat16"],
                   help="storage of the embedding rows (default float32); bf16 halves the SGD kernel's memory "
                        "traffic, float32 arithmetic, stochastic rounding")
    p.add_argument("--device", default="cpu",
                   help="'cpu', 'cuda' or a list such as 'cuda:0,cuda:1' (one process drives them all); under "
                        "torchrun 'cpu' or 'cuda', and each rank trains on its own (cuda:LOCAL_RANK)")
    p.add_argument("--master", default=None, help="placement of the master copy: cpu, pinned or cuda[:k]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label-ratios", default="0.5",
                   help="node classification at these labelled fractions (comma-separated) when the dataset "
                        "has labels; 'none' to skip")
    p.add_argument("--which", default="sum", choices=["sum", "vertex", "context"],
                   help="embedding scored by node classification: vertex + context (default) or one matrix")
    p.add_argument("--link-prediction", type=float, default=None, metavar="FRACTION",
                   help="hold out this fraction of the edges before training and report the AUC on them")
    p.add_argument("--checkpoint-every", type=float, default=300.0, help="seconds between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--out", required=True, help="output directory")
    add_tensorboard_flag(p, "loss, samples per second and epochs trained after every pool, and the final scores")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_embed)

    e = subparsers.add_parser("export", help="write saved embeddings to one file with their node ids",
                              description="Export the embeddings saved by `graphsys embed`.")
    e.add_argument("dir", help="a directory written by `graphsys embed`")
    e.add_argument("--format", default=None, help=f"one of {', '.join(FORMATS)} (default: from --out's suffix)")
    e.add_argument("--out", required=True, help="the file to write")
    e.add_argument("--which", default="sum", choices=["sum", "vertex", "context"],
                   help="vertex + context (default, what `embed` evaluates), or one of the two matrices")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=run_export)


# ---------------------------------------------------------------------------- embed
def _load_graph(args):
    """The dataset named by ``--graph``: a known name, an edge-list file or a dataset folder graphsys wrote."""
    from graphsys.datasets import load
    from graphsys.datasets.cache import read_meta
    from graphsys.datasets.edgelist import EDGE_LIST_SUFFIXES, load_edge_list

    path = Path(args.graph)
    if path.is_file():
        return load_edge_list(path, undirected=not args.directed)
    if path.is_dir() and read_meta(path) is None:  # a dataset folder graphsys wrote loads by its path
        raise CommandError(f"--graph {args.graph} is a directory, expected an edge-list file or a dataset name")
    if not path.is_dir() and (path.suffix in EDGE_LIST_SUFFIXES or "/" in args.graph):
        raise FileNotFoundError(f"--graph {args.graph}: no such file")
    return load(args.graph, root=args.root, seed=args.seed, quiet=args.quiet)


#: EmbeddingConfig fields whose flag is not ``--`` + the field name with '-' for '_'.
_FLAGS = {"num_negative": "--negatives", "num_partitions": "--partitions"}


def _config(args):
    from embedding import EmbeddingConfig

    fields = {
        "model": args.model, "dim": args.dim, "epochs": args.epochs, "time_budget": args.time_budget,
        "lr": args.lr, "weight_decay": args.weight_decay, "num_negative": args.negatives,
        "negative_weight": args.negative_weight, "walk_length": args.walk_length,
        "augmentation_step": args.augmentation_step, "p": args.p, "q": args.q,
        "num_partitions": args.partitions, "pool_size": args.pool_size, "seed": args.seed,
        "row_dtype": args.row_dtype,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    if args.time_budget is not None and args.epochs is None:
        given["epochs"] = None
    try:
        return EmbeddingConfig(**given)
    except (TypeError, ValueError) as err:
        raise CommandError(as_flags(str(err), _FLAGS)) from None


def _label_ratios(text: str) -> list[float]:
    if text.strip().lower() == "none":
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CommandError(f"--label-ratios must be comma-separated fractions or 'none', got {text!r}") from None


def _partial_dir(out: Path) -> Path:
    """Where checkpoints taken during training go, beside ``out``."""
    return out.parent / f".{out.name}.graphsys-partial"


def _save_partial(out: Path, trainer) -> None:
    import torch

    from graphsys.io import atomic_file

    partial = _partial_dir(out)
    partial.mkdir(exist_ok=True)
    with atomic_file(partial / _CHECKPOINT, PARTIAL_KIND) as tmp:
        torch.save(trainer.state_dict(), tmp)


def _discard_partial(out: Path) -> None:
    """Remove the checkpoint folder of an earlier run (only the files graphsys writes there)."""
    partial = _partial_dir(out)
    if not partial.is_dir():
        return
    for name in (_CHECKPOINT, f".{_CHECKPOINT}.graphsys.json"):
        (partial / name).unlink(missing_ok=True)
    try:
        partial.rmdir()
    except OSError:
        raise CommandError(f"{partial} holds files graphsys did not write; remove them to start a new run") from None


def _resume_state(out: Path) -> tuple[dict, Path]:
    """The trainer state to continue from: the newest checkpoint of an interrupted run, else the
    finished result in ``out`` (both checked against their manifests)."""
    import torch

    from graphsys.io import verify_dir, verify_file

    partial = _partial_dir(out) / _CHECKPOINT
    if partial.exists():
        verify_file(partial, PARTIAL_KIND)
        source = partial
    elif (out / _CHECKPOINT).is_file():
        verify_dir(out, EMBED_KIND)
        source = out / _CHECKPOINT
    else:
        raise FileNotFoundError(f"--resume: no checkpoint at {partial} or {out / _CHECKPOINT}")
    try:
        return torch.load(source, map_location="cpu", weights_only=True), source
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is not a checkpoint
        raise ValueError(f"--resume: {source} is not a readable embedding checkpoint "
                         f"({type(err).__name__}: {err})") from None


def run_embed(args) -> int:
    from embedding import split_edges
    from graphsys.train.distributed import teardown

    ratios = _label_ratios(args.label_ratios)
    if not 0 <= args.checkpoint_every < float("inf"):
        raise CommandError(f"--checkpoint-every must be a finite number of seconds >= 0, got {args.checkpoint_every}")
    check_output_path("--out", args.out, EMBED_KIND, directory=True)
    check_tensorboard(args.tensorboard)
    config = _config(args)
    devices = [d.strip() for d in args.device.split(",") if d.strip()]
    ctx = _join_ranks(devices)
    try:
        dataset = ctx.in_turns(lambda: _load_graph(args))  # rank 0 first: a preset generated on disk is written once
        graph = dataset.graph
        if graph.num_edges == 0:
            raise CommandError(f"--graph {args.graph}: the graph has no edges, there is nothing to embed")
        indptr, indices, weight = graph.indptr, graph.indices, graph.edge_weight
        held_out = None
        if args.link_prediction is not None:
            split = split_edges(indptr, indices, args.link_prediction, symmetric=not args.directed, seed=args.seed)
            indptr, indices, held_out = split.indptr, split.indices, split.test_edges
            weight = None
        return _train_and_save(args, config, dataset, ratios, indptr, indices, weight, held_out, devices, ctx)
    finally:
        teardown(ctx)


def _join_ranks(devices: list[str]):
    """This process's place in a ``torchrun`` group (a one-process context without one); under
    torchrun ``--device`` must be plain 'cpu' or 'cuda', as each rank takes its own device."""
    from graphsys.train.distributed import DistContext, setup

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext()
    if devices not in (["cpu"], ["cuda"]):
        raise CommandError(
            f"--device {','.join(devices)}: under torchrun each rank trains on its own device; pass 'cpu' or "
            "'cuda' (rank r takes cuda:LOCAL_RANK)"
        )
    return setup(use_cuda=devices == ["cuda"])


def _train_and_save(args, config, dataset, ratios, indptr, indices, weight, held_out, devices, ctx) -> int:
    """Train (on every rank), then save, score and report (on rank 0)."""
    from embedding import EmbeddingTrainer

    if ctx.distributed:
        devices = [str(ctx.device)]
    workers = ctx.world_size if ctx.distributed else len(devices)
    if args.partitions is None and config.num_partitions < workers:  # each worker needs its own partition
        config = dataclasses.replace(config, num_partitions=workers)
    trainer = EmbeddingTrainer(indptr, indices, config, edge_weight=weight, devices=devices, master=args.master,
                               distributed=ctx.distributed)
    out = Path(args.out)
    if args.resume:
        state, source = _resume_state(out)
        trainer.load_state_dict(state)
        log.info("resumed from %s at %d samples", source, trainer.samples_done)
    elif ctx.is_main:
        _discard_partial(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    last_save = time.perf_counter()
    board = _tensorboard(args.tensorboard) if ctx.is_main else None

    def after_pool(t) -> None:
        nonlocal last_save
        if board is not None:
            board.write(t.progress(), step=t.samples_done)
        if ctx.is_main and time.perf_counter() - last_save >= args.checkpoint_every:
            _save_partial(out, t)
            last_save = time.perf_counter()

    try:
        result = trainer.fit(quiet=args.quiet or not ctx.is_main, callback=after_pool)
        if not ctx.is_main:  # every rank holds the whole embedding after training; rank 0 saves it
            return 0
        return _score_and_save(args, config, dataset, ratios, held_out, devices, ctx, trainer, result, board)
    finally:
        if board is not None:
            board.close()


def _tensorboard(directory):
    """A TensorBoard writer for ``--tensorboard`` (None without the flag); tags ``embed/...``."""
    from graphsys.metrics_tensorboard import TensorBoardWriter

    return TensorBoardWriter(directory, prefix="embed") if directory is not None else None


def _final_record(result, scores: dict) -> dict:
    """The end of a run as one metrics record: the fit's throughput and time split, and the scores
    (node classification keyed by label ratio)."""
    record = {key: value for key, value in asdict(result).items() if key not in ("pools", "samples")}
    for found in scores.get("node_classification", []):
        record[f"node_classification_{found['label_ratio']:g}"] = {
            "micro_f1": found["micro_f1"], "macro_f1": found["macro_f1"]}
    if "link_prediction_auc" in scores:
        record["link_prediction_auc"] = scores["link_prediction_auc"]
    return record


def _score_and_save(args, config, dataset, ratios, held_out, devices, ctx, trainer, result, board) -> int:
    """Score the embedding, save the directory and report (rank 0)."""
    import torch

    from embedding import link_prediction_auc, node_classification, sample_non_edges
    from graphsys.io import atomic_dir

    graph = dataset.graph
    out = Path(args.out)
    vertex, context = trainer.vertex_embeddings(), trainer.context_embeddings()
    chosen = {"sum": vertex + context, "vertex": vertex, "context": context}[args.which]
    scores: dict = {}
    if ratios and dataset.num_classes > 0:
        t0 = time.perf_counter()
        found = node_classification(chosen, dataset.y, ratios, seed=args.seed)
        scores["node_classification"] = [asdict(r) for r in found]
        scores["classification_seconds"] = time.perf_counter() - t0
    if held_out is not None:
        non_edges = sample_non_edges(graph.indptr, graph.indices, held_out.shape[1], seed=args.seed + 1)
        scores["link_prediction_auc"] = link_prediction_auc(vertex, context, held_out, non_edges,
                                                            symmetric=not args.directed)
    meta = {
        "format": "graphsys.embedding", "graph": args.graph, "num_nodes": graph.num_nodes,
        "num_edges": graph.num_edges, "config": trainer.config.to_dict(), "devices": devices, "ranks": ctx.world_size,
        "which": args.which,
        "samples_trained": trainer.samples_done, "fit": asdict(result), "scores": scores,
    }
    with atomic_dir(out, EMBED_KIND) as tmp:
        torch.save(trainer.state_dict(), tmp / _CHECKPOINT)
        np.save(tmp / "vertex.npy", vertex.numpy())
        np.save(tmp / "context.npy", context.numpy())
        # row i is node node_ids[i] in the user's ids (a renumbered dataset's original_ids)
        original = getattr(dataset, "original_ids", None)
        np.save(tmp / "node_ids.npy", np.arange(graph.num_nodes, dtype=np.int64) if original is None
                else original.numpy().astype(np.int64))
        (tmp / _META).write_text(json.dumps(meta, indent=2))
    _discard_partial(out)
    if board is not None:
        board.write(_final_record(result, scores), step=trainer.samples_done)
    print(json.dumps({"out": str(out), "samples": trainer.samples_done, "seconds": round(result.seconds, 2),
                      "samples_per_s": round(result.samples_per_s), "bottleneck": result.bottleneck, **scores}))
    return 0


# --------------------------------------------------------------------------- export
def _read_saved(directory: Path, which: str) -> tuple[np.ndarray, np.ndarray]:
    """The node ids and the ``which`` embedding of an ``embed`` directory, checked against its manifest."""
    from graphsys.io import CorruptFileError, read_npy, verify_dir

    if not directory.is_dir():
        what = "it is a file" if directory.exists() else "it does not exist"
        raise FileNotFoundError(f"{directory} is not an embedding directory written by `graphsys embed` ({what})")
    try:
        verify_dir(directory, EMBED_KIND)
    except CorruptFileError as err:
        raise CorruptFileError(
            f"{directory} is not a complete embedding directory written by `graphsys embed`: {err}"
        ) from None
    if which == "sum":
        vectors = read_npy(directory / "vertex.npy") + read_npy(directory / "context.npy")
    else:
        vectors = read_npy(directory / f"{which}.npy", mmap_mode="r")
    ids = read_npy(directory / "node_ids.npy")
    if ids.shape[0] != vectors.shape[0]:
        raise ValueError(f"{directory}: node_ids.npy has {ids.shape[0]} ids for {vectors.shape[0]} vectors")
    return ids, vectors


def write_w2v(path: Path, ids: np.ndarray, vectors: np.ndarray, *, quiet: bool = True, chunk: int = 65536) -> None:
    """word2vec text format: ``"N dim"``, then ``id v_1 ... v_dim`` per line (9 significant digits,
    which round-trips float32 exactly). Atomic; a progress bar per chunk of rows."""
    from tqdm.auto import tqdm

    from graphsys.io import atomic_file

    n, dim = vectors.shape
    row_format = "%d" + " %.9g" * dim
    with atomic_file(path, EXPORT_KIND) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{n} {dim}\n")
        for start in tqdm(range(0, n, chunk), disable=quiet, unit="chunk", desc="w2v"):
            block = vectors[start : start + chunk].astype(np.float64)
            lines = [row_format % (int(i), *row) for i, row in zip(ids[start : start + chunk], block, strict=True)]
            f.write("\n".join(lines) + "\n")


def run_export(args) -> int:
    import torch

    from graphsys.io import atomic_file

    out = Path(args.out)
    check_output_path("--out", out, EXPORT_KIND)
    fmt = (args.format or out.suffix.lstrip(".")).lower()
    if fmt == "txt":
        fmt = "w2v"
    if fmt not in FORMATS:
        raise CommandError(f"unknown format {fmt!r}; use --format with one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow
            import pyarrow.parquet as pq
        except ImportError:
            raise CommandError("--format parquet needs pyarrow, which is not installed; "
                               "install pyarrow or use --format npy, w2v or pt") from None
    ids, vectors = _read_saved(Path(args.dir), args.which)
    if fmt == "npy":
        table = np.empty(ids.shape[0], dtype=[("id", np.int64), ("embedding", np.float32, (vectors.shape[1],))])
        table["id"], table["embedding"] = ids, vectors
        with atomic_file(out, EXPORT_KIND) as tmp, open(tmp, "wb") as f:
            np.save(f, table)
    elif fmt == "w2v":
        write_w2v(out, ids, vectors, quiet=args.quiet)
    elif fmt == "pt":
        with atomic_file(out, EXPORT_KIND) as tmp:
            torch.save({"node_ids": torch.from_numpy(ids), "embeddings": torch.from_numpy(np.array(vectors))}, tmp)
    else:
        columns = {"id": pyarrow.array(ids),
                   "embedding": pyarrow.FixedSizeListArray.from_arrays(pyarrow.array(np.asarray(vectors).ravel()),
                                                                      vectors.shape[1])}
        with atomic_file(out, EXPORT_KIND) as tmp:
            pq.write_table(pyarrow.table(columns), tmp)
    print(json.dumps({"out": str(out), "format": fmt, "rows": int(ids.shape[0]), "dim": int(vectors.shape[1])}))
    return 0
