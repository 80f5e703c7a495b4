"""NeighborSampler: the SamplerOutput contract on random graphs, for every placement present."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling import NeighborSampler, SamplerOutput
from tests.test_sampling_checks import check_output, random_csr

PLACEMENTS = [
    pytest.param("cpu"),
    pytest.param("pinned", marks=pytest.mark.gpu),
    pytest.param("cuda", marks=pytest.mark.gpu),
]


def _placed(tensor: torch.Tensor, placement: str) -> torch.Tensor:
    if placement == "pinned":
        return tensor.pin_memory()
    return tensor.to(placement)


graphs = st.tuples(
    st.integers(1, 40),  # nodes
    st.integers(0, 200),  # edges
    st.integers(0, 2**31 - 1),  # graph seed
    st.lists(st.integers(-1, 6), min_size=1, max_size=3),  # fanouts
    st.booleans(),  # replace
    st.integers(1, 12),  # seeds
)


@pytest.mark.parametrize("placement", PLACEMENTS)
@settings(max_examples=60, deadline=None)
@given(case=graphs)
def test_contract_on_random_graphs(placement, case):
    num_nodes, num_edges, graph_seed, fanouts, replace, num_seeds = case
    rng = np.random.default_rng(graph_seed)
    indptr, indices = random_csr(rng, num_nodes, num_edges)
    seeds = torch.from_numpy(rng.choice(num_nodes, size=min(num_seeds, num_nodes), replace=False))
    sampler = NeighborSampler(_placed(indptr, placement), _placed(indices, placement), fanouts, replace=replace, seed=7)
    out = sampler.sample(seeds)
    assert out.node.device == sampler.device
    check_output(out, indptr, indices, seeds, fanouts, replace)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("replace", [False, True])
def test_power_law_graph_and_int64_indices(placement, replace):
    rng = np.random.default_rng(3)
    num_nodes = 3000
    weights = (np.arange(num_nodes) + 1.0) ** -0.7
    dst = rng.choice(num_nodes, 60_000, p=weights / weights.sum())
    src = rng.integers(0, num_nodes, dst.size)
    order = np.argsort(dst, kind="stable")
    indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=num_nodes))]))
    indices = torch.from_numpy(src[order])  # int64 indices
    fanouts = [15, 10, 5]
    sampler = NeighborSampler(_placed(indptr, placement), _placed(indices, placement), fanouts, replace=replace)
    seeds = torch.from_numpy(rng.choice(num_nodes, 256, replace=False))
    out = sampler.sample(seeds)
    check_output(out, indptr, indices, seeds, fanouts, replace)
    assert out.num_sampled_edges[0] > 0


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_same_seed_same_output_and_reseed(placement):
    rng = np.random.default_rng(1)
    indptr, indices = random_csr(rng, 500, 8000)
    args = (_placed(indptr, placement), _placed(indices, placement), [5, 3])
    seeds = torch.arange(0, 500, 7)
    a, b = NeighborSampler(*args, seed=11), NeighborSampler(*args, seed=11)
    first = a.sample(seeds)
    for x, y in zip((first, a.sample(seeds)), (b.sample(seeds), b.sample(seeds)), strict=True):
        for name in ("node", "row", "col", "edge"):
            assert torch.equal(getattr(x, name), getattr(y, name))
    second = a.sample(seeds)
    assert not torch.equal(first.edge, second.edge), "successive calls should draw afresh"
    a.reseed(11)
    assert torch.equal(a.sample(seeds).edge, first.edge)
    other = NeighborSampler(*args, seed=12).sample(seeds)
    assert not torch.equal(other.edge, first.edge)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_uniform_without_replacement(placement):
    """Each of a node's 10 neighbours is drawn with probability 3/10."""
    indptr = torch.tensor([0, 10] + [10] * 10)
    indices = torch.arange(1, 11, dtype=torch.int32)
    sampler = NeighborSampler(_placed(indptr, placement), _placed(indices, placement), [3], seed=5)
    counts = torch.zeros(10, dtype=torch.int64)
    trials = 4000
    for _ in range(trials):
        counts += torch.bincount(sampler.sample(torch.tensor([0])).edge.cpu(), minlength=10)
    freq = counts.double() / trials
    assert torch.allclose(freq, torch.full((10,), 0.3, dtype=torch.float64), atol=0.035)


