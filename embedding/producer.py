"""Sample producers: random walks (or edges) into block-partitioned pools, on the CPU.

Walks start from edges drawn by weight (so start nodes follow the stationary distribution of
the walk, as in GraphVite). Uniform walks (DeepWalk, node2vec with ``p = q = 1``) are walked,
augmented and bucketed in one pass over a row-relabelled CSR (:mod:`embedding.walk_pool`);
node2vec walks run with :func:`sampling.random_walk` and are augmented and bucketed by
:func:`embedding.augment.bucket_pairs`. Both give the same pool for the same walks. LINE takes
the drawn edges themselves as its samples. Pool ``k`` depends only on ``(seed, k)``, so a
resumed run continues the same sample stream.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from embedding.augment import bucket_pairs, max_pairs
from embedding.config import EmbeddingConfig, Model, default_augmentation_step
from embedding.partition import Partition
from embedding.pool import SamplePool
from embedding.walk_pool import RowGraph, walk_pool
from sampling import AliasTable, random_walk


def pool_seed(seed: int, index: int) -> int:
    """A 63-bit seed for pool ``index`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]) >> 1


class SampleProducer:
    """Makes pools of positive samples for one graph, model and partition.

    For uniform walks it keeps a copy of the CSR relabelled into row order (a
    :class:`embedding.walk_pool.RowGraph`: 4 bytes per edge and 12 per node), built once here.

    Args:
        indptr, indices: the CSR (in-neighbours; undirected graphs store both directions).
        partition: the node partition the pool's blocks follow.
        config: walk length, augmentation step (``None``: the CPU's default), ``p``/``q``, model, seed.
        edge_weight: optional ``[E]`` weights; edges (walk starts, LINE samples) are drawn by them.

    Raises:
        ValueError: a graph with no edges (there is nothing to sample).
    """

    def __init__(
        self,
        indptr: torch.Tensor,
        indices: torch.Tensor,
        partition: Partition,
        config: EmbeddingConfig,
        edge_weight: torch.Tensor | None = None,
    ) -> None:
        if indices.numel() == 0:
            raise ValueError("the graph has no edges: there are no positive samples to train on")
        self.indptr = indptr.cpu()
        self.indices = indices.cpu()
        self.config = config
        self.partition = partition
        self._part_of = partition.part_of.numpy()
        self._local_of = partition.local_of.numpy()
        self._edge_table = AliasTable(edge_weight.float().cpu(), device="cpu") if edge_weight is not None else None
        self._targets = None
        if config.model == Model.LINE:
            degree = self.indptr[1:] - self.indptr[:-1]
            self._targets = torch.repeat_interleave(
                torch.arange(degree.numel(), dtype=self.indices.dtype), degree
            )
        self.walk_nodes = 2 if config.model == Model.LINE else config.walk_length + 1
        # an automatic step takes the CPU's default here; the trainer resolves it for its workers first
        step = config.augmentation_step if config.augmentation_step is not None else default_augmentation_step("cpu")
        self.step = 1 if config.model == Model.LINE else step
        self.pairs_per_walk = max_pairs(1, self.walk_nodes, self.step)
        # uniform walks take the one-pass path (int32 rows: up to 2**31 - 1 nodes)
        uniform = config.model != Model.LINE and config.p == config.q == 1.0 and partition.num_nodes < 2**31
        self._rows = RowGraph.relabel(self.indptr, self.indices, partition) if uniform else None

    def walks_for(self, num_samples: int) -> int:
        """Walks (or edges, for LINE) needed for about ``num_samples`` samples."""
        return max(1, math.ceil(num_samples / self.pairs_per_walk))

    def capacity_for(self, num_samples: int) -> int:
        """Buffer entries a pool of ``num_samples`` samples needs."""
        return max_pairs(self.walks_for(num_samples), self.walk_nodes, self.step)

    def _edges(self, count: int, generator: torch.Generator) -> torch.Tensor:
        if self._edge_table is not None:
            return self._edge_table.sample(count, generator=generator)
        return torch.randint(self.indices.numel(), (count,), generator=generator)

    def _starts(self, index: int, num_walks: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Pool ``index``'s walk seed, its drawn edges and their source nodes (the walk starts)."""
        seed = pool_seed(self.config.seed, index)
        edges = self._edges(num_walks, torch.Generator().manual_seed(seed))
        return seed, edges, self.indices[edges]

    def walks(self, index: int, num_walks: int) -> np.ndarray:
        """The walks of pool ``index``: ``[num_walks, walk_nodes]`` node ids (``< 0``: stopped).

        :meth:`fill` buckets exactly these walks (uniform ones without materialising them).
        Cost: one parallel numba walk kernel (GIL released), one edge draw.
        """
        seed, edges, sources = self._starts(index, num_walks)
        if self._targets is not None:
            return torch.stack([sources.long(), self._targets[edges].long()], dim=1).numpy()
        walks = random_walk(
            self.indptr, self.indices, sources, self.config.walk_length,
            p=self.config.p, q=self.config.q, seed=seed, validate=False,
        )
        return walks.numpy()

    def fill(self, index: int, heads: torch.Tensor, tails: torch.Tensor, buffer: int = 0) -> SamplePool:
        """Write pool ``index`` (as many walks as ``heads`` holds pairs for) into the buffers.

        Cost: for uniform walks one parallel pass that walks and writes the pairs (two with
        ``P > 1``, plus 4 bytes per walk node); otherwise the walks plus two parallel passes
        over the pairs. The GIL is released in the numba passes.
        """
        num_walks = heads.numel() // self.pairs_per_walk
        if num_walks < 1:
            raise ValueError(f"buffers of {heads.numel()} samples cannot hold one walk of {self.pairs_per_walk} pairs")
        out = (heads.numpy(), tails.numpy())
        if self._rows is not None:
            seed, _, sources = self._starts(index, num_walks)
            starts = self._rows.row_of[sources.numpy()]
            h, t, block_ptr = walk_pool(self._rows, starts, self.config.walk_length, self.step, seed, out)
        else:
            h, t, block_ptr = bucket_pairs(self.walks(index, num_walks), self.step, self._part_of, self._local_of,
                                           self.partition.num_partitions, out=out)
        n = h.shape[0]
        return SamplePool(index, heads[:n], tails[:n], torch.from_numpy(block_ptr),
                          self.partition.num_partitions, buffer)
