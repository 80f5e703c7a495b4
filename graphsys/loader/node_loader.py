"""graphsys's own node loader: seeds -> sampling -> feature and label gather -> PyG ``Data``, on one device.

A heterogeneous graph is the same loader with a type dimension: the sampler has one CSR per
edge type, the seeds are of one node type, every node type with a feature table gets its own
gather (launched together, one per type and group of batches), and batches are PyG
``HeteroData``.

PyG's loaders bring the seeds to the CPU at every batch and gather features there. This one
keeps the whole path where the sampler runs: with a GPU sampler (CSR in GPU or pinned memory)
the seeds, the sampled subgraph, the zero-copy feature gather (through the UnifiedTensor's
cache) and the batch all stay on the GPU, pipelined on side streams by a producer thread
(:mod:`graphsys.loader.subgraph_loader`, shared with the link loader).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch_geometric.data import Data, HeteroData

from graphsys.loader.gather import Table, check_ids
from graphsys.loader.subgraph_loader import ZERO_COPY_GATHER_GROUP, Sampled, SubgraphLoader, subgraph_batch, typed_seeds
from sampling import NeighborSampler

__all__ = ["NodeLoader", "ZERO_COPY_GATHER_GROUP"]


def _as_seed_tensor(seeds: torch.Tensor, num_nodes: int) -> torch.Tensor:
    if not isinstance(seeds, torch.Tensor):
        raise TypeError(f"seeds must be a torch.Tensor of node ids or a boolean mask, got {type(seeds).__name__}")
    if seeds.dtype == torch.bool:
        if seeds.shape != (num_nodes,):
            raise ValueError(f"a boolean seeds mask must have shape ({num_nodes},), got {tuple(seeds.shape)}")
        return seeds.nonzero().view(-1)
    if seeds.dim() != 1:
        raise ValueError(f"seeds must be 1-D, got shape {tuple(seeds.shape)}")
    check_ids("seeds", seeds, num_nodes)
    return seeds.long()


class NodeLoader(SubgraphLoader):
    """Minibatches of sampled subgraphs around seed nodes, as PyG ``Data`` on the sampler's device.

    Every batch has ``x`` (features of all sampled nodes), ``y`` (labels of the seed nodes
    only: ``batch_size`` rows, so ``batch.y[:batch.batch_size]`` works as with PyG),
    ``edge_index`` (local ids, edges ordered by hop), ``n_id``, ``e_id`` (CSR positions),
    ``input_id`` (positions in ``seeds``), ``batch_size``, ``num_sampled_nodes`` and
    ``num_sampled_edges`` (so PyG's ``trim_to_layer`` works).

    For a heterogeneous sampler (built from dicts per edge type) every batch is a PyG
    ``HeteroData`` as PyG's loader yields it: per node type ``n_id``, ``num_sampled_nodes`` and
    ``x`` (types with a feature table), per edge type ``edge_index``, ``e_id`` and
    ``num_sampled_edges``, and on the seeds' type ``input_id``, ``batch_size`` and ``y``.

    Placement contract: batches land on ``sampler.device``. Features and labels may be GPU
    tensors, UnifiedTensors (zero-copy from pinned memory; GPU cache if enabled) or host
    tensors (gathered on the CPU and copied: slow, PyG's path).

    Args:
        sampler: the neighbour sampler; its CSR placement decides where everything runs.
        features: one row per node; for a heterogeneous sampler a dict node type -> table (node
            types left out, featureless ones, get no ``x``; a model embeds their ``n_id``).
        labels: one row (or value) per node, or ``None`` for batches without ``y``; for a
            heterogeneous sampler, one row per node of the seeds' type.
        seeds: node ids to iterate over (1-D int tensor) or a boolean mask over the nodes; for
            a heterogeneous sampler ``(node_type, ids_or_mask)``, as PyG's ``input_nodes``.
        batch_size: seeds per batch.
        shuffle: visit the seeds in a new random order each epoch.
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        prefetch: groups of batches (see ``gather_group``) produced ahead, on a host thread. 1
            samples and gathers the next group while the model trains on this one; more helps
            only when batch times vary, at the cost of one more group of memory each (on a GPU
            at most ``prefetch + 1`` groups are being gathered at a time, however little the
            consumer does); 0 produces each group on the calling thread when its first batch is
            asked for.
        gather_group: batches sampled in turn whose feature and label rows are then read in one
            gather. Zero-copy reads run faster per row the closer together the rows lie in host
            memory, and the group's ids are read sorted, so a row that several of its batches hold
            is read back to back, the repeats mostly from the GPU's L2; reading several batches at
            once therefore beats one at a time. It holds ``gather_group`` batches of rows per group
            in flight, and the first batch of a group waits for the whole group's gather. ``None``
            (the default): ``ZERO_COPY_GATHER_GROUP`` when the features are a pinned UnifiedTensor
            read by a GPU loader, else 1. The batches are the same whatever the group.
        seed: seed of the shuffling order (the sampler has its own seed).

    Example:
        >>> import torch
        >>> from sampling import NeighborSampler
        >>> from graphsys.loader import NodeLoader
        >>> indptr, indices = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 0], dtype=torch.int32)
        >>> loader = NodeLoader(NeighborSampler(indptr, indices, [2]), torch.randn(3, 4),
        ...                     torch.tensor([0, 1, 0]), torch.arange(3), batch_size=2, shuffle=False)
        >>> [batch.batch_size for batch in loader]
        [2, 1]

    Raises:
        TypeError: a sampler, table or seeds of the wrong type.
        ValueError: tables whose row count is not the sampler's node count, bad sizes.
        IndexError: a seed outside ``[0, num_nodes)``.
    """

    def __init__(
        self,
        sampler: NeighborSampler,
        features: Table | Mapping[str, Table],
        labels: Table | None,
        seeds: torch.Tensor | tuple[str, torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        prefetch: int = 1,
        gather_group: int | None = None,
        seed: int = 0,
    ) -> None:
        self._target, seeds = typed_seeds(sampler, seeds, kind="node", alone="ids_or_mask")
        super().__init__(sampler, features, labels, label_type=self._target, batch_size=batch_size,
                         shuffle=shuffle, drop_last=drop_last, prefetch=prefetch, gather_group=gather_group, seed=seed)
        num_nodes = sampler.num_nodes[self._target] if sampler.is_hetero else sampler.num_nodes
        self.seeds = _as_seed_tensor(seeds, num_nodes).to(self.device)

    def _num_items(self) -> int:
        return self.seeds.numel()

    def _sampler_batch_sizes(self, sizes: list[int]) -> list:
        return [{self._target: n} for n in sizes] if self._target is not None else sizes

    def _seed_arg(self, ids: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Seeds as the sampler takes them: ids, or a dict with the seeds' node type."""
        return ids if self._target is None else {self._target: ids}

    def _sample(self, input_id: torch.Tensor) -> Sampled:
        """One sampler call on the batch's seeds; their labels are the first rows of the seeds' type.
        Cost: the sampler's (on a GPU its kernels and one host sync)."""
        out = self.sampler.sample(self._seed_arg(self.seeds[input_id]))
        seed_nodes = out.node if self._target is None else out.node[self._target]
        return Sampled(out, input_id, seed_nodes[: input_id.numel()] if self.labels is not None else None)

    def _assemble(self, sampled: Sampled, x, y) -> Data | HeteroData:
        """The batch as a ``Data`` (a ``HeteroData`` for a heterogeneous graph). Cost: one stack per edge type."""
        batch = subgraph_batch(sampled.out, x)
        seeds_store = batch if self._target is None else batch[self._target]
        seeds_store.input_id = sampled.input_id
        seeds_store.batch_size = sampled.input_id.numel()
        if y is not None:
            seeds_store.y = y
        return batch
