"""User errors of every ``graphsys`` subcommand: one line on stderr, exit status 2, no
traceback, the flag, the value and what was expected named, and nothing written.

Output paths are checked when a command starts: the commands' work (dataset loading,
training, generation) is replaced by a function that fails the test, so a check that came
late would show. The embed/export subcommands are covered by their own tests.
"""
from __future__ import annotations

import os
import sys
import types
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import graphsys.datasets
import graphsys.datasets.synthetic
import graphsys.train
from graphsys.cli import main
from graphsys.io import CorruptFileError, OutputError, atomic_file

TINY = ["--dataset", "synthetic-arxiv", "--scale", "0.01"]
TRAIN_FAST = ["--layers", "2", "--fanouts", "5,5", "--hidden", "16", "--epochs", "1", "--eval-every", "0",
              "--features", "cpu", "--graph", "cpu", "--quiet"]
PIPELINE_FAST = ["--layers", "2", "--stages", "1", "--hidden", "8", "--epochs", "1", "--quiet"]


def _fails(capsys, argv: list[str], *needles: str) -> str:
    """Run ``graphsys argv``; assert exit status 2 and one line on stderr naming every needle."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"graphsys {argv[0]}: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture
def no_work(monkeypatch):
    """Make every command's work fail the test: the checks must come before it."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the command started working before checking its arguments")

    monkeypatch.setattr(graphsys.train, "train", forbidden)
    monkeypatch.setattr(graphsys.datasets, "load", forbidden)
    monkeypatch.setattr(graphsys.datasets.synthetic, "generate", forbidden)


