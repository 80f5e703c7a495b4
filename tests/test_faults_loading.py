"""Loading files graphsys did not write, and payloads from other processes, without running their code;
truncated or garbled inputs refused with the file named; a stopped pipeline rank ended within the timeout."""
from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from test_pipeline_units import tiny_dataset

from graphsys.datasets.blogcatalog import load_blogcatalog
from graphsys.datasets.planetoid import load_planetoid
from graphsys.io import CorruptFileError, OutputError
from graphsys.pipeline import PipelineConfig, train
from graphsys.pipeline.run import EpochMetrics, RankReport, _end_all, _load_result, _read_traceback

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def cora(tmp_path) -> Path:
    """A writable copy of Cora's raw files; returns the ``raw`` folder (root is two levels up)."""
    src = SHARED / "planetoid" / "cora" / "raw"
    if not src.is_dir():
        pytest.skip(f"shared data not found at {src}")
    raw = tmp_path / "planetoid" / "cora" / "raw"
    shutil.copytree(src, raw)
    return raw


def _root(raw: Path) -> Path:
    return raw.parent.parent


class _Payload:
    """Unpickling this calls os.system, which would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# --------------------------------------------------------------------------- Planetoid
def test_planetoid_matches_pyg_reader(cora):
    from torch_geometric.io import read_planetoid_data

    ds = load_planetoid("cora", _root(cora))
    ref = read_planetoid_data(str(cora), "cora")
    assert torch.equal(ds.x, ref.x.float()) and ds.x.dtype == torch.float32
    assert torch.equal(ds.y, ref.y)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(ds, f"{split}_idx"), getattr(ref, f"{split}_mask").nonzero().view(-1))
    expected = set(map(tuple, ref.edge_index.t().tolist()))
    degree = ds.graph.indptr.diff()
    targets = torch.repeat_interleave(torch.arange(ds.graph.num_nodes), degree)
    got = set(zip(ds.graph.indices.long().tolist(), targets.tolist(), strict=True))
    assert got == expected and ds.graph.num_edges == 10_556


def test_planetoid_refuses_a_reduce_payload_before_it_runs(cora, tmp_path):
    marker = tmp_path / "marker"
    (cora / "ind.cora.x").write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    said = r"ind\.cora\.x: refusing to unpickle (os|posix)\.system \(only numpy/scipy"
    with pytest.raises(CorruptFileError, match=said):
        load_planetoid("cora", _root(cora))
    assert not marker.exists()


def test_a_reduce_payload_would_run_under_plain_pickle(tmp_path):
    """The control for the test above: the same payload does create its marker when unpickled plainly."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_Payload(marker), protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "eval"), ("__builtin__", "getattr"),
                                          ("numpy", "load"), ("subprocess", "Popen"), ("torch", "load")])
def test_planetoid_refuses_every_other_global(cora, tmp_path, module, name):
    marker = tmp_path / "marker"
    # Protocol 0 by hand: GLOBAL module.name, called with one string argument.
    (cora / "ind.cora.allx").write_bytes(f"c{module}\n{name}\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(CorruptFileError, match=rf"ind\.cora\.allx: refusing to unpickle {module}\.{name} "):
        load_planetoid("cora", _root(cora))
    assert not marker.exists()


def test_planetoid_refuses_a_payload_hidden_in_a_neighbour_list(cora, tmp_path):
    marker = tmp_path / "marker"
    graph = pickle.loads((cora / "ind.cora.graph").read_bytes(), encoding="latin1")
    graph[0] = [1, _Payload(marker)]
    (cora / "ind.cora.graph").write_bytes(pickle.dumps(graph, protocol=2))
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.graph: refusing to unpickle (os|posix)\.system"):
        load_planetoid("cora", _root(cora))
    assert not marker.exists()


def test_planetoid_refuses_object_arrays(cora):
    (cora / "ind.cora.y").write_bytes(pickle.dumps(np.array([[1, "a"]], dtype=object), protocol=2))
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.y: holds Python objects"):
        load_planetoid("cora", _root(cora))


@pytest.mark.parametrize("part", ["x", "graph", "ally"])
def test_planetoid_truncated_file_is_named(cora, part):
    path = cora / f"ind.cora.{part}"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=rf"ind\.cora\.{part} is truncated") as err:
        load_planetoid("cora", _root(cora))
    assert isinstance(err.value, ValueError)


