"""AliasTable and degree negatives: empirical frequencies match the weights, on CPU and GPU."""
from __future__ import annotations

import pytest
import torch

from sampling import AliasTable, degree_alias_table, degree_negatives

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_frequencies_match_weights(device, seed):
    gen = torch.Generator().manual_seed(seed)
    weights = torch.rand(50, generator=gen, dtype=torch.float64) ** 3
    weights[7] = 0.0
    table = AliasTable(weights, device, seed=seed)
    n = 400_000
    draws = table.sample(n)
    assert draws.device.type == device and draws.dtype == torch.int64 and draws.shape == (n,)
    freq = torch.bincount(draws.cpu(), minlength=50).double() / n
    expected = weights / weights.sum()
    # Per-bucket binomial standard deviation, 5 sigma.
    tol = 5 * (expected * (1 - expected) / n).sqrt() + 1e-4
    assert ((freq - expected).abs() <= tol).all()
    assert freq[7] == 0


@pytest.mark.parametrize("device", DEVICES)
def test_generator_and_seed_determinism(device):
    table = AliasTable(torch.tensor([1.0, 2.0, 3.0]), device, seed=4)
    again = AliasTable(torch.tensor([1.0, 2.0, 3.0]), device, seed=4)
    assert torch.equal(table.sample(100), again.sample(100))
    gen_a = torch.Generator(device=device).manual_seed(9)
    gen_b = torch.Generator(device=device).manual_seed(9)
    assert torch.equal(table.sample(64, gen_a), again.sample(64, gen_b))
    assert table.sample(0).numel() == 0 and len(table) == 3


def test_single_and_uniform_weights():
    assert AliasTable(torch.tensor([2.5])).sample(10).tolist() == [0] * 10
    draws = AliasTable(torch.ones(4)).sample(100_000)
    assert (torch.bincount(draws, minlength=4).double() / 1e5 - 0.25).abs().max() < 0.01


@pytest.mark.parametrize("device", DEVICES)
def test_degree_negatives_follow_degree_power(device):
    degree = torch.tensor([0, 1, 2, 8, 16, 3])
    indptr = torch.cat([torch.zeros(1, dtype=torch.int64), degree.cumsum(0)])
    n = 300_000
    draws = degree_negatives(indptr, n, seed=2, device=device)
    freq = torch.bincount(draws.cpu(), minlength=6).double() / n
    expected = degree.double() ** 0.75
    expected /= expected.sum()
    assert (freq - expected).abs().max() < 0.006
    assert freq[0] == 0
    flat = degree_alias_table(indptr, power=0.0).sample(n)
    assert (torch.bincount(flat, minlength=6)[1:].double() / n - 0.2).abs().max() < 0.006


def test_bad_input():
    with pytest.raises(TypeError, match="floating-point"):
        AliasTable(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        AliasTable(torch.tensor([]))
    with pytest.raises(ValueError, match=r"weights\[1\] = -1.0"):
        AliasTable(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"weights\[0\] = nan"):
        AliasTable(torch.tensor([float("nan"), 1.0]))
    with pytest.raises(ValueError, match="all zero"):
        AliasTable(torch.zeros(3))
    with pytest.raises(ValueError, match="not one of"):
        AliasTable(torch.ones(3), "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' needs CUDA"):
            AliasTable(torch.ones(3), "cuda")
    table = AliasTable(torch.ones(3))
    with pytest.raises(ValueError, match="n = -1"):
        table.sample(-1)
    with pytest.raises(TypeError, match="n must be an int"):
        table.sample(2.0)
    indptr = torch.tensor([0, 2, 3])
    with pytest.raises(ValueError, match="num = -5"):
        degree_negatives(indptr, -5)
    with pytest.raises(ValueError, match="power = nan"):
        degree_negatives(indptr, 5, power=float("nan"))
    with pytest.raises(ValueError, match="no edges"):
        degree_negatives(torch.tensor([0, 0, 0]), 5)
    with pytest.raises(ValueError, match="indptr decreases at node 1"):
        degree_negatives(torch.tensor([0, 2, 1]), 5)
    with pytest.raises(TypeError, match="indptr must be int32 or int64"):
        degree_negatives(torch.tensor([0.0, 1.0]), 5)
    with pytest.raises(TypeError, match="indptr must be a torch.Tensor, got list"):
        degree_negatives([0, 1], 5)
    with pytest.raises(ValueError, match=r"num_nodes \+ 1 >= 2 entries, got shape \(1,\)"):
        degree_negatives(torch.tensor([0]), 5)
    with pytest.raises(TypeError, match="num must be an int, got 2.5"):
        degree_negatives(indptr, 2.5)
    with pytest.raises(TypeError, match="weights must be a torch.Tensor, got list"):
        AliasTable([1.0, 2.0])
    with pytest.raises(ValueError, match=r"weights\[1\] = inf"):
        AliasTable(torch.tensor([1.0, float("inf")]))
