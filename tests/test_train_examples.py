"""The examples run: the two-line PyG script trains on Cora through graphsys with wrapped features."""
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_pyg_two_line_example_trains_on_cora(shared_data):
    root = shared_data("planetoid/cora").parent
    proc = subprocess.run([sys.executable, str(EXAMPLES / "pyg_two_line.py"), "--root", str(root), "--epochs", "10"],
                          capture_output=True, text=True, timeout=600, cwd=EXAMPLES.parent,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("test accuracy")
    assert float(lines[-1].split()[-1]) >= 0.7  # 7 classes: chance is 0.14; wrong rows would stay near it
