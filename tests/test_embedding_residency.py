"""PartitionResidency: partitions stay on the workers' devices between episodes, move from worker
to worker, and reach the master copy when no worker keeps them or on flush."""
import pytest
import torch

from embedding.residency import PartitionResidency
from embedding.schedule import block_schedule


def _train_schedule(devices, num_partitions=4, rows=10, dim=3):
    """Run a schedule's episodes through residencies of both matrices, adding a different value
    to each block's rows in place; return the residencies and the matrices they must equal."""
    offsets = [p * rows for p in range(num_partitions + 1)]
    vertex = torch.randn(offsets[-1], dim)
    context = torch.randn(offsets[-1], dim)
    if devices[0].type == "cuda":
        vertex, context = vertex.pin_memory(), context.pin_memory()
    expected_vertex, expected_context = vertex.clone(), context.clone()
    residency = PartitionResidency(vertex, offsets, devices), PartitionResidency(context, offsets, devices)
    schedule = block_schedule(num_partitions, len(devices))
    step = 0
    for _ in range(2):  # two pools: partitions held at the end of one are picked up by the next
        for episode in schedule.episodes:
            blocks = {w: b for w, b in enumerate(episode) if b is not None}
            vrows = residency[0].acquire({w: i for w, (i, _) in blocks.items()})
            crows = residency[1].acquire({w: j for w, (_, j) in blocks.items()})
            for w, (i, j) in blocks.items():
                step += 1
                assert vrows[w].device == devices[w] and crows[w].device == devices[w]
                vrows[w].add_(step)
                crows[w].mul_(-1).add_(step)
                expected_vertex[offsets[i] : offsets[i + 1]].add_(step)
                expected_context[offsets[j] : offsets[j + 1]].mul_(-1).add_(step)
    return residency, (vertex, context), (expected_vertex, expected_context)


def _check(devices):
    residency, masters, expected = _train_schedule(devices)
    assert not all(torch.equal(m, e) for m, e in zip(masters, expected, strict=True))  # the held partitions are newer
    for r in residency:
        r.flush()
    for master, want in zip(masters, expected, strict=True):
        torch.testing.assert_close(master, want, rtol=0, atol=0)
    # held copies equal the master after flush and training may go on from them
    rows = residency[0].acquire({0: 0})
    torch.testing.assert_close(rows[0].cpu(), masters[0][:10], rtol=0, atol=0)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_master_equals_training_in_place_after_flush_cpu(workers):
    _check([torch.device("cpu")] * workers)


def test_a_partition_moves_between_workers_and_unwanted_ones_are_written_back():
    master = torch.zeros(4, 2)
    residency = PartitionResidency(master, [0, 2, 4], [torch.device("cpu"), torch.device("cpu")])
    rows = residency.acquire({0: 0, 1: 1})
    rows[0].fill_(1.0)
    rows[1].fill_(2.0)
    assert master.abs().sum() == 0  # nothing written back while both are held
    moved = residency.acquire({1: 0})  # partition 0 moves to worker 1, partition 1 leaves the workers
    assert torch.equal(moved[1], torch.ones(2, 2))
    assert torch.equal(master[2:], torch.full((2, 2), 2.0)) and master[:2].abs().sum() == 0
    residency.drop()
    assert torch.equal(residency.acquire({0: 0})[0], torch.zeros(2, 2))  # dropped: read from the master again


def test_two_workers_wanting_one_partition_is_refused():
    residency = PartitionResidency(torch.zeros(4, 2), [0, 2, 4], [torch.device("cpu")] * 2)
    with pytest.raises(ValueError, match="same partition"):
        residency.acquire({0: 1, 1: 1})


@pytest.mark.gpu
def test_master_equals_training_in_place_after_flush_gpu():
    # every GPU of the machine as a worker; on one GPU two workers share it (copies within it)
    count = torch.cuda.device_count()
    devices = [torch.device("cuda", w % count) for w in range(max(2, count))]
    _check(devices)