def _snapshot(root: Path) -> dict:
    """Every file under ``root`` with its bytes (to show that nothing was written or changed)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


# --------------------------------------------------------------------------- 1. output paths at the start
def _output_commands(path: str) -> dict[str, list[str]]:
    return {
        "train --checkpoint": ["train", *TINY, *TRAIN_FAST, "--checkpoint", path],
        "train --metrics-out": ["train", *TINY, *TRAIN_FAST, "--metrics-out", path],
        "pipeline --metrics-out": ["pipeline", *TINY, *PIPELINE_FAST, "--metrics-out", path],
    }


FILE_FLAGS = list(_output_commands("x"))


@pytest.mark.parametrize("which", FILE_FLAGS)
def test_output_file_that_is_a_directory(which, tmp_path, capsys, no_work):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "mine.txt").write_text("user data")
    before = _snapshot(tmp_path)
    _fails(capsys, _output_commands(str(folder))[which], which.split()[1], str(folder), "is a directory")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("which", FILE_FLAGS)
def test_output_file_under_a_regular_file(which, tmp_path, capsys, no_work):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    before = _snapshot(tmp_path)
    target = blocker / "sub" / "out.json"
    _fails(capsys, _output_commands(str(target))[which], which.split()[1], str(blocker), "is a file")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("which", FILE_FLAGS)
def test_output_file_graphsys_did_not_write(which, tmp_path, capsys, no_work):
    theirs = tmp_path / "results.jsonl"
    theirs.write_bytes(b"someone else's results\n")
    before = _snapshot(tmp_path)
    _fails(capsys, _output_commands(str(theirs))[which], which.split()[1], str(theirs), "was not written by graphsys")
    assert _snapshot(tmp_path) == before


def _deny_writes(monkeypatch, folder: Path) -> None:
    """``folder`` read-only: by its mode, and (as root ignores modes) by os.access as graphsys.io sees it."""
    import graphsys.io

    folder.chmod(0o555)
    real = os.access
    monkeypatch.setattr(graphsys.io.os, "access",
                        lambda p, mode, **kw: False if Path(p) == folder and mode & os.W_OK else real(p, mode, **kw))


@pytest.mark.parametrize("which", FILE_FLAGS)
def test_output_file_in_an_unwritable_folder(which, tmp_path, capsys, no_work, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    _deny_writes(monkeypatch, locked)
    try:
        _fails(capsys, _output_commands(str(locked / "new" / "out"))[which], which.split()[1], str(locked),
               "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_output_files_with_missing_parents_are_created_and_rewritten(tmp_path, capsys):
    """A missing parent is no error (it is made); a second run replaces what the first wrote."""
    ckpt, metrics = tmp_path / "a" / "b" / "ckpt.pt", tmp_path / "m" / "n" / "train.jsonl"
    piped = tmp_path / "p" / "q" / "pipe.jsonl"
    for _ in range(2):
        assert main(["train", *TINY, *TRAIN_FAST, "--checkpoint", str(ckpt), "--metrics-out", str(metrics)]) == 0
        assert main(["pipeline", *TINY, *PIPELINE_FAST, "--metrics-out", str(piped)]) == 0
    assert ckpt.is_file() and metrics.is_file() and piped.is_file()
    assert main(["train", *TINY, *TRAIN_FAST, "--epochs", "2", "--checkpoint", str(ckpt), "--resume"]) == 0
    capsys.readouterr()


def test_checkpoint_same_as_metrics_out(tmp_path, capsys, no_work):
    same = str(tmp_path / "both")
    _fails(capsys, ["train", *TINY, *TRAIN_FAST, "--checkpoint", same, "--metrics-out", same],
           "--checkpoint", "--metrics-out", same)
    assert list(tmp_path.iterdir()) == []


def test_resume_from_a_directory_or_nothing(tmp_path, capsys, no_work):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    _fails(capsys, ["train", *TINY, *TRAIN_FAST, "--checkpoint", str(folder), "--resume"],
           "--checkpoint", str(folder), "is a directory")
    missing = tmp_path / "none.pt"
    _fails(capsys, ["train", *TINY, *TRAIN_FAST, "--checkpoint", str(missing), "--resume"],
           "--checkpoint", str(missing), "does not exist", "--resume")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpts"] and list(folder.iterdir()) == []


GENERATE = ["data", "generate", "synthetic-arxiv", "--scale", "0.004", "--quiet"]
SUBFOLDER = "synthetic-arxiv_scale0.004_seed0"


def test_generate_out_under_a_regular_file(tmp_path, capsys, no_work):
    blocker = tmp_path / "data"
    blocker.write_text("a file")
    _fails(capsys, [*GENERATE, "--out", str(blocker)], "--out", str(blocker), "is a file")
    assert blocker.read_text() == "a file"
    _fails(capsys, [*GENERATE, "--out", str(blocker / "deeper")], "--out", str(blocker), "is a file")
    assert _snapshot(tmp_path) == {"data": b"a file"}


def test_generate_out_whose_subfolder_is_taken(tmp_path, capsys, no_work):
    (tmp_path / SUBFOLDER).write_bytes(b"a file where the preset's folder goes")
    _fails(capsys, [*GENERATE, "--out", str(tmp_path)], "--out", SUBFOLDER, "is a file")
    (tmp_path / SUBFOLDER).unlink()
    (tmp_path / SUBFOLDER).mkdir()
    (tmp_path / SUBFOLDER / "x.npy").write_bytes(b"not graphsys's")
    before = _snapshot(tmp_path)
    _fails(capsys, [*GENERATE, "--out", str(tmp_path)], "--out", SUBFOLDER, "graphsys did not write")
    assert _snapshot(tmp_path) == before


def test_generate_out_unwritable(tmp_path, capsys, no_work, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    _deny_writes(monkeypatch, locked)
    try:
        _fails(capsys, [*GENERATE, "--out", str(locked)], "--out", str(locked), "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_generate_out_missing_parents_is_created_and_reopened(tmp_path, capsys):
    out = tmp_path / "new" / "root"
    for _ in range(2):  # the second run reopens what the first generated
        assert main([*GENERATE, "--out", str(out), "--json"]) == 0
    assert (out / SUBFOLDER / "graphsys.manifest.json").is_file()
    capsys.readouterr()


# --------------------------------------------------------------------------- 2. main() and OSError
@pytest.mark.parametrize("error", [
    FileExistsError("f exists"), IsADirectoryError("d is a directory"), NotADirectoryError("f is not a directory"),
    PermissionError("d is not writable"), OutputError("o was not written by graphsys"),
    CorruptFileError("c is truncated\n  (line two of the message)"), FileNotFoundError("nowhere"),
])
def test_main_prints_os_and_corrupt_file_errors_on_one_line(error, monkeypatch, capsys):
    import graphsys.cli.data

    def fail(args):
        raise error

    monkeypatch.setattr(graphsys.cli.data, "_list", fail)
    err = _fails(capsys, ["data", "list"], str(error).splitlines()[0])
    assert "line two of the message" in err or "\n" not in str(error)


def test_main_keeps_ctrl_c_at_130(monkeypatch, capsys):
    import graphsys.cli.data

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(graphsys.cli.data, "_list", interrupted)
    assert main(["data", "list"]) == 130
    assert capsys.readouterr().err == "graphsys: interrupted\n"


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "cora", "--lr", "fast"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr" in err and "'fast'" in err and "usage" not in err


# --------------------------------------------------------------------------- 3. values graphsys cannot use
def test_edge_list_id_too_large_for_memory(tmp_path, capsys, monkeypatch):
    path = tmp_path / "big.edgelist"
    path.write_text("# ids as given\n0 1\n1 2\n2 1000000000000000\n")
    from graphsys.graph import Graph

    def forbidden(*args, **kwargs):
        raise AssertionError("the graph was built before its size was checked")

    monkeypatch.setattr(Graph, "from_coo", forbidden)
    _fails(capsys, ["data", "info", str(path)], str(path), "line 4", "1000000000000000", "bytes", "memory",
           "Renumber")


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "-inf"])
@pytest.mark.parametrize("command", [
    ["train", "--dataset", "synthetic-arxiv", *TRAIN_FAST],
    ["pipeline", "--dataset", "synthetic-arxiv", *PIPELINE_FAST],
    ["data", "info", "synthetic-arxiv"],
    ["data", "generate", "synthetic-arxiv", "--out", "OUT"],
])
def test_scale_must_be_finite_and_positive(command, value, tmp_path, capsys, no_work):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in command] + [f"--scale={value}"]
    shown = str(float(value))
    err = _fails(capsys, argv, "--scale", shown)
    assert ("finite positive number" in err) if value in ("inf", "nan", "-inf") else ("must be positive" in err)
    assert list(tmp_path.iterdir()) == []


def _offline(monkeypatch):
    import ogb.nodeproppred.dataset as ogb_dataset

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(ogb_dataset, "decide_download", no_network)
    monkeypatch.setattr(ogb_dataset, "download_url", no_network)


@pytest.mark.parametrize("command", [["data", "info", "ogbn-arxiv"], ["train", "--dataset", "ogbn-arxiv", *TRAIN_FAST],
                                     ["pipeline", "--dataset", "ogbn-arxiv", *PIPELINE_FAST]])
def test_ogbn_download_offline(command, tmp_path, capsys, monkeypatch):
    pytest.importorskip("ogb")
    _offline(monkeypatch)
    root = tmp_path / "ogb"
    _fails(capsys, [*command, "--root", str(root)], "'ogbn-arxiv'", "cannot be downloaded", "network",
           str(root / "ogbn_arxiv"))
    assert not root.exists() or _snapshot(root) == {}


def test_ogbn_download_declined(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ogb")
    import ogb.nodeproppred.dataset as ogb_dataset

    monkeypatch.setattr(ogb_dataset, "decide_download", lambda url: False)  # as answering "n" does
    _fails(capsys, ["data", "info", "ogbn-products", "--root", str(tmp_path)], "'ogbn-products'", "declined")


def test_ogbn_without_ogb_installed(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ogb.nodeproppred", None)  # import fails as if ogb were missing
    _fails(capsys, ["data", "info", "ogbn-arxiv", "--root", str(tmp_path)], "'ogbn-arxiv'", "ogb", "pip install ogb")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["data", "info", "DATASET"], ["train", "--dataset", "DATASET", *TRAIN_FAST],
                                     ["pipeline", "--dataset", "DATASET", *PIPELINE_FAST]])
@pytest.mark.parametrize("slash", ["/", ""])
def test_dataset_that_is_a_directory(command, slash, tmp_path, capsys):
    folder = tmp_path / "edges"
    folder.mkdir()
    argv = [str(folder) + slash if a == "DATASET" else a for a in command]
    _fails(capsys, argv, str(folder), "is a directory", "edge list")


@pytest.mark.parametrize("flag, value, expected", [
    ("--lr", "nan", "finite positive number"), ("--lr", "inf", "finite positive number"),
    ("--weight-decay", "nan", "finite number >= 0"), ("--weight-decay", "-1", ">= 0"),
    ("--dropout", "nan", "[0, 1)"), ("--input-dropout", "inf", "[0, 1)"), ("--cache", "nan", "[0, 1]"),
])
def test_train_float_flags_must_be_finite(flag, value, expected, capsys, no_work):
    _fails(capsys, ["train", *TINY, *TRAIN_FAST, f"{flag}={value}"], flag, str(float(value)), expected)


@pytest.mark.parametrize("flag, value, expected", [
    ("--lr", "nan", "finite positive number"), ("--lr", "-inf", "finite positive number"),
    ("--weight-decay", "inf", "finite number >= 0"), ("--weight-decay", "-0.5", ">= 0"),
    ("--dropout", "nan", "[0, 1)"), ("--timeout", "inf", "finite positive number of seconds"),
    ("--timeout", "nan", "finite positive number of seconds"),
])
def test_pipeline_float_flags_must_be_finite(flag, value, expected, capsys, no_work):
    _fails(capsys, ["pipeline", *TINY, *PIPELINE_FAST, f"{flag}={value}"], flag, str(float(value)), expected)


def test_pipeline_cuda_without_gpu_says_it_as_train_does(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(graphsys.datasets, "load", lambda *a, **k: pytest.fail("pipeline loaded the dataset first"))
    train_err = _fails(capsys, ["train", *TINY, "--device", "cuda", "--quiet"], "device = 'cuda'")
    pipe_err = _fails(capsys, ["pipeline", *TINY, *PIPELINE_FAST, "--device", "cuda"], "device = 'cuda'",
                      "--device cpu")
    said = "device = 'cuda' needs a CUDA GPU and none is available; use device = 'cpu'"
    assert said in train_err and said in pipe_err


def test_pipeline_cuda_with_too_few_gpus(capsys, monkeypatch, no_work):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    _fails(capsys, ["pipeline", *TINY, "--layers", "4", "--stages", "2", "--graph-parallel", "2", "--device", "cuda",
                    "--quiet"], "--stages 2", "--graph-parallel 2", "4 GPUs", "has 1")


# --------------------------------------------------------------------------- 4. options that do nothing
@pytest.mark.parametrize("command", [["train", "--dataset", "cora", *TRAIN_FAST],
                                     ["pipeline", "--dataset", "cora", *PIPELINE_FAST],
                                     ["data", "info", "cora"], ["data", "info", "EDGES"]])
def test_scale_on_a_dataset_it_cannot_resize(command, tmp_path, capsys, no_work):
    edges = tmp_path / "g.edgelist"
    edges.write_text("0 1\n")
    argv = [str(edges) if a == "EDGES" else a for a in command] + ["--scale", "0.5"]
    _fails(capsys, argv, "--scale 0.5", "synthetic", "drop --scale")


def test_library_refuses_scale_for_fixed_size_datasets(tmp_path):
    from graphsys.datasets import load
    from graphsys.train import TrainConfig

    with pytest.raises(ValueError, match=r"scale = 0.5 applies only to the synthetic presets"):
        load("cora", tmp_path, scale=0.5)
    with pytest.raises(ValueError, match="scale must be a finite positive number, got nan"):
        load("synthetic-arxiv", scale=float("nan"))
    with pytest.raises(ValueError, match="scale 2.0 applies only to the synthetic presets"):
        TrainConfig("cora", scale=2.0, features="cpu", graph="cpu")


# --------------------------------------------------------------------------- 5. no code from ogb's processed copy
MARKER = "graphsys-test-pwned"


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Sub(np.ndarray):
    pass


def _plain_dict() -> dict:
    return {"graph": {"edge_index": np.arange(6, dtype=np.int64).reshape(2, 3), "edge_feat": None,
                      "node_feat": np.ones((3, 2), np.float32), "num_nodes": 3},
            "labels": np.array([[1.0], [np.nan], [2.0]])}


@pytest.mark.parametrize("protocol", [2, 4])
def test_load_processed_reads_numpy_arrays(protocol, tmp_path):
    from graphsys.datasets.ogb import load_processed

    path = tmp_path / "data_processed"
    torch.save(_plain_dict(), path, pickle_protocol=protocol)
    back = load_processed(path)
    assert np.array_equal(back["graph"]["edge_index"], np.arange(6).reshape(2, 3))
    assert back["graph"]["node_feat"].dtype == np.float32 and back["graph"]["num_nodes"] == 3
    assert np.isnan(back["labels"][1, 0]) and back["graph"]["edge_feat"] is None


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("payload", ["reduce", "object array", "subclass"])
def test_load_processed_refuses_anything_else_unexecuted(payload, protocol, tmp_path, monkeypatch):
    from graphsys.datasets.ogb import load_processed

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # a caller's environment cannot switch it off
    marker = tmp_path / MARKER
    value = {"reduce": lambda: _Payload(marker), "object array": lambda: np.array([1, "a"], dtype=object),
             "subclass": lambda: np.zeros(3).view(_Sub)}[payload]()
    path = tmp_path / "data_processed"
    torch.save({"graph": value, "labels": np.zeros(3)}, path, pickle_protocol=protocol)
    with pytest.raises(CorruptFileError, match="delete it to have ogb rebuild it") as err:
        load_processed(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_load_processed_refuses_garbage(tmp_path):
    from graphsys.datasets.ogb import load_processed

    path = tmp_path / "data_processed"
    path.write_bytes(b"not a torch file at all")
    with pytest.raises(CorruptFileError, match="data_processed"):
        load_processed(path)


def test_ogb_round_trip_reads_its_processed_copy_and_refuses_a_crafted_one(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ogb")
    from graphsys.datasets import load, write_ogb_node_dataset

    _offline(monkeypatch)
    ds = load("synthetic-arxiv", scale=0.003, seed=1)
    folder = write_ogb_node_dataset(ds, tmp_path, "ogbn-faults")
    for _ in range(2):  # the second load reads ogb's processed copy
        back = load("ogbn-faults", root=tmp_path)
        assert torch.equal(back.graph.indptr, ds.graph.indptr) and torch.equal(back.x, ds.x)
        assert torch.equal(back.y, ds.y) and torch.equal(back.train_idx, ds.train_idx)
    processed = folder / "processed" / "data_processed"
    assert processed.is_file()
    marker = tmp_path / MARKER
    torch.save({"graph": _Payload(marker), "labels": np.zeros(3)}, processed, pickle_protocol=4)
    crafted = processed.read_bytes()
    _fails(capsys, ["data", "info", "ogbn-faults", "--root", str(tmp_path)], str(processed),
           "more than plain numpy arrays", "delete it")
    assert not marker.exists() and processed.read_bytes() == crafted


def test_output_file_graphsys_wrote_then_edited_by_hand(tmp_path, capsys, no_work):
    """A metrics file graphsys wrote may be replaced, but not once someone edited it."""
    from graphsys.train.metrics import METRICS_KIND

    path = tmp_path / "m.jsonl"
    with atomic_file(path, METRICS_KIND) as tmp:
        Path(tmp).write_text("{}\n")
    path.write_text("edited by hand\n")
    _fails(capsys, ["pipeline", *TINY, *PIPELINE_FAST, "--metrics-out", str(path)], "--metrics-out", str(path),
           "changed since graphsys wrote it")
    assert path.read_text() == "edited by hand\n"


@pytest.mark.parametrize("flag, value, expected", [
    ("--epochs", "inf", "--epochs must be a finite number > 0, got inf"),
    ("--lr", "inf", "--lr must be a finite number > 0, got inf"),
    ("--weight-decay", "nan", "--weight-decay must be a finite number >= 0, got nan"),
    ("--negatives", "0", "--negatives must be an int >= 1, got 0"),
    ("--time-budget", "inf", "--time-budget must be a finite number of seconds > 0"),
    ("--checkpoint-every", "nan", "--checkpoint-every must be a finite number of seconds >= 0, got nan"),
])
def test_embed_numeric_flags_name_the_flag(tmp_path, capsys, flag, value, expected):
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n1 2\n2 0\n")
    code = main(["embed", "--graph", str(edges), "--out", str(tmp_path / "o"), flag, value, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "o").exists()


def test_a_preset_scaled_past_the_machines_memory_or_disk_is_refused_before_generating(tmp_path, capsys,
                                                                                        monkeypatch):
    code = main(["data", "generate", "synthetic-arxiv", "--scale", "1e9", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "synthetic-arxiv at scale 1e+09 has 169,343,000,000,000 nodes" in err and "of memory" in err
    assert list(tmp_path.iterdir()) == []
    import graphsys.datasets.synthetic as synthetic

    monkeypatch.setattr(synthetic.shutil, "disk_usage", lambda folder: types.SimpleNamespace(free=1000))
    with pytest.raises(ValueError, match=r"bytes \(.* GiB\) of disk under .* has 1,000 free; use a smaller --scale"):
        synthetic.generate("synthetic-arxiv", tmp_path, scale=0.01)
    assert list(tmp_path.iterdir()) == []


def test_memory_error_is_one_line(monkeypatch, capsys):
    import graphsys.cli.data as data_cli

    def exhausted(args):
        raise MemoryError("Unable to allocate 1.20 PiB")

    monkeypatch.setattr(data_cli, "_list", exhausted)
    assert main(["data", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory (Unable to allocate 1.20 PiB)" in err


def test_a_file_given_as_root_or_a_folder_as_graph_is_named_before_any_work(tmp_path, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    (tmp_path / "folder").mkdir()
    cases = [
        (["train", "--dataset", "cora", "--root", str(file), "--epochs", "1"], "is a file, expected the folder"),
        (["train", "--dataset", "synthetic-arxiv", "--scale", "0.01", "--root", str(file), "--epochs", "1", "--quiet"],
         "notes.txt is a file, so no folder can be made under it"),
        (["embed", "--graph", str(tmp_path / "folder"), "--out", str(tmp_path / "o")], "is a directory, expected an"),
        (["export", str(tmp_path / "o"), "--out", str(tmp_path / "folder")], "--out: "),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and expected in err, (argv, err)
    assert file.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["folder", "notes.txt"]
