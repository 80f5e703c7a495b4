"""graphsys train: config checks, machine checks and the CLI's message for every bad flag."""
import pytest
import torch

from graphsys.cli import main
from graphsys.train import TrainConfig, check_machine
from graphsys.train.config import Amp, ModelKind

CPU = dict(features="cpu", graph="cpu")


def test_config_parses_choices_and_fingerprint():
    cfg = TrainConfig("cora", model="gat", amp="bf16", layers=2, fanouts=[10, 5], hidden=64, heads=4, **CPU)
    assert cfg.model is ModelKind.GAT and cfg.amp is Amp.BF16 and cfg.fanouts == (10, 5)
    fp = cfg.fingerprint()
    assert fp["model"] == "gat" and fp["fanouts"] == [10, 5] and "features" not in fp
    assert TrainConfig("cora", layers=2, fanouts=(10, -1), **CPU).fanouts == (10, -1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layers=2, fanouts=(15, 10, 5)), "has 3 entries but layers = 2"),
        (dict(layers=2, fanouts=(10, 0)), "fanouts must be positive or -1"),
        (dict(model="gin"), "model = 'gin' is not one of"),
        (dict(amp="fp8"), "amp = 'fp8' is not one of"),
        (dict(features="gpu"), "features = 'gpu' is not one of"),
        (dict(cache=1.5, features="pinned"), "cache is a fraction"),
        (dict(cache=0.2, features="cuda"), "needs features = 'pinned'"),
        (dict(model="gat", hidden=10, heads=4), "divisible by heads"),
        (dict(resume=True), "resume needs a checkpoint"),
        (dict(batch_size=0), "batch_size must be a positive int"),
        (dict(gather_group=0), "gather_group must be a positive int, got 0"),
        (dict(dropout=1.0), "dropout must lie in [0, 1)"),
        (dict(lr=0.0), "lr must be positive"),
        (dict(device="cpu", features="pinned"), "with device 'cpu' both must be 'cpu'"),
        (dict(device="tpu"), "device = 'tpu' is not one of"),
        (dict(undirected=True), "undirected applies to ogbn-* datasets"),
        (dict(cuda_graph=True), "cuda_graph needs GPU sampling (graph 'cuda' or 'pinned', got 'cpu')"),
        (dict(cuda_graph=True, graph="cuda", layers=2, fanouts=(5, -1)), "and fanouts >= 0 (got 5,-1)"),
    ],
)
def test_config_rejects(kwargs, message):
    args = {"features": "cpu", "graph": "cpu", **kwargs}
    with pytest.raises(ValueError) as err:
        TrainConfig("cora", **args)
    assert message in str(err.value)


def test_check_machine():
    pinned = TrainConfig("cora", features="pinned", graph="cpu")
    with pytest.raises(RuntimeError, match="features = 'pinned' needs a CUDA GPU"):
        check_machine(pinned, cache_bytes=0, cuda_available=False, free_gpu_bytes=None)
    cached = TrainConfig("cora", features="pinned", graph="cuda", cache=0.5)
    with pytest.raises(RuntimeError, match="lower cache"):
        check_machine(cached, cache_bytes=2 << 30, cuda_available=True, free_gpu_bytes=1 << 30)
    check_machine(cached, cache_bytes=1 << 20, cuda_available=True, free_gpu_bytes=1 << 30)
    check_machine(TrainConfig("cora", **CPU), cache_bytes=0, cuda_available=False, free_gpu_bytes=None)


def _run(capsys, *flags):
    code = main(["train", *flags, "--quiet"])
    return code, capsys.readouterr().err


def test_cli_unknown_dataset(capsys):
    code, err = _run(capsys, "--dataset", "no-such-graph", "--features", "cpu", "--graph", "cpu")
    assert code == 2 and "unknown dataset 'no-such-graph'" in err and "cora" in err
    assert "Traceback" not in err


def test_cli_fanouts_do_not_match_layers(capsys):
    code, err = _run(capsys, "--dataset", "cora", "--layers", "2", "--fanouts", "15,10,5")
    assert code == 2 and "--fanouts 15,10,5 has 3 entries but --layers is 2" in err


def test_cli_fanouts_not_integers(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "cora", "--fanouts", "15,ten"])
    assert exit_.value.code == 2
    assert "fanouts must be comma-separated integers" in capsys.readouterr().err


def test_cli_cache_out_of_range(capsys):
    code, err = _run(capsys, "--dataset", "cora", "--cache", "2")
    assert code == 2 and "--cache is a fraction of the feature rows in [0, 1], got 2.0" in err


def test_cli_gather_group_below_one(capsys):
    code, err = _run(capsys, "--dataset", "cora", "--gather-group", "0")
    assert code == 2 and "--gather-group must be a positive int, got 0" in err


def test_cli_resume_without_checkpoint(capsys):
    code, err = _run(capsys, "--dataset", "cora", "--resume", "--features", "cpu", "--graph", "cpu")
    assert code == 2 and "--resume needs --checkpoint" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cli_pinned_features_without_gpu(capsys):
    code, err = _run(capsys, "--dataset", "cora", "--features", "pinned", "--graph", "cpu")
    assert code == 2 and "features = 'pinned' needs a CUDA GPU and none is available" in err


def test_cli_cache_larger_than_gpu_memory(capsys, monkeypatch, shared_data):
    """With a (pretended) GPU of 1 MiB free, a cache of all Cora rows (15 MiB) is refused."""
    root = shared_data("planetoid/cora")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1 << 20, 80 << 30))
    code, err = _run(capsys, "--dataset", "cora", "--root", str(root.parent), "--layers", "2",
                     "--features", "pinned", "--cache", "1.0", "--graph", "cuda")
    assert code == 2 and "cache = 1.0 asks for 0.01 GiB of GPU memory" in err and "lower cache" in err


def test_verbose_logs_how_long_each_setup_stage_took(tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="graphsys")
    code = main(["--verbose", "train", "--dataset", "synthetic-arxiv", "--scale", "0.01", "--root", str(tmp_path),
                 "--layers", "2", "--fanouts", "5,5", "--hidden", "16", "--epochs", "1", "--eval-every", "0",
                 "--features", "cpu", "--graph", "cpu", "--quiet"])
    assert code == 0
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("graphsys.train")]
    assert any("synthetic-arxiv" in m and "loaded in" in m for m in messages), messages
    assert any(m.startswith("graph (") and "placed in cpu in" in m for m in messages), messages
    assert any(m.startswith("features (") and "placed in cpu in" in m for m in messages), messages
