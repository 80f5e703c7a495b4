"""Two torch.distributed ranks (gloo, CPU) train one embedding: parallel negative sampling
across processes, the ranks' matrices identical after training."""
import os

import pytest
import torch
import torch.multiprocessing as mp

from embedding import EmbeddingConfig, EmbeddingTrainer, node_classification


def _two_communities(n=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(2 * n) // n
    adj = torch.rand(2 * n, 2 * n, generator=gen) < torch.where(labels[:, None] == labels[None, :], 0.3, 0.02)
    adj = torch.triu(adj, 1)
    dst, src = (adj | adj.t()).nonzero(as_tuple=True)
    indptr = torch.zeros(2 * n + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(torch.bincount(dst, minlength=2 * n), 0)
    return indptr, src.to(torch.int32), labels


def _rank(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        indptr, indices, _ = _two_communities()
        config = EmbeddingConfig(dim=16, epochs=40.0, walk_length=10, augmentation_step=3, pool_size=20_000,
                                 lr=0.05, num_partitions=2)
        trainer = EmbeddingTrainer(indptr, indices, config, distributed=True)
        result = trainer.fit()
        torch.save({"vertex": trainer.vertex_embeddings(), "context": trainer.context_embeddings(),
                    "samples": result.samples, "episodes": len(trainer.schedule.episodes)},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_one_embedding(tmp_path):
    mp.spawn(_rank, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert first["episodes"] == 2  # P = 2, W = 2: two episodes of two concurrent blocks
    assert torch.equal(first["vertex"], second["vertex"]) and torch.equal(first["context"], second["context"])
    _, indices, labels = _two_communities()
    assert first["samples"] == second["samples"] >= round(40 * indices.numel())
    (scores,) = node_classification(first["vertex"] + first["context"], labels, (0.5,))
    assert scores.micro_f1 > 0.9


def test_distributed_needs_a_process_group():
    indptr, indices, _ = _two_communities(n=10)
    with pytest.raises(RuntimeError, match="init_process_group"):
        EmbeddingTrainer(indptr, indices, distributed=True)
