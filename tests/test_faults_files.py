"""Faults on disk: writers never destroy what graphsys did not write, a multi-file result is one
unit, readers refuse what does not match its manifest, loads never run code, and a diverged run
keeps its last good checkpoint. Each test checks the bytes on disk afterwards."""
import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from toy_data import toy_dataset as make_toy

import graphsys.io
from graphsys import Graph
from graphsys.cli import main
from graphsys.datasets import NodeDataset
from graphsys.datasets.cache import open_dataset, save_dataset
from graphsys.datasets.ogb import write_ogb_node_dataset
from graphsys.io import (
    MANIFEST,
    CorruptFileError,
    OutputError,
    atomic_file,
    check_output,
    read_json,
    read_npy,
    verify_dir,
    verify_file,
)
from graphsys.train import TrainConfig, TrainingDivergedError, load_checkpoint, train


def toy_dataset(num_nodes: int) -> NodeDataset:
    return make_toy(num_nodes, edges_per_node=4, num_features=8, num_classes=3, num_train=num_nodes // 2,
                    num_val=num_nodes // 4)


def snapshot(root) -> dict:
    """Every file under ``root`` with its sha256: what 'untouched' is compared against."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


def user_folder(path):
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    (path / "data").mkdir()
    (path / "data" / "results.csv").write_text("1,2,3\n")
    return path


def small_graph(weighted=True) -> Graph:
    src, dst = np.array([0, 1, 2, 3, 1]), np.array([1, 2, 3, 0, 3])
    return Graph.from_coo(src, dst, 4, edge_weight=np.arange(5, dtype=np.float32) + 1 if weighted else None)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------ writers refuse foreign targets
def test_graph_save_refuses_a_folder_of_the_users_files_and_leaves_it_byte_identical(tmp_path):
    folder = user_folder(tmp_path / "mine")
    before = snapshot(folder)
    with pytest.raises(OutputError, match=f"{folder} holds files graphsys did not write"):
        small_graph().save(folder)
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left beside it


def test_graph_save_refuses_a_regular_file_and_a_symlink(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    with pytest.raises(OutputError, match="is a file, not a folder graphsys wrote"):
        small_graph().save(file)
    assert file.read_text() == "keep me"
    (tmp_path / "link").symlink_to(file)
    with pytest.raises(OutputError, match="is a symbolic link"):
        small_graph().save(tmp_path / "link")
    assert file.read_text() == "keep me"


def test_graph_save_replaces_its_own_save_but_not_one_a_user_added_to_or_another_kind(tmp_path):
    target = tmp_path / "g"
    (tmp_path / "g").mkdir()  # an empty folder holds nothing to lose
    small_graph().save(target)
    small_graph(weighted=False).save(target)
    assert Graph.load(target).edge_weight is None
    (target / "my_notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="my_notes.txt was not written by graphsys; refusing to replace"):
        small_graph().save(target)
    assert (target / "my_notes.txt").read_text() == "mine"
    save_dataset(toy_dataset(40), tmp_path / "ds")
    before = snapshot(tmp_path / "ds")
    with pytest.raises(OutputError, match="holds a 'graphsys.NodeDataset' written by graphsys, not a 'graphsys.Graph'"):
        small_graph().save(tmp_path / "ds")
    assert snapshot(tmp_path / "ds") == before


def test_ogb_writer_refuses_user_files_and_replaces_its_own_with_ogbs_processed_copy(tmp_path):
    ds = toy_dataset(40)
    folder = user_folder(tmp_path / "ogbn_mine")
    before = snapshot(folder)
    with pytest.raises(OutputError, match="holds files graphsys did not write"):
        write_ogb_node_dataset(ds, tmp_path, "ogbn-mine")
    assert snapshot(folder) == before
    written = write_ogb_node_dataset(ds, tmp_path, "ogbn-toy")
    (written / "processed" / "data_processed").write_bytes(b"ogb's parsed copy")  # ogb adds this later
    write_ogb_node_dataset(ds, tmp_path, "ogbn-toy")
    (written / "split" / "random" / "extra.csv").write_text("mine")
    with pytest.raises(OutputError, match="extra.csv was not written by graphsys"):
        write_ogb_node_dataset(ds, tmp_path, "ogbn-toy")


def test_derived_folders_are_replaced_with_their_dataset_but_a_users_file_in_them_is_not(tmp_path):
    """A dataset's manifest admits derived units (``mean_features/*``: a folder with its own manifest).
    Regenerating the dataset replaces such a unit whole, but a file a user put into it, or into a
    folder below a derived glob, is not graphsys's: the writer refuses and leaves it."""
    from graphsys.io import atomic_dir

    target = tmp_path / "ds"

    def write(kind="graphsys.Test"):
        with atomic_dir(target, kind, derived=("derived/*", "nested/*/*", "processed/data_processed")) as tmp:
            (tmp / "data.bin").write_bytes(b"data")

    def derive(unit):
        with atomic_dir(target / unit, "graphsys.Derived") as tmp:
            (tmp / "x.npy").write_bytes(b"derived")

    write()
    derive("derived")
    derive("nested/split0")
    (target / "processed").mkdir()
    (target / "processed" / "data_processed").write_bytes(b"another tool's copy")  # named exactly: replaceable
    write()
    assert not (target / "derived").exists() and not (target / "nested").exists()
    for users_file in ("derived/notes.txt", "derived/deeper/notes.txt", "nested/notes.txt", "nested/mine/notes.txt",
                       "nested/split0/notes.txt"):
        write()
        derive("derived")
        derive("nested/split0")
        (target / users_file).parent.mkdir(parents=True, exist_ok=True)
        (target / users_file).write_text("mine")
        before = snapshot(target)
        with pytest.raises(OutputError, match=f"{users_file} was not written by graphsys"):
            write()
        assert snapshot(target) == before
        (target / users_file).unlink()


def test_data_generate_refuses_a_foreign_dataset_folder(tmp_path, capsys):
    folder = user_folder(tmp_path / "synthetic-arxiv_scale0.002_seed0")
    before = snapshot(folder)
    code = main(["data", "generate", "synthetic-arxiv", "--scale", "0.002", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(folder) in err
    assert snapshot(folder) == before


def test_file_writers_refuse_foreign_files_and_files_changed_since(tmp_path):
    target = tmp_path / "metrics.jsonl"
    target.write_text("the user's own log\n")
    with pytest.raises(OutputError, match="exists and was not written by graphsys"):
        with atomic_file(target, "graphsys.metrics") as tmp:
            tmp.write_text("{}\n")
    assert target.read_text() == "the user's own log\n"
    own = tmp_path / "own.jsonl"
    for text in ("one\n", "two\n"):  # graphsys may replace what it wrote
        with atomic_file(own, "graphsys.metrics") as tmp:
            tmp.write_text(text)
    assert own.read_text() == "two\n"
    own.write_text("edited by hand\n")
    with pytest.raises(OutputError, match="changed since graphsys wrote it"):
        with atomic_file(own, "graphsys.metrics") as tmp:
            tmp.write_text("three\n")
    assert own.read_text() == "edited by hand\n"
    with pytest.raises(OutputError, match="is a directory, expected a file path"):
        check_output(tmp_path, "graphsys.metrics", directory=False)
    with pytest.raises(NotADirectoryError, match="is a file, so no folder can be made under it"):
        check_output(own / "sub" / "m.jsonl", "graphsys.metrics", directory=False)


def test_check_output_refuses_an_unwritable_folder(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write anywhere: ask as a user would be answered
        monkeypatch.setattr(graphsys.io.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="locked is not writable"):
        check_output(locked / "out", "graphsys.Graph", directory=True)


# ------------------------------------------------------------------ interrupted writers
@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_folder_interrupted_at_any_rename_leaves_the_previous_or_the_new_result(tmp_path, monkeypatch, fail_at):
    """atomic_dir renames three times (the manifest into the temporary folder, the old folder aside,
    the new one in); a crash at any of them leaves one complete graph, and the next writer cleans up."""
    target = tmp_path / "g"
    small_graph(weighted=True).save(target)
    real, calls = os.replace, []

    def crashing(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(graphsys.io.os, "replace", crashing)
    with pytest.raises(KeyboardInterrupt):
        small_graph(weighted=False).save(target)
    monkeypatch.setattr(graphsys.io.os, "replace", real)
    loaded = Graph.load(target)  # complete: the previous graph (every crash point is before the swap ends)
    assert loaded.edge_weight is not None
    small_graph(weighted=False).save(target)
    assert Graph.load(target).edge_weight is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]


def test_leftovers_of_a_killed_writer_are_cleaned_and_a_half_swapped_folder_is_restored(tmp_path):
    target = tmp_path / "g"
    small_graph().save(target)
    pid = dead_pid()
    os.replace(target, tmp_path / f".g.{pid}-{'a' * 16}.old")  # killed between moving aside and renaming in
    (tmp_path / f".g.{pid}-{'b' * 16}.tmp").mkdir()
    (tmp_path / f".g.{pid}-{'b' * 16}.tmp" / "indptr.npy").write_bytes(b"half")
    (tmp_path / f".m.jsonl.{pid}-{'c' * 16}.tmp").write_text("half")
    (tmp_path / f"..m.jsonl.graphsys.json.{pid}-{'e' * 16}.tmp").write_text("half")  # killed writing the sidecar
    alive = tmp_path / f".g.{os.getpid()}-{'d' * 16}.tmp"  # a live writer's: left alone
    alive.mkdir()
    assert Graph.load(target).num_edges == 5  # the reader puts the previous result back
    with atomic_file(tmp_path / "m.jsonl", "graphsys.metrics") as tmp:
        tmp.write_text("{}\n")
    small_graph().save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".g." + alive.name[3:], ".m.jsonl.graphsys.json", "g",
                                                         "m.jsonl"]


# ------------------------------------------------------------------ readers refuse what does not match
def test_graph_load_refuses_a_missing_truncated_or_flipped_array_naming_the_file(tmp_path):
    target = tmp_path / "g"
    small_graph().save(target)
    (target / "edge_weight.npy").unlink()
    with pytest.raises(CorruptFileError, match="edge_weight.npy is missing"):
        Graph.load(target)
    small_graph().save(target)
    data = (target / "indices.npy").read_bytes()
    (target / "indices.npy").write_bytes(data[: len(data) - 4])
    with pytest.raises(CorruptFileError, match=r"indices.npy has \d+ bytes, the manifest says \d+"):
        Graph.load(target)
    small_graph().save(target)
    data = bytearray((target / "indices.npy").read_bytes())
    data[-1] ^= 0x01
    (target / "indices.npy").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="indices.npy does not match its checksum"):
        Graph.load(target)
    small_graph().save(target)
    (target / MANIFEST).write_text("{not json")
    with pytest.raises(CorruptFileError, match="cannot be read as a graphsys manifest"):
        Graph.load(target)


def test_open_dataset_refuses_an_altered_feature_table(tmp_path):
    save_dataset(toy_dataset(40), tmp_path / "ds")
    assert open_dataset(tmp_path / "ds").num_nodes == 40
    x = np.load(tmp_path / "ds" / "x.npy")
    np.save(tmp_path / "ds" / "x.npy", x + 1)  # same size, other bytes
    with pytest.raises(CorruptFileError, match="x.npy does not match its checksum"):
        open_dataset(tmp_path / "ds")


def test_read_npy_and_read_json_name_the_file_and_the_fault(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(1000, dtype=np.int64))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:500])
    with pytest.raises(CorruptFileError, match=r"cut.npy is truncated: its header says shape \(1000,\) of int64"):
        read_npy(tmp_path / "cut.npy")
    (tmp_path / "garbled.npy").write_bytes(b"\x93NUMPY\x01\x00garbage" + data[20:])
    with pytest.raises(CorruptFileError, match="garbled.npy is not a readable .npy file"):
        read_npy(tmp_path / "garbled.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptFileError, match="obj.npy holds Python objects"):
        read_npy(tmp_path / "obj.npy")
    with pytest.raises(IsADirectoryError, match="is a directory, expected an .npy file"):
        read_npy(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": ')
    with pytest.raises(CorruptFileError, match="meta.json is not valid JSON"):
        read_json(tmp_path / "meta.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(CorruptFileError, match="list.json holds a JSON list, expected an object"):
        read_json(tmp_path / "list.json")


# ------------------------------------------------------------------ checkpoints and divergence
def run_config(tmp_path, **overrides) -> TrainConfig:
    args = dict(layers=2, fanouts=(5, 3), hidden=16, batch_size=64, epochs=3, lr=0.01, features="cpu",
                graph="cpu", eval_every=0, quiet=True, seed=7, checkpoint=str(tmp_path / "ckpt.pt"),
                metrics_out=str(tmp_path / "m.jsonl"))
    args.update(overrides)
    return TrainConfig("toy", **args)


def test_a_flipped_checkpoint_is_refused_on_resume_and_left_as_it_was(tmp_path):
    ds = toy_dataset(200)
    train(run_config(tmp_path, epochs=1), dataset=ds)
    ckpt = tmp_path / "ckpt.pt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="ckpt.pt does not match its checksum"):
        train(run_config(tmp_path, epochs=2, resume=True), dataset=ds)
    assert ckpt.read_bytes() == bytes(data)


def test_a_run_whose_loss_turns_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    ds = toy_dataset(200)
    good = {}

    def poison(epoch, step, model):
        if epoch == 2 and step == 1:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    def keep(record):
        good[record.epoch] = (tmp_path / "ckpt.pt").read_bytes()

    with pytest.raises(TrainingDivergedError, match=r"epoch 2: the training loss is nan .*still holds epoch 1"):
        train(run_config(tmp_path), dataset=ds, on_step=poison, on_epoch=keep)
    assert (tmp_path / "ckpt.pt").read_bytes() == good[1]
    assert load_checkpoint(tmp_path / "ckpt.pt").epoch == 1
    assert [json.loads(line)["epoch"] for line in (tmp_path / "m.jsonl").read_text().splitlines()] == [1]


def test_divergence_is_one_line_and_exit_2_from_the_cli(tmp_path, capsys):
    code = main(["train", "--dataset", "synthetic-arxiv", "--scale", "0.01", "--root", str(tmp_path / "data"),
                 "--layers", "1", "--fanouts", "3", "--hidden", "8", "--epochs", "3", "--lr", "1e36",
                 "--batch-size", "64", "--features", "cpu", "--graph", "cpu", "--device", "cpu", "--eval-every", "0",
                 "--quiet", "--checkpoint", str(tmp_path / "c.pt")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "the run diverged" in err, err
    assert "no checkpoint was written" in err and not (tmp_path / "c.pt").exists()


# ------------------------------------------------------------------ no code runs from a file
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_crafted_embedding_checkpoint_with_a_valid_manifest_does_not_run(tmp_path, capsys):
    """An attacker who can write the checkpoint can write its sidecar too: the load itself must refuse."""
    edges = tmp_path / "edges.txt"
    edges.write_text("".join(f"{i} {(i + 1) % 30}\n{i} {(i + 7) % 30}\n" for i in range(30)))
    out = tmp_path / "emb"
    args = ["embed", "--graph", str(edges), "--out", str(out), "--dim", "8", "--epochs", "1", "--quiet",
            "--label-ratios", "none"]
    assert main(args) == 0
    marker = tmp_path / "pwned"
    partial = tmp_path / ".emb.graphsys-partial"
    partial.mkdir()
    with atomic_file(partial / "checkpoint.pt", "graphsys.embedding.checkpoint") as tmp:
        tmp.write_bytes(pickle.dumps(_Payload(marker)))
    capsys.readouterr()
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert "is not a readable embedding checkpoint" in err and not marker.exists()


# ------------------------------------------------------------------ embed: one unit
def test_export_refuses_an_embedding_folder_that_mixes_two_runs(tmp_path, capsys):
    edges = tmp_path / "edges.txt"
    edges.write_text("".join(f"{i} {(i + 1) % 30}\n{i} {(i + 7) % 30}\n" for i in range(30)))
    for run, seed in (("a", "1"), ("b", "2")):
        assert main(["embed", "--graph", str(edges), "--out", str(tmp_path / run), "--dim", "8", "--epochs", "1",
                     "--seed", seed, "--quiet", "--label-ratios", "none"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "checkpoint.pt", "context.npy", MANIFEST, "meta.json", "node_ids.npy", "vertex.npy"]
    verify_dir(tmp_path / "a", "graphsys.embedding")
    (tmp_path / "a" / "vertex.npy").write_bytes((tmp_path / "b" / "vertex.npy").read_bytes())
    capsys.readouterr()
    out = tmp_path / "e.npy"
    assert main(["export", str(tmp_path / "a"), "--out", str(out)]) == 2
    assert "vertex.npy does not match its checksum" in capsys.readouterr().err and not out.exists()
    assert main(["export", str(tmp_path / "b"), "--out", str(out)]) == 0
    verify_file(out, "graphsys.export")
    user = tmp_path / "user.npy"
    user.write_bytes(b"the user's array")
    assert main(["export", str(tmp_path / "b"), "--out", str(user)]) == 2
    assert "was not written by graphsys" in capsys.readouterr().err and user.read_bytes() == b"the user's array"


def test_embed_refuses_an_out_folder_of_the_users_files_before_training(tmp_path, capsys):
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n1 2\n2 0\n")
    folder = user_folder(tmp_path / "mine")
    before = snapshot(folder)
    assert main(["embed", "--graph", str(edges), "--out", str(folder), "--dim", "8", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "holds files graphsys did not write" in err
    assert snapshot(folder) == before


def test_shared_feature_tables_of_killed_runs_are_removed(tmp_path):
    from graphsys.train.features import _remove_orphans

    orphan = tmp_path / f"graphsys-0-127.0.0.1-29500.pid{dead_pid()}.features.npy"
    live = tmp_path / f"graphsys-0-127.0.0.1-29501.pid{os.getpid()}.features.npy"
    mine = tmp_path / "graphsys-notes.npy"
    for path in (orphan, live, mine):
        path.write_bytes(b"table")
    _remove_orphans(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, mine.name])


# ------------------------------------------------------------------ options that would do nothing
def test_graph_builders_refuse_non_finite_weights_and_non_bool_flags():
    with pytest.raises(ValueError, match=r"edge_weight\[1\] = nan is not finite"):
        Graph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match=r"edge_weight\[0\] = inf is not finite"):
        Graph.from_coo([0], [1], edge_weight=[float("inf")])
    with pytest.raises(TypeError, match="symmetrize must be True or False, got 'yes'"):
        Graph.from_edge_index(torch.tensor([[0], [1]]), symmetrize="yes")
    with pytest.raises(TypeError, match="dedup must be True or False, got 1"):
        Graph.from_coo([0], [1], dedup=1)


def test_writers_name_a_parent_that_is_a_file_and_refuse_dot_paths(tmp_path, monkeypatch):
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    with pytest.raises(NotADirectoryError, match="notes.txt is a file, so no folder can be made under it"):
        small_graph().save(file / "g")
    with pytest.raises(NotADirectoryError, match="notes.txt is a file"):
        with atomic_file(file / "sub" / "m.jsonl", "graphsys.metrics") as tmp:
            tmp.write_text("{}\n")
    assert file.read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")  # even an empty working folder is not taken as an output
    for dot in (".", "..", ""):
        with pytest.raises(OutputError, match="names a folder by|is empty"):
            small_graph().save(dot)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "notes.txt"]


def test_a_folder_from_before_manifests_is_named_as_such_and_kept(tmp_path):
    legacy = tmp_path / "g"
    legacy.mkdir()
    (legacy / "meta.json").write_text('{"format": "graphsys.Graph", "num_nodes": 4, "num_edges": 5}')
    np.save(legacy / "indptr.npy", np.zeros(5, dtype=np.int64))
    before = snapshot(legacy)
    with pytest.raises(OutputError, match="written by an earlier graphsys, without a graphsys.manifest.json"):
        small_graph().save(legacy)
    with pytest.raises(CorruptFileError, match="has no graphsys.manifest.json"):
        Graph.load(legacy)
    assert snapshot(legacy) == before


def test_ogb_folder_with_a_user_file_beside_ogbs_processed_copy_is_refused(tmp_path):
    written = write_ogb_node_dataset(toy_dataset(40), tmp_path, "ogbn-toy")
    (written / "processed" / "data_processed").write_bytes(b"ogb's parsed copy")
    (written / "processed" / "my_cache.bin").write_bytes(b"mine")
    with pytest.raises(OutputError, match="my_cache.bin was not written by graphsys"):
        write_ogb_node_dataset(toy_dataset(40), tmp_path, "ogbn-toy")
    assert (written / "processed" / "my_cache.bin").read_bytes() == b"mine"
