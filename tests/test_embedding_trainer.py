"""The trainer end to end on a small two-community graph: models, partitions, budgets, resume."""
import pytest
import torch

from embedding import EmbeddingConfig, EmbeddingTrainer, Model, node_classification


def _two_communities(n=40, p_in=0.3, p_out=0.02, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(2 * n) // n
    prob = torch.where(labels[:, None] == labels[None, :], p_in, p_out)
    adj = torch.rand(2 * n, 2 * n, generator=gen) < prob
    adj = torch.triu(adj, 1)
    adj = adj | adj.t()
    dst, src = adj.nonzero(as_tuple=True)  # row = target, col = source, sorted by target then source
    indptr = torch.zeros(2 * n + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(torch.bincount(dst, minlength=2 * n), 0)
    return indptr, src.to(torch.int32), labels


SMALL = dict(dim=16, epochs=40.0, walk_length=10, augmentation_step=3, pool_size=20_000, lr=0.05)


@pytest.mark.parametrize("model,partitions", [("deepwalk", 1), ("deepwalk", 3), ("line", 2), ("node2vec", 1)])
def test_communities_are_separated(model, partitions):
    indptr, indices, labels = _two_communities()
    extra = dict(p=0.5, q=2.0) if model == "node2vec" else {}
    config = EmbeddingConfig(model=model, num_partitions=partitions, **SMALL, **extra)
    trainer = EmbeddingTrainer(indptr, indices, config)
    result = trainer.fit()
    total = round(config.epochs * indices.numel())
    assert total <= result.samples <= total + partitions**2
    assert result.stopped_by == "epochs" and result.bottleneck in ("producers", "trainer")
    assert result.trainer_busy_s > 0 and result.producer_busy_s > 0 and result.loss > 0
    emb = trainer.vertex_embeddings()
    assert emb.shape == (80, 16) and bool(torch.isfinite(emb).all())
    (scores,) = node_classification(emb, labels, (0.5,), seed=0)
    assert scores.micro_f1 > 0.9


def test_rows_follow_original_node_ids():
    indptr, indices, _ = _two_communities()
    trainer = EmbeddingTrainer(indptr, indices, EmbeddingConfig(num_partitions=3, **SMALL))
    rows = trainer.partition.rows()
    assert torch.equal(trainer.vertex_embeddings(), trainer.vertex[rows])
    assert torch.equal(trainer.context_embeddings(), trainer.context[rows])
    assert torch.equal(trainer.node_embeddings(), trainer.vertex[rows] + trainer.context[rows])


def test_weighted_graph_and_time_budget():
    indptr, indices, _ = _two_communities()
    weight = torch.rand(indices.numel(), generator=torch.Generator().manual_seed(1)) + 0.1
    config = EmbeddingConfig(**{**SMALL, "epochs": None, "time_budget": 0.5})
    trainer = EmbeddingTrainer(indptr, indices, config, edge_weight=weight)
    result = trainer.fit()
    assert result.stopped_by == "time_budget" and result.samples > 0
    assert result.seconds < 30


def test_resume_continues_the_run():
    indptr, indices, _ = _two_communities()
    first = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**SMALL, "epochs": 10.0}))
    first.fit()
    state = first.state_dict()
    second = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**SMALL, "epochs": 20.0}))
    second.load_state_dict(state)
    assert second.samples_done == first.samples_done and second.pools_done == first.pools_done
    assert torch.equal(second.vertex_embeddings(), first.vertex_embeddings())
    result = second.fit()
    assert second.samples_done >= round(20 * indices.numel()) and result.samples > 0
    assert second.pools_done > first.pools_done
    done = second.fit()  # already at the target: nothing left to train
    assert done.samples == 0