def test_planetoid_garbled_bytes_are_named(cora):
    path = cora / "ind.cora.tx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.tx is garbled: not a readable Planetoid pickle"):
        load_planetoid("cora", _root(cora))


def test_planetoid_bytes_after_the_pickle_are_refused(cora):
    path = cora / "ind.cora.ty"
    path.write_bytes(path.read_bytes() + b"\x00junk")
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.ty is garbled: 5 bytes follow the end of its pickle"):
        load_planetoid("cora", _root(cora))


def test_planetoid_inconsistent_sparse_matrix_is_refused(cora):
    with warnings.catch_warnings():  # the Python 2 pickle names scipy.sparse.csr, deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        matrix = pickle.loads((cora / "ind.cora.x").read_bytes(), encoding="latin1")
    matrix.indices[0] = 10**6  # a column far outside the 1,433 features: todense would write out of bounds
    (cora / "ind.cora.x").write_bytes(pickle.dumps(matrix, protocol=2))
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.x: an inconsistent csr_matrix"):
        load_planetoid("cora", _root(cora))


def test_planetoid_oversized_shape_is_refused_before_allocating(cora):
    huge = sp.csr_matrix((np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(2, np.int32)), shape=(1, 1))
    huge._shape = (10**9, 10**9)
    (cora / "ind.cora.x").write_bytes(pickle.dumps(huge, protocol=2))
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.x: claims a 1000000000 x 1000000000 feature matrix"):
        load_planetoid("cora", _root(cora))


def test_planetoid_files_that_disagree_are_named(cora):
    y = pickle.loads((cora / "ind.cora.y").read_bytes(), encoding="latin1")
    (cora / "ind.cora.y").write_bytes(pickle.dumps(y[:-1], protocol=2))
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.y: 139 rows, but ind\.cora\.x has 140"):
        load_planetoid("cora", _root(cora))


def test_planetoid_test_index_names_the_bad_line(cora):
    lines = (cora / "ind.cora.test.index").read_text().splitlines()
    lines[2] = "12x"
    (cora / "ind.cora.test.index").write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.test\.index, line 3: expected a node id, got '12x'"):
        load_planetoid("cora", _root(cora))


