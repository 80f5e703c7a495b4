"""One cache budget shared across the tables of several node types (zerocopy.share_cache) on the CPU."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zerocopy import CacheShare, UnifiedTensor, share_cache, split_cache_budget, visit_ranking
from zerocopy.cache import SLOT_BYTES


def test_rows_are_taken_by_hits_per_byte_across_types():
    # paper rows cost 8 B, author rows 4 B: an author drawn 5 times beats a paper drawn 9 times.
    num_rows = {"paper": 10, "author": 5}
    row_bytes = {"paper": 8, "author": 4}
    rankings = {"paper": torch.arange(10), "author": torch.tensor([5, 0, 3, 1, 9])}
    slots = SLOT_BYTES * (10 + 5)
    shares = split_cache_budget(num_rows, row_bytes, rankings, slots + 3 * 8 + 2 * 4)
    # Order by score: author 9 (2.25), author 5 (1.25), paper 9 (1.125), 8 (1.0), 7 (0.875), then
    # paper 6 and author 3 tie at 0.75 (paper listed first): the budget ends before them.
    assert shares == {
        "paper": CacheShare(rows=3, bytes=3 * 8 + SLOT_BYTES * 10, ranked_fraction=24 / 45),
        "author": CacheShare(rows=2, bytes=2 * 4 + SLOT_BYTES * 5, ranked_fraction=14 / 18),
    }


def test_a_type_whose_slot_map_does_not_fit_is_left_out():
    num_rows = {"huge": 1000, "small": 10}
    row_bytes = {"huge": 4, "small": 4}
    rankings = {"huge": torch.full((1000,), 100), "small": torch.ones(10)}
    # The huge table's hottest rows score highest, but its slot map alone is over the budget.
    shares = split_cache_budget(num_rows, row_bytes, rankings, SLOT_BYTES * 10 + 4 * 6)
    assert shares["huge"] == CacheShare(0, 0, 0.0)
    assert shares["small"].rows == 6 and shares["small"].bytes == SLOT_BYTES * 10 + 24


def test_rows_never_drawn_are_never_cached():
    shares = split_cache_budget({"a": 4, "b": 3}, {"a": 4, "b": 4},
                                {"a": torch.tensor([0, 2, 0, 1]), "b": torch.zeros(3)}, 10_000)
    assert shares["a"].rows == 2 and shares["a"].ranked_fraction == 1.0
    assert shares["b"] == CacheShare(0, 0, 0.0), "a type the sampler never draws costs nothing"


def test_zero_budget_and_errors():
    assert split_cache_budget({"a": 3}, {"a": 4}, {"a": torch.ones(3)}, 0)["a"].rows == 0
    with pytest.raises(ValueError, match=r"missing \['b'\], unknown \['c'\]"):
        split_cache_budget({"a": 3, "b": 2}, {"a": 4, "b": 4}, {"a": torch.ones(3), "c": torch.ones(2)}, 100)
    with pytest.raises(ValueError, match=r"rankings\['a'\] must be 1-D with one score per row \(3\), got \(4,\)"):
        split_cache_budget({"a": 3}, {"a": 4}, {"a": torch.ones(4)}, 100)
    with pytest.raises(TypeError, match=r"rankings\['a'\] must hold real scores"):
        split_cache_budget({"a": 3}, {"a": 4}, {"a": torch.ones(3, dtype=torch.bool)}, 100)
    with pytest.raises(TypeError, match="budget_bytes must be an int, got float"):
        split_cache_budget({"a": 3}, {"a": 4}, {"a": torch.ones(3)}, 1e6)
    with pytest.raises(ValueError, match="budget_bytes must be >= 0"):
        split_cache_budget({"a": 3}, {"a": 4}, {"a": torch.ones(3)}, -1)
    with pytest.raises(TypeError, match=r"tables\['a'\] is a Tensor, expected a zerocopy.UnifiedTensor"):
        share_cache({"a": torch.zeros(3, 2)}, {"a": torch.ones(3)}, 100, "cpu")
    with pytest.raises(ValueError, match=r"replicated names \['b'\], which are not tables here; tables: \['a'\]"):
        share_cache({"a": UnifiedTensor(torch.zeros(3, 2), pin=False)}, {"a": torch.ones(3)}, 100, "cpu",
                    replicated=["b"])


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(1, 30), st.sampled_from([2, 4, 8, 24])), min_size=1, max_size=4),
    budget=st.integers(0, 1500),
    seed=st.integers(0, 2**16),
)
def test_split_is_a_global_hottest_prefix_within_the_budget(sizes, budget, seed):
    g = torch.Generator().manual_seed(seed)
    names = [f"t{i}" for i in range(len(sizes))]
    num_rows = {n: rows for n, (rows, _) in zip(names, sizes, strict=True)}
    row_bytes = {n: width for n, (_, width) in zip(names, sizes, strict=True)}
    rankings = {n: torch.randint(0, 6, (num_rows[n],), generator=g) for n in names}
    shares = split_cache_budget(num_rows, row_bytes, rankings, budget)
    assert sum(s.bytes for s in shares.values()) <= budget
    taken, left = [], []
    for n in names:
        ordered = torch.sort(rankings[n], descending=True, stable=True).values
        share = shares[n]
        assert share.bytes == (share.rows * row_bytes[n] + SLOT_BYTES * num_rows[n] if share.rows else 0)
        assert bool((ordered[: share.rows] > 0).all())
        taken += [float(v) / row_bytes[n] for v in ordered[: share.rows]]
        if share.rows:  # a type that got rows: its next positive row did not fit in what was left
            left += [float(v) / row_bytes[n] for v in ordered[share.rows :] if v > 0]
    if taken and left:
        assert min(taken) >= max(left), "a colder row was taken while a hotter one of a cached type was left"


def test_share_cache_enables_each_tables_cache_with_its_share():
    g = torch.Generator().manual_seed(0)
    tables = {"paper": UnifiedTensor(torch.randn(200, 16), pin=False),
              "author": UnifiedTensor(torch.randn(300, 4, dtype=torch.float16), pin=False),
              "field": UnifiedTensor(torch.randn(50, 8), pin=False)}
    batches = [{"paper": torch.randint(0, 40, (64,), generator=g), "author": torch.randint(0, 300, (64,), generator=g),
                "field": torch.empty(0, dtype=torch.int64)} for _ in range(20)]
    rankings = {name: visit_ranking((b[name] for b in batches), len(t)) for name, t in tables.items()}
    budget = 8 * 1024
    shares = share_cache(tables, rankings, budget, "cpu")
    assert sum(s.bytes for s in shares.values()) <= budget
    assert shares["field"].rows == 0 and shares["paper"].rows == 40, "every row drawn fits the budget"
    tables["field"].gather(torch.tensor([1]))  # no cache: plain host gather
    for name in ("paper", "author"):
        assert tables[name].cache_stats().cached_rows == shares[name].rows
        for batch in batches:
            assert torch.equal(tables[name][batch[name]], tables[name].host[batch[name]])
        stats = tables[name].cache_stats()
        assert stats.hit_rate == pytest.approx(shares[name].ranked_fraction)
    with pytest.raises(RuntimeError, match="no cache is enabled"):
        tables["field"].cache_stats()