def test_checkpoint_mismatch_is_refused():
    indptr, indices, _ = _two_communities()
    state = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**SMALL)).state_dict()
    other_dim = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**SMALL, "dim": 8}))
    with pytest.raises(ValueError, match="dim"):
        other_dim.load_state_dict(state)
    small_indptr, small_indices, _ = _two_communities(n=20)
    other_graph = EmbeddingTrainer(small_indptr, small_indices, EmbeddingConfig(**SMALL))
    with pytest.raises(ValueError, match="num_nodes"):
        other_graph.load_state_dict(state)
    with pytest.raises(ValueError, match="not an embedding checkpoint"):
        other_graph.load_state_dict({"format": "something else"})


def test_callback_sees_every_pool():
    indptr, indices, _ = _two_communities()
    seen = []
    trainer = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**SMALL))
    result = trainer.fit(callback=lambda t: seen.append(t.samples_done))
    assert len(seen) == result.pools and seen == sorted(seen) and seen[-1] == trainer.samples_done


@pytest.mark.parametrize(
    "fields,match",
    [
        (dict(model="word2vec"), "model must be one of"),
        (dict(dim=0), "dim"),
        (dict(p=2.0), "node2vec only"),
        (dict(epochs=None), "epochs or time_budget"),
        (dict(epochs=-1.0), "epochs"),
        (dict(lr=0.0), "lr"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(min_lr_fraction=2.0), "min_lr_fraction"),
        (dict(time_budget=0.0), "time_budget"),
    ],
)
def test_config_errors(fields, match):
    with pytest.raises(ValueError, match=match):
        EmbeddingConfig(**fields)


def test_config_round_trip_and_unknown_keys():
    config = EmbeddingConfig(model=Model.LINE, dim=8)
    assert EmbeddingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown embedding config keys"):
        EmbeddingConfig.from_dict({"dimension": 8})


def test_trainer_errors():
    indptr, indices, _ = _two_communities()
    with pytest.raises(ValueError, match="no edges"):
        EmbeddingTrainer(torch.zeros(4, dtype=torch.int64), torch.zeros(0, dtype=torch.int32))
    with pytest.raises(ValueError, match="one 'cpu' worker"):
        EmbeddingTrainer(indptr, indices, EmbeddingConfig(num_partitions=2), devices=("cpu", "cpu"))
    with pytest.raises(ValueError, match="edge_weight"):
        EmbeddingTrainer(indptr, indices, edge_weight=torch.ones(3))
    with pytest.raises(ValueError, match="at least one worker"):
        EmbeddingTrainer(indptr, indices, devices=())
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="is_available"):
            EmbeddingTrainer(indptr, indices, devices=("cuda:0",))


@pytest.mark.gpu
@pytest.mark.parametrize("n,p_in,p_out", [(40, 0.3, 0.02), (500, 0.03, 0.002)])
def test_gpu_master_in_pinned_memory_matches_quality(n, p_in, p_out):
    # 40 nodes: every row is hot, the case that catches rows read stale through an SM's L1 cache
    # (Micro-F1 falls to chance); 500 nodes: sparse.
    indptr, indices, labels = _two_communities(n=n, p_in=p_in, p_out=p_out)
    for master in ("cuda", "pinned"):
        trainer = EmbeddingTrainer(indptr, indices, EmbeddingConfig(num_partitions=2, **SMALL),
                                   devices=("cuda",), master=master)
        trainer.fit()
        (scores,) = node_classification(trainer.vertex_embeddings(), labels, (0.5,))
        assert scores.micro_f1 > 0.9


@pytest.mark.gpu
@pytest.mark.parametrize("partitions", [2, 4])
def test_several_gpus_hand_partitions_to_each_other_and_match_quality(partitions):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 GPUs")
    indptr, indices, labels = _two_communities(n=500, p_in=0.03, p_out=0.002)
    trainer = EmbeddingTrainer(indptr, indices, EmbeddingConfig(num_partitions=partitions, **SMALL),
                               devices=("cuda:0", "cuda:1"))
    trainer.fit()
    (scores,) = node_classification(trainer.vertex_embeddings(), labels, (0.5,))
    assert scores.micro_f1 > 0.9