# --------------------------------------------------------------------------- BlogCatalog
def test_blogcatalog_truncated_file_is_named(tmp_path):
    src = SHARED / "blogcatalog" / "blogcatalog.mat"
    if not src.is_file():
        pytest.skip(f"shared data not found at {src}")
    data = src.read_bytes()
    (tmp_path / "blogcatalog.mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=r"blogcatalog\.mat is truncated or not a MATLAB v5 file"):
        load_blogcatalog(tmp_path)


def test_blogcatalog_other_variables_are_named(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "blogcatalog.mat", {"network": np.eye(3), "group": sp.csr_matrix(np.eye(3))})
    said = r"blogcatalog\.mat: 'network' is a 2-D float64 array, expected a sparse"
    with pytest.raises(CorruptFileError, match=said):
        load_blogcatalog(tmp_path)


# --------------------------------------------------------------------------- pipeline payloads and files
def _result_payload(**overrides) -> tuple[bytes, EpochMetrics, RankReport]:
    metrics = EpochMetrics(epoch=0, mode="sync", loss=1.5, train_acc=0.5, val_acc=None, test_acc=None, epoch_s=0.1,
                           eval_s=0.0, comm_bytes=8, comm_by_kind={"activations": 8}, per_rank=({"rank": 0},),
                           max_staleness=0, stale_fraction=0.0)
    report = RankReport(rank=1, stage=1, group=0, params={"w": torch.ones(2)}, grads={}, logits=None,
                        node_ids=torch.arange(3))
    data = {"metrics": [metrics.to_json()], "report": report.to_dict(), **overrides}
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue(), metrics, report


def test_rank_result_round_trips_under_weights_only():
    payload, metrics, report = _result_payload()
    (got_metrics,), got_report = _load_result(1, payload)
    assert got_metrics == metrics
    assert got_report.rank == 1 and torch.equal(got_report.params["w"], report.params["w"])
    assert torch.equal(got_report.node_ids, report.node_ids) and got_report.logits is None


def test_rank_result_with_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    payload, _, _ = _result_payload(extra=_Payload(marker))
    with pytest.raises(RuntimeError, match=r"pipeline rank 1 sent a malformed result \(UnpicklingError: Weights only"):
        _load_result(1, payload)
    assert not marker.exists()


def test_rank_traceback_file_is_read_without_globals(tmp_path):
    marker = tmp_path / "marker"
    error_file = tmp_path / "err.pickle"
    error_file.write_bytes(pickle.dumps(_Payload(marker)))
    text = _read_traceback(str(error_file))
    assert "cannot be read" in text and "refusing" in text and not marker.exists()
    error_file.write_bytes(pickle.dumps("Traceback ...\nValueError: boom\n"))
    assert _read_traceback(str(error_file)).endswith("ValueError: boom\n")
    assert _read_traceback(str(tmp_path / "none")) is None


def test_metrics_are_written_with_a_manifest_and_never_over_foreign_files(tmp_path):
    cfg = PipelineConfig(layers=2, hidden=8, stages=1, chunks=1, epochs=1)
    out = tmp_path / "metrics.jsonl"
    train(cfg, tiny_dataset(), metrics_out=out)
    assert out.read_text().count("\n") == 1 and (tmp_path / ".metrics.jsonl.graphsys.json").is_file()
    train(cfg, tiny_dataset(), metrics_out=out)  # graphsys's own file: replaced
    foreign = tmp_path / "notes.txt"
    foreign.write_text("mine")
    with pytest.raises(OutputError, match="notes.txt exists and was not written by graphsys"):
        train(cfg, tiny_dataset(), metrics_out=foreign)
    assert foreign.read_text() == "mine"


# --------------------------------------------------------------------------- stopped ranks
def _sleep() -> None:
    time.sleep(600)


def test_end_all_kills_a_stopped_process_at_once():
    ctx = multiprocessing.get_context("fork")
    stopped, running = ctx.Process(target=_sleep), ctx.Process(target=_sleep)
    stopped.start()
    running.start()
    os.kill(stopped.pid, signal.SIGSTOP)
    for _ in range(100):  # the stop takes effect asynchronously
        with open(f"/proc/{stopped.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                break
        time.sleep(0.01)
    start = time.monotonic()
    how = _end_all([stopped, running], grace_s=5.0)
    assert how == {0: "stopped", 1: "terminated"}
    assert time.monotonic() - start < 2.0
    assert stopped.exitcode == -signal.SIGKILL and running.exitcode == -signal.SIGTERM


def test_launcher_reports_a_stopped_rank_and_ends_everything_within_the_timeout(tmp_path):
    cfg = PipelineConfig(layers=4, hidden=16, stages=2, chunks=2, epochs=100_000, warmup_epochs=1, timeout_s=3)
    metrics = tmp_path / "metrics.jsonl"
    seen: dict = {}

    def stop_last_rank():
        deadline = time.monotonic() + 120
        while not metrics.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        children = sorted(multiprocessing.active_children(), key=lambda p: int(p.name.rsplit("-", 1)[-1]))
        seen["pids"] = [c.pid for c in children]
        os.kill(children[-1].pid, signal.SIGSTOP)
        seen["at"] = time.monotonic()

    stopper = threading.Thread(target=stop_last_rank)
    stopper.start()
    with pytest.raises(RuntimeError, match=r"rank 1 \(stage 1, group 0\) was stopped \(SIGSTOP or a debugger\)"):
        train(cfg, tiny_dataset(), metrics_out=metrics)
    ended = time.monotonic()
    stopper.join()
    assert ended - seen["at"] <= cfg.timeout_s + 5
    assert not multiprocessing.active_children()
    for pid in seen["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
