"""`graphsys plot`: a picture of loss, scores and the epoch time split from metrics files."""
import json
import sys

import pytest

from graphsys.cli import main


def _train_run(path, epochs=4, offset=0.0):
    """Records as `graphsys train --metrics-out` writes them (evaluation every other epoch)."""
    lines = []
    for e in range(epochs):
        evaluated = e % 2 == 1 or e == epochs - 1
        acc = (0.5 + 0.1 * e + offset) if evaluated else None
        lines.append({"epoch": e, "loss": 2.0 / (e + 1) + offset, "train_acc": acc, "val_acc": acc, "test_acc": acc,
                      "metric": "acc", "epoch_s": 1.0, "train_s": 0.8, "sample_s": 0.2, "gather_s": 0.3,
                      "compute_s": 0.4, "eval_s": 0.2, "batches": 10, "seeds_per_s": 1e4, "peak_gpu_mib": None,
                      "peak_host_mib": 100.0})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _pipeline_run(path, epochs=3):
    """Records as `graphsys pipeline --metrics-out` writes them."""
    lines = [{"epoch": e, "mode": "sync", "loss": 1.5 - 0.2 * e, "train_acc": 0.4, "val_acc": 0.3 + 0.1 * e,
              "test_acc": 0.3, "epoch_s": 0.5, "eval_s": 0.1, "comm_bytes": 1000, "comm_by_kind": {"halo": 1000},
              "per_rank": [{"rank": 0}], "max_staleness": 0, "stale_fraction": 0.0} for e in range(epochs)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_plot_overlays_runs_into_a_png(tmp_path, capsys):
    image = pytest.importorskip("matplotlib.image")
    a, b = _train_run(tmp_path / "a.jsonl"), _train_run(tmp_path / "b.jsonl", epochs=6, offset=0.05)
    c = _pipeline_run(tmp_path / "c.jsonl")
    out = tmp_path / "curves.png"
    assert main(["plot", str(a), str(b), str(c), "-o", str(out), "--labels", "sage,gcn,pipe"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "runs": 3, "epochs": [4, 6, 3]}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(out)
    assert pixels.shape[:2] == (1000, 800)
    assert pixels[..., :3].std() > 0.05  # drawn, not blank
    # An earlier picture of ours is replaced; a file graphsys did not write is refused.
    assert main(["plot", str(a), "--out", str(out)]) == 0
    capsys.readouterr()
    foreign = tmp_path / "mine.png"
    foreign.write_bytes(b"not ours")
    assert main(["plot", str(a), "-o", str(foreign)]) == 2
    assert "--out" in capsys.readouterr().err and foreign.read_bytes() == b"not ours"


def test_plot_errors(tmp_path, capsys, monkeypatch):
    a = _train_run(tmp_path / "a.jsonl")
    assert main(["plot", str(a), "-o", str(tmp_path / "c.jpg")]) == 2
    assert "suffix must name one of png, svg, pdf" in capsys.readouterr().err
    assert main(["plot", str(a), "-o", str(tmp_path / "c.png"), "--labels", "x,y"]) == 2
    assert "--labels names 2 runs for 1 metrics files" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"epoch": 0, "loss": 1.0}\n{"epoch": 1, "loss"\n')
    pytest.importorskip("matplotlib")
    assert main(["plot", str(bad), "-o", str(tmp_path / "c.png")]) == 2
    assert "bad.jsonl line 2: not JSON" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nowhere.jsonl"), "-o", str(tmp_path / "c.png")]) == 2
    assert "nowhere.jsonl" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["plot", str(a), "-o", str(tmp_path / "c.png")]) == 2
    assert "pip install 'graphsys[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()
