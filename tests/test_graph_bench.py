"""benchmarks/bench_graph.py: every timed build is compiled first, so no row times numba's compiler."""
import json

from benchmarks import bench_graph
from graphsys import Graph


def test_every_timed_build_is_warmed_up_with_the_same_options(monkeypatch, tmp_path):
    calls = []
    build = Graph.from_coo

    def recording(src, dst, num_nodes=None, **options):
        calls.append((len(src), options))
        return build(src, dst, num_nodes, **options)

    monkeypatch.setattr(bench_graph.Graph, "from_coo", staticmethod(recording))
    monkeypatch.setattr(bench_graph, "write_result",
                        lambda name, figures, rows: (tmp_path / f"{name}.json").write_text(json.dumps(rows)))
    bench_graph.main(["--nodes", "500", "--edges", "5000"])
    timed = [options for edges, options in calls if edges == 5000]
    warm = [options for edges, options in calls[: len(calls) - len(timed)] if edges == 1000]
    assert timed == list(bench_graph.BUILDS.values()) and warm == timed
    rows = json.loads((tmp_path / "graph_build.json").read_text())
    assert [row["step"] for row in rows] == [*bench_graph.BUILDS, "save", "load (mmap)"]
    assert rows[0]["edges"] == rows[2]["edges"] == rows[3]["edges"] == 5000 and rows[1]["edges"] < 5000
