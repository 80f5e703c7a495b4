"""Defaults chosen for the graph and the workers (pool size, augmentation step) and bfloat16 rows
through the trainer and `graphsys embed`."""
import json

import numba
import pytest
import torch
from test_embedding_cli import _edge_list
from test_embedding_trainer import SMALL, _two_communities

from embedding import EmbeddingConfig, EmbeddingTrainer, node_classification
from embedding.config import (
    MIN_POOLS_PER_RUN,
    POOL_SIZE_MAX,
    POOL_SIZE_MIN,
    RowDtype,
    default_augmentation_step,
    default_pool_size,
)
from graphsys.cli import main


def test_pool_size_scales_with_the_graph_and_the_run():
    youtube = 4_950_000  # bench_embed's graph: 2.5 M undirected edges both ways, 1 % held out
    assert default_pool_size(youtube, 4000 * youtube) == 20 * youtube  # about GraphVite's 1e8
    assert default_pool_size(youtube, 4000 * youtube, num_workers=4) == POOL_SIZE_MAX
    blogcatalog = 667_966
    assert default_pool_size(blogcatalog, 400 * blogcatalog) == -(-400 * blogcatalog // MIN_POOLS_PER_RUN)
    assert default_pool_size(blogcatalog, None) == 20 * blogcatalog  # a time budget: no run length
    assert default_pool_size(200, 40 * 200) == POOL_SIZE_MIN


def test_augmentation_step_follows_the_device():
    assert default_augmentation_step("cpu") == 3
    assert default_augmentation_step("cuda") == 5


def test_config_resolves_automatic_fields_only():
    config = EmbeddingConfig(epochs=10.0)
    assert config.automatic == ("augmentation_step", "pool_size")
    resolved = config.resolved(num_edges=1000, device_kind="cuda", num_workers=2)
    assert resolved.augmentation_step == 5 and resolved.pool_size == POOL_SIZE_MIN and resolved.automatic == ()
    fixed = EmbeddingConfig(augmentation_step=2, pool_size=5000)
    assert fixed.resolved(num_edges=10**6, device_kind="cuda") == fixed
    assert EmbeddingConfig.from_dict(resolved.to_dict()) == resolved
    with pytest.raises(ValueError, match="pool_size must be an int >= 1"):
        EmbeddingConfig(pool_size=0)


@pytest.mark.parametrize("value", ["bf16", "bfloat16", RowDtype.BFLOAT16])
def test_row_dtype_names(value):
    config = EmbeddingConfig(row_dtype=value)
    assert config.row_dtype is RowDtype.BFLOAT16 and config.to_dict()["row_dtype"] == "bfloat16"
    with pytest.raises(ValueError, match=r"row_dtype must be one of \['float32', 'bfloat16'\]"):
        EmbeddingConfig(row_dtype="float16")


def test_trainer_resolves_its_config_and_resumes_with_other_epochs():
    indptr, indices, _ = _two_communities(n=300)  # about 54 K edges
    auto = {k: v for k, v in SMALL.items() if k not in ("pool_size", "augmentation_step")}
    first = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**auto, "epochs": 10.0}))
    assert first.config.augmentation_step == 3 and first.config.pool_size == POOL_SIZE_MIN
    first.fit()
    # 2000 epochs would choose larger pools; an automatic pool size follows the checkpoint's
    second = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**auto, "epochs": 2000.0}))
    assert second.config.pool_size > first.config.pool_size
    second.load_state_dict(first.state_dict())
    assert second.config.pool_size == first.config.pool_size
    explicit = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**auto, "pool_size": 30_000}))
    with pytest.raises(ValueError, match="pool_size"):
        explicit.load_state_dict(first.state_dict())


@pytest.mark.parametrize("partitions", [1, 3])
def test_bf16_rows_separate_communities(partitions):
    indptr, indices, labels = _two_communities()
    trainer = EmbeddingTrainer(indptr, indices, EmbeddingConfig(num_partitions=partitions, row_dtype="bf16",
                                                                **SMALL))
    assert trainer.vertex.dtype == torch.bfloat16 and trainer.context.dtype == torch.bfloat16
    result = trainer.fit()
    assert result.loss > 0
    emb = trainer.vertex_embeddings()
    assert emb.dtype == torch.float32 and bool(torch.isfinite(emb).all())
    (scores,) = node_classification(emb, labels, (0.5,), seed=0)
    assert scores.micro_f1 > 0.9


def test_bf16_checkpoints_resume_and_refuse_float32():
    indptr, indices, _ = _two_communities()
    config = EmbeddingConfig(row_dtype="bf16", **{**SMALL, "epochs": 10.0})
    first = EmbeddingTrainer(indptr, indices, config)
    first.fit()
    state = first.state_dict()
    assert state["vertex"].dtype == torch.bfloat16 and state["config"]["row_dtype"] == "bfloat16"
    second = EmbeddingTrainer(indptr, indices, config)
    second.load_state_dict(state)
    assert torch.equal(second.vertex_embeddings(), first.vertex_embeddings())
    as_float = EmbeddingTrainer(indptr, indices, EmbeddingConfig(**{**SMALL, "epochs": 10.0}))
    with pytest.raises(ValueError, match="row_dtype"):
        as_float.load_state_dict(state)


def test_same_seed_same_bf16_rows():
    indptr, indices, _ = _two_communities()
    config = EmbeddingConfig(row_dtype="bf16", **{**SMALL, "epochs": 5.0})
    runs = []
    for _ in range(2):
        trainer = EmbeddingTrainer(indptr, indices, config)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # Hogwild threads interleave differently every run
        try:
            trainer.fit()
        finally:
            numba.set_num_threads(threads)
        runs.append(trainer.vertex_embeddings())
    assert torch.equal(runs[0], runs[1])


def test_embed_cli_row_dtype_and_resolved_defaults(tmp_path):
    graph = _edge_list(tmp_path / "two.edgelist")
    out = tmp_path / "emb"
    assert main(["embed", "--graph", str(graph), "--out", str(out), "--dim", "12", "--epochs", "50",
                 "--walk-length", "8", "--row-dtype", "bf16", "--link-prediction", "0.1", "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["row_dtype"] == "bfloat16"
    assert meta["config"]["pool_size"] == POOL_SIZE_MIN and meta["config"]["augmentation_step"] == 3
    assert meta["scores"]["link_prediction_auc"] > 0.6


@pytest.mark.gpu
def test_gpu_bf16_rows_match_quality():
    indptr, indices, labels = _two_communities(n=500, p_in=0.03, p_out=0.002)
    for master in ("cuda", "pinned"):
        trainer = EmbeddingTrainer(indptr, indices, EmbeddingConfig(num_partitions=2, row_dtype="bf16", **SMALL),
                                   devices=("cuda",), master=master)
        assert trainer.config.augmentation_step == 3  # SMALL sets it; the GPU's own default is 5
        trainer.fit()
        (scores,) = node_classification(trainer.vertex_embeddings(), labels, (0.5,))
        assert scores.micro_f1 > 0.9
