"""``graphsys train --cache-shard`` on 2 gloo ranks (the CPU form: shards in host memory): the ranks'
caches become one sharded cache, and training sees the same rows, hence the same losses, for node
classification, heterogeneous graphs (a share of one budget per node type, learned tables kept
replicated) and link prediction."""
import argparse
from pathlib import Path

import pytest
from _dist import as_rank, read_ranks, spawn_ranks, write_rank
from toy_data import toy_dataset as make_toy

from graphsys.train import TrainConfig, train


def _config(tmp_path, **overrides) -> TrainConfig:
    args = dict(layers=2, fanouts=(5, 3), hidden=16, batch_size=64, epochs=2, lr=0.01, features="cpu",
                graph="cpu", eval_every=2, quiet=True, seed=7, checkpoint=None)
    args.update(overrides)
    return TrainConfig("toy", **args)


def _placed_tables() -> list:
    """Record every table ``graphsys.train`` places for homogeneous training (``place_features``)."""
    from graphsys.train import data, features

    place, tables = features.place_features, []

    def spy(*args, **kwargs):
        table = place(*args, **kwargs)
        tables.append(table)
        return table

    features.place_features = data.place_features = spy
    return tables


def _worker(rank: int, world: int, port: int, out_dir: str, sharded: bool) -> None:
    as_rank(rank, world, port)
    tables = _placed_tables()
    extra = dict(cache=0.3, cache_shard=True) if sharded else {}
    dataset = make_toy(400, edges_per_node=4, num_features=8, num_classes=3, num_train=200, num_val=100)
    seen = []  # the cache's statistics after each step (the trainer closes the table at the end)
    on_step = (lambda epoch, step, model: seen.append(tables[0].cache_stats())) if sharded else None
    result = train(_config(out_dir, **extra), dataset=dataset, on_step=on_step)
    record = {"loss": [h.loss for h in result.history],
              "acc": result.scores.val if result.scores is not None else None}
    if sharded:
        stats = seen[-1]
        record.update(shards=stats.shards, rows=stats.cached_rows, local=stats.local_hits, peer=stats.peer_hits,
                      host=stats.misses)
    write_rank(out_dir, rank, record)


def test_sharded_cache_trains_as_the_replicated_table(tmp_path):
    world = 2
    (tmp_path / "plain").mkdir()
    (tmp_path / "shard").mkdir()
    spawn_ranks(_worker, world, str(tmp_path / "plain"), False)
    spawn_ranks(_worker, world, str(tmp_path / "shard"), True)
    plain, shard = read_ranks(tmp_path / "plain", world), read_ranks(tmp_path / "shard", world)
    for p, s in zip(plain, shard, strict=True):
        assert s["loss"] == pytest.approx(p["loss"], rel=1e-5, abs=1e-6)
        assert s["shards"] == world and s["rows"] == int(0.3 * 400)
        assert s["local"] > 0 and s["peer"] > 0 and s["host"] > 0
    assert plain[0]["acc"] == pytest.approx(shard[0]["acc"], abs=1e-6)


def _shared_tables() -> dict:
    """Record every table whose cache heterogeneous training enables (``share_cache``), by node type."""
    from graphsys.train import data

    seen, share = {}, data.share_cache

    def spy(tables, *args, **kwargs):
        seen.update(tables)
        return share(tables, *args, **kwargs)

    data.share_cache = spy
    return seen


def _hetero_worker(rank: int, world: int, port: int, out_dir: str, root: str, sharded: bool) -> None:
    as_rank(rank, world, port)
    tables = _shared_tables()
    extra = dict(cache=0.3, cache_shard=True) if sharded else {}
    stats = []
    on_step = (lambda epoch, step, model: stats.append({t: u.cache_stats() for t, u in tables.items()
                                                        if u.has_cache})) if sharded else None
    config = TrainConfig("synthetic-mag", root=root, scale=0.01, model="rgcn", featureless="learn", layers=2,
                         fanouts=(4, 3), hidden=16, batch_size=128, epochs=2, lr=0.01, features="cpu", graph="cpu",
                         device="cpu", eval_every=2, quiet=True, seed=3, checkpoint=None, **extra)
    result = train(config, on_step=on_step)
    record = {"loss": [h.loss for h in result.history]}
    if sharded:
        record["tiers"] = {t: [s.shards, s.cached_rows, s.local_hits, s.peer_hits, s.misses]
                           for t, s in stats[-1].items()}
    write_rank(out_dir, rank, record)