def test_duplicate_seeds_and_empty_hops():
    indptr = torch.tensor([0, 1, 2, 2])
    indices = torch.tensor([1, 2], dtype=torch.int32)
    out = NeighborSampler(indptr, indices, [2, 2, 2]).sample(torch.tensor([0, 0]))
    assert out.node.tolist() == [0, 0, 1, 2]
    assert out.num_sampled_nodes == [2, 1, 1, 0]
    assert out.num_sampled_edges == [2, 1, 0]
    assert out.row.tolist() == [2, 2, 3] and out.col.tolist() == [0, 1, 2]
    assert isinstance(out, SamplerOutput) and out.edge_index.shape == (2, 3)
    empty = NeighborSampler(indptr, indices, [2]).sample(torch.tensor([], dtype=torch.int64))
    assert empty.num_sampled_nodes == [0, 0] and empty.num_edges == 0
    isolated = NeighborSampler(torch.zeros(21, dtype=torch.int64), torch.zeros(0, dtype=torch.int32), [1, -1])
    out = isolated.sample(torch.arange(16))  # 16 rows fill the first workspace exactly
    assert out.num_sampled_nodes == [16, 0, 0] and out.num_sampled_edges == [0, 0]


def test_bad_input():
    indptr = torch.tensor([0, 1, 2, 2])
    indices = torch.tensor([1, 2], dtype=torch.int32)
    sampler = NeighborSampler(indptr, indices, [2])
    with pytest.raises(IndexError, match=r"seeds\[1\] = 3"):
        sampler.sample(torch.tensor([0, 3]))
    with pytest.raises(IndexError, match=r"seeds\[0\] = -1"):
        sampler.sample(torch.tensor([-1]))
    with pytest.raises(TypeError, match="seeds must hold integer"):
        sampler.sample(torch.tensor([0.0]))
    with pytest.raises(ValueError, match="seeds must be 1-D"):
        sampler.sample(torch.tensor([[0]]))
    with pytest.raises(ValueError, match="fanouts is empty"):
        NeighborSampler(indptr, indices, [])
    with pytest.raises(ValueError, match=r"fanouts\[1\] = -2"):
        NeighborSampler(indptr, indices, [3, -2])
    with pytest.raises(TypeError, match="fanouts must be a sequence"):
        NeighborSampler(indptr, indices, 3)
    with pytest.raises(TypeError, match=r"fanouts\[0\] must be an int"):
        NeighborSampler(indptr, indices, [2.5])
    with pytest.raises(ValueError, match="disagrees with indices"):
        NeighborSampler(indptr, indices[:1], [2])
    with pytest.raises(IndexError, match="outside"):
        NeighborSampler(indptr, torch.tensor([1, 5], dtype=torch.int32), [2])
    with pytest.raises(TypeError, match="indices must be int32 or int64"):
        NeighborSampler(indptr, indices.float(), [2])
    with pytest.raises(TypeError, match="seed must be an int"):
        NeighborSampler(indptr, indices, [2], seed="x")


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("fanouts", [[2, 2], [-1, -1]])
def test_unvalidated_csr_with_an_outside_neighbour_raises_and_stays_usable(placement, fanouts):
    # node 1's second neighbour is 9 in a 4-node graph: only validate=True would have caught it
    indptr = _placed(torch.tensor([0, 1, 3, 4, 5]), placement)
    indices = _placed(torch.tensor([1, 2, 9, 3, 0]), placement)
    sampler = NeighborSampler(indptr, indices, fanouts, seed=0, validate=False)
    with pytest.raises(IndexError, match=r"indices\[2\] = 9 is not a node id of this 4-node graph"):
        sampler.sample(torch.tensor([0]))
    out = sampler.sample(torch.tensor([3]))  # 3 -> 0 -> 1 -> ...: nothing out of range within two hops
    assert out.node.cpu().tolist() == [3, 0, 1]


@pytest.mark.gpu
def test_placements_must_agree():
    indptr = torch.tensor([0, 1, 2, 2])
    indices = torch.tensor([1, 2], dtype=torch.int32)
    with pytest.raises(ValueError, match="same placement"):
        NeighborSampler(indptr.cuda(), indices, [2])
    with pytest.raises(IndexError, match=r"seeds\[1\] = 3"):
        NeighborSampler(indptr.cuda(), indices.cuda(), [2]).sample(torch.tensor([0, 3]))


