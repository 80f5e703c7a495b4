"""DataLoader workers (fork and spawn, persistent or not) over graphsys's sampler never hang.

Each case runs in a fresh interpreter under a timeout: a hang (numba's OpenMP layer started in
a forked worker deadlocked PyG's index_select in libgomp) shows as a timeout, not a stuck suite.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("_worker_epochs.py")
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("persistent", ["persistent", "fresh"])
def test_pyg_loader_with_two_workers_runs_three_epochs(method, persistent):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    for name in ("NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        env.pop(name, None)  # the defaults a user has, not a workaround
    try:
        done = subprocess.run([sys.executable, str(SCRIPT), method, persistent], env=env, capture_output=True,
                              text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{method} workers ({persistent}) hung: three small epochs did not finish in 240 s")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "epochs done" in done.stdout


def test_a_pickled_cpu_sampler_samples_as_the_original_and_shares_numpy_owned_csr():
    import io
    import pickle
    from multiprocessing.reduction import ForkingPickler

    import numpy as np
    import torch
    import torch.multiprocessing  # noqa: F401 (registers the shared-memory reductions of tensors)

    from sampling import NeighborSampler

    rng = np.random.default_rng(0)
    indptr = torch.from_numpy(np.arange(0, 401, 4, dtype=np.int64))  # numpy owns these: not resizable
    indices = torch.from_numpy(rng.integers(0, 100, 400).astype(np.int32))
    sampler = NeighborSampler(indptr, indices, [3, 2], seed=4)
    buffer = io.BytesIO()
    ForkingPickler(buffer).dump(sampler)  # what a spawned worker's pickle does: shared memory
    copy = pickle.loads(pickle.dumps(sampler))
    seeds = torch.arange(0, 100, 7)
    a, b = sampler.sample(seeds), copy.sample(seeds)
    assert torch.equal(a.node, b.node) and torch.equal(a.row, b.row) and torch.equal(a.edge, b.edge)
