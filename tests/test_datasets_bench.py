"""benchmarks/bench_datasets.py: a preset already generated into --root is reported, not timed."""
from benchmarks.bench_datasets import bench_preset, seconds_by_row


def test_reopening_a_root_reports_every_timed_row(tmp_path):
    first = bench_preset("synthetic-arxiv", 0.002, tmp_path)
    again = bench_preset("synthetic-arxiv", 0.002, tmp_path)
    verified, sizes = "synthetic-arxiv scale 0.002 reopen (mmap, checksums verified)", \
        "synthetic-arxiv scale 0.002 reopen (mmap, sizes only)"
    assert [row["what"] for row in first] == ["synthetic-arxiv scale 0.002 generate into root", verified, sizes]
    assert again[0] == {"what": "synthetic-arxiv scale 0.002 was already in root (not timed)"}
    figures = seconds_by_row(first + again)
    assert set(figures) == {"synthetic-arxiv scale 0.002 generate into root seconds", f"{verified} seconds",
                            f"{sizes} seconds"}
    assert figures[f"{verified} seconds"] == again[1]["seconds"] > 0
    assert figures[f"{sizes} seconds"] == again[2]["seconds"] > 0