@pytest.mark.gpu
@pytest.mark.parametrize("replace", [False, True])
def test_cuda_and_pinned_draw_the_same(replace):
    """The same kernels read the CSR from GPU memory or over UVA: identical outputs for a seed."""
    rng = np.random.default_rng(4)
    indptr, indices = random_csr(rng, 2000, 40_000)
    seeds = torch.from_numpy(rng.choice(2000, 300, replace=False))
    a = NeighborSampler(indptr.cuda(), indices.cuda(), [10, 5, -1], replace=replace, seed=3).sample(seeds)
    b = NeighborSampler(indptr.pin_memory(), indices.pin_memory(), [10, 5, -1], replace=replace, seed=3).sample(seeds)
    for name in ("node", "row", "col", "edge"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.num_sampled_nodes == b.num_sampled_nodes and a.num_sampled_edges == b.num_sampled_edges
    check_output(a, indptr, indices, seeds, [10, 5, -1], replace)


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
def test_cuda_graph_replays_match_direct_launches(placement):
    """Captured graphs draw exactly what direct launches draw, call after call, per batch size."""
    rng = np.random.default_rng(6)
    indptr, indices = random_csr(rng, 3000, 60_000)
    args = (_placed(indptr, placement), _placed(indices, placement), [8, 4, 2])
    direct = NeighborSampler(*args, seed=21)
    graphed = NeighborSampler(*args, seed=21, cuda_graph=True)
    previous = None
    for size in (256, 256, 100, 256, 100):
        seeds = torch.from_numpy(rng.choice(3000, size, replace=False))
        a, b = direct.sample(seeds), graphed.sample(seeds)
        for name in ("node", "row", "col", "edge"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert a.num_sampled_nodes == b.num_sampled_nodes and a.num_sampled_edges == b.num_sampled_edges
        check_output(b, indptr, indices, seeds, [8, 4, 2], False)
        if previous is not None and previous.node.numel() == b.node.numel():
            assert previous.node.data_ptr() != b.node.data_ptr(), "outputs must not alias the graph's buffers"
        previous = b
    with pytest.raises(IndexError, match=r"seeds\[0\] = 3000"):
        graphed.sample(torch.tensor([3000] + [0] * 255))
    with pytest.raises(ValueError, match="cuda_graph=True needs every fanout >= 0"):
        NeighborSampler(*args[:2], [5, -1], cuda_graph=True)


@pytest.mark.gpu
def test_cuda_graphs_captured_ahead_replay_while_another_thread_syncs():
    """A loader samples on its producer thread while the training thread allocates and syncs.
    A capture then would fail (papers100M's smaller last batch did, mid-epoch), so the sizes are
    captured first (:meth:`NeighborSampler.capture`) and only replays run beside the other thread."""
    import threading

    rng = np.random.default_rng(7)
    indptr, indices = random_csr(rng, 3000, 60_000)
    direct = NeighborSampler(indptr.cuda(), indices.cuda(), [8, 4, 2], seed=5)
    graphed = NeighborSampler(indptr.cuda(), indices.cuda(), [8, 4, 2], seed=5, cuda_graph=True)
    sizes = (256, 100, 37)
    graphed.capture(list(sizes))  # not counted as calls: the draws below match the direct sampler's
    stop = threading.Event()
    errors: list[BaseException] = []

    def train_like() -> None:
        try:
            while not stop.is_set():
                block = torch.empty(int(rng.integers(1, 64)) << 20, dtype=torch.uint8, device="cuda")
                float(block.float().sum())  # a D2H copy and a stream sync
                torch.cuda.synchronize()
        except BaseException as err:  # reported to the test below
            errors.append(err)

    other = threading.Thread(target=train_like)
    other.start()
    try:
        for size in sizes + sizes:
            seeds = torch.from_numpy(rng.choice(3000, size, replace=False))
            a, b = direct.sample(seeds), graphed.sample(seeds)
            for name in ("node", "row", "col", "edge"):
                assert torch.equal(getattr(a, name), getattr(b, name)), name
    finally:
        stop.set()
        other.join()
    assert not errors, errors


def test_cpu_output_independent_of_threads_and_safe_across_threads():
    """The same draws with 1 or 2 worker threads; two Python threads may share one sampler."""
    import threading

    import numba

    rng = np.random.default_rng(8)
    indptr, indices = random_csr(rng, 5000, 100_000)
    seeds = torch.from_numpy(rng.choice(5000, 600, replace=False))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = NeighborSampler(indptr, indices, [10, 5], seed=2).sample(seeds)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = NeighborSampler(indptr, indices, [10, 5], seed=2).sample(seeds)
    finally:
        numba.set_num_threads(before)
    assert torch.equal(one.node, two.node) and torch.equal(one.edge, two.edge) and torch.equal(one.row, two.row)
    shared = NeighborSampler(indptr, indices, [10, 5], seed=2)
    results: list = []
    workers = [threading.Thread(target=lambda: results.append(shared.sample(seeds))) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(results) == 2
    for out in results:
        check_output(out, indptr, indices, seeds, [10, 5], False)


def _shared_by_threads(placement: str, threads: int = 4, calls: int = 5) -> None:
    """Threads (each on its own CUDA stream on a GPU) share one sampler: the outputs are those of
    calls 0 .. threads * calls - 1 of a sampler used by one thread, each exactly once."""
    import sys
    import threading

    rng = np.random.default_rng(12)
    indptr, indices = random_csr(rng, 3000, 40_000)
    seeds = torch.from_numpy(rng.choice(3000, 300, replace=False))
    indptr, indices = _placed(indptr, placement), _placed(indices, placement)
    shared = NeighborSampler(indptr, indices, [8, 4], seed=3)
    reference = NeighborSampler(indptr, indices, [8, 4], seed=3)
    expected = sorted(tuple(reference.sample(seeds).edge.tolist()) for _ in range(threads * calls))
    got: list = []

    def work() -> None:
        stream = torch.cuda.Stream() if placement != "cpu" else None
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            outs = [shared.sample(seeds) for _ in range(calls)]
            if stream is not None:
                stream.synchronize()
        got.extend(tuple(out.edge.tolist()) for out in outs)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(switch)
    assert sorted(got) == expected


def test_threads_sharing_a_cpu_sampler_get_every_call_number_once():
    _shared_by_threads("cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("placement", ["cuda", "pinned"])
def test_threads_on_their_own_streams_share_a_gpu_sampler(placement):
    _shared_by_threads(placement)


def test_cpu_sampler_works_in_a_forked_child():
    """A DataLoader worker forks after the parent sampled: the child must not wait on dead threads."""
    import multiprocessing as mp
    import pickle

    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread: the pool is never used")
    rng = np.random.default_rng(9)
    indptr, indices = random_csr(rng, 4000, 60_000)
    sampler = NeighborSampler(indptr, indices, [10, 5], seed=1)
    seeds = torch.from_numpy(rng.choice(4000, 1200, replace=False))
    expected = sampler.sample(seeds).num_sampled_edges
    sampler.reseed(1)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_sample_edges, args=(sampler, seeds, queue))  # inherited, not pickled
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=30)
    assert got == expected
    # Pickling (spawned workers) keeps the CSR and the draws.
    sampler.reseed(1)
    clone = pickle.loads(pickle.dumps(sampler))
    assert clone.sample(seeds).num_sampled_edges == expected


def _sample_edges(sampler, seeds, queue):
    queue.put(sampler.sample(seeds).num_sampled_edges)


def test_capture_refuses_batch_sizes_of_the_wrong_form():
    rng = np.random.default_rng(8)
    indptr, indices = random_csr(rng, 50, 200)
    sampler = NeighborSampler(indptr, indices, [2], seed=0)
    with pytest.raises(TypeError, match="batch_sizes holds .*'paper'.* each an int"):
        sampler.capture([{"paper": 64}])


def test_capture_ahead_changes_no_draw():
    """``capture`` only prepares CUDA graphs: on the CPU (and without cuda_graph) it does nothing,
    and the calls after it draw what a fresh sampler's calls draw."""
    rng = np.random.default_rng(8)
    indptr, indices = random_csr(rng, 500, 5_000)
    fresh = NeighborSampler(indptr, indices, [4, 2], seed=9)
    prepared = NeighborSampler(indptr, indices, [4, 2], seed=9)
    prepared.capture([64, 10])
    seeds = torch.from_numpy(rng.choice(500, 64, replace=False))
    a, b = fresh.sample(seeds), prepared.sample(seeds)
    for name in ("node", "row", "col", "edge"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