def test_sharded_cache_trains_a_heterogeneous_graph_as_the_plain_tables(tmp_path):
    """Read-only feature tables are sharded; the learned tables (written every step) are cached on
    every rank alike; the losses are those of the uncached tables."""
    from graphsys.datasets import load

    root = tmp_path / "data"
    dataset = load("synthetic-mag", str(root), scale=0.01, seed=3, quiet=True)
    world = 2
    for name, sharded in (("plain", False), ("shard", True)):
        (tmp_path / name).mkdir()
        spawn_ranks(_hetero_worker, world, str(tmp_path / name), str(root), sharded)
    plain, shard = read_ranks(tmp_path / "plain", world), read_ranks(tmp_path / "shard", world)
    for p, s in zip(plain, shard, strict=True):
        assert s["loss"] == pytest.approx(p["loss"], rel=1e-5, abs=1e-6)
    featured = set(dataset.x)
    for s in shard:
        tiers = s["tiers"]
        assert featured <= set(tiers), f"every featured type is cached, got {sorted(tiers)}"
        for t, (shards, rows, local, peer, _host) in tiers.items():
            if t in featured:
                assert shards == world and rows > 0 and local > 0 and peer > 0, (t, tiers[t])
            else:
                assert shards == 1 and peer == 0, (t, tiers[t])  # learned: replicated, never read from a peer
    assert set(shard[0]["tiers"]) == set(shard[1]["tiers"]), "every rank caches the same tables"


def _link_worker(rank: int, world: int, port: int, out_dir: str, sharded: bool) -> None:
    as_rank(rank, world, port)
    from test_train_link import community_link_dataset
    from test_train_link import config as link_config

    tables = _placed_tables()
    extra = dict(cache=0.3, cache_shard=True) if sharded else {}
    seen = []
    on_step = (lambda epoch, step, model: seen.append(tables[0].cache_stats())) if sharded else None
    result = train(link_config(Path(out_dir), epochs=2, eval_every=2, checkpoint=None, **extra),
                   dataset=community_link_dataset("auc"), on_step=on_step)
    record = {"loss": [h.loss for h in result.history], "val": [h.val_score for h in result.history]}
    if sharded:
        stats = seen[-1]
        record.update(shards=stats.shards, local=stats.local_hits, peer=stats.peer_hits)
    write_rank(out_dir, rank, record)


def test_sharded_cache_trains_link_prediction_as_the_plain_table(tmp_path):
    world = 2
    for name, sharded in (("plain", False), ("shard", True)):
        (tmp_path / name).mkdir()
        spawn_ranks(_link_worker, world, str(tmp_path / name), sharded)
    plain, shard = read_ranks(tmp_path / "plain", world), read_ranks(tmp_path / "shard", world)
    for p, s in zip(plain, shard, strict=True):
        assert s["loss"] == pytest.approx(p["loss"], rel=1e-5, abs=1e-6)
        assert s["val"] == pytest.approx(p["val"], abs=1e-6)
        assert s["shards"] == world and s["local"] > 0 and s["peer"] > 0


def test_cache_shard_flag_and_config_checks():
    from graphsys.cli.train import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "--dataset", "toy", "--cache", "0.2", "--cache-shard", "--features", "cpu",
                              "--graph", "cpu", "--device", "cpu"])
    assert config_from_args(args).cache_shard
    with pytest.raises(ValueError, match="cache_shard needs cache > 0"):
        TrainConfig("toy", features="cpu", graph="cpu", cache_shard=True)
    with pytest.raises(ValueError, match="needs features = 'pinned'"):
        TrainConfig("toy", features="cpu", graph="cpu", cache=0.2)
