"""graphsys's link loader: seed edges -> negatives -> one sampling call over every endpoint ->
seed edges taken out of message passing -> feature and label gathers -> PyG ``Data``.

The batches follow PyG's ``LinkNeighborLoader``: in "binary" mode ``edge_label_index`` (local
ids of the positive then the negative pairs) and ``edge_label`` (the given labels plus one, or
ones, then zeros); in "triplet" mode ``src_index``, ``dst_pos_index`` and ``dst_neg_index``.
Everything runs where the sampler does, on the pipeline :class:`NodeLoader` uses
(:mod:`graphsys.loader.subgraph_loader`): the negatives are drawn on the sampler's device, the
endpoints of a batch's positive and negative pairs are sampled in one call, and the features
and node labels are read zero-copy through the UnifiedTensor's cache.

Seeds are laid out without deduplication, so a batch has a fixed seed count (and the
sampler's CUDA graph a fixed shape) and no host sync is spent on ``torch.unique``: binary
``[src | dst | negative src | negative dst]``, triplet ``[src | dst | negative dst]``, and the
local ids above are positions in that layout. A node that stands at several positions is
sampled at each (the sampler maps its neighbours' copies to the first).

A heterogeneous graph will be the same loader with a type dimension: the seeds are an
``(edge_type, edge_index)`` pair, as :class:`NodeLoader` takes ``(node_type, ids)``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch_geometric.data import Data

from graphsys.loader.gather import Table, check_ids
from graphsys.loader.negatives import NegativeDrawer, NegativeMode, NegativeSampling, edge_keys
from graphsys.loader.subgraph_loader import Sampled, SubgraphLoader, typed_seeds
from sampling import NeighborSampler, SamplerOutput

EdgeType = tuple[str, str, str]


def _as_edge_tensor(edges: torch.Tensor, num_nodes: int) -> torch.Tensor:
    if not isinstance(edges, torch.Tensor):
        raise TypeError(f"edges must be a [2, num_edges] torch.Tensor of node ids, got {type(edges).__name__}")
    if edges.dim() != 2 or edges.shape[0] != 2:
        raise ValueError(f"edges must have shape [2, num_edges] (source row, destination row), "
                         f"got {tuple(edges.shape)}")
    check_ids("edges", edges, num_nodes)
    return edges.long()


def exclude_edges(out: SamplerOutput, src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> SamplerOutput:
    """``out`` without the sampled edges that join a pair ``(src[i], dst[i])`` in either direction;
    ``num_sampled_edges`` counts what is left of each hop, the hop order is kept.

    Cost: a membership test of every sampled edge against the ``2 x len(src)`` keys, one host
    sync (the kept count per hop), one compaction.
    """
    if out.row.numel() == 0:
        return out
    keys = torch.cat([edge_keys(src, dst, num_nodes), edge_keys(dst, src, num_nodes)])
    sampled = edge_keys(out.node[out.row], out.node[out.col], num_nodes)
    keep = ~torch.isin(sampled, keys)
    hop = torch.repeat_interleave(torch.arange(len(out.num_sampled_edges), device=keep.device),
                                  torch.tensor(out.num_sampled_edges, device=keep.device),
                                  output_size=keep.numel())
    counts = torch.zeros(len(out.num_sampled_edges), dtype=torch.int64, device=keep.device)
    counts.index_add_(0, hop, keep.long())
    per_hop = counts.tolist()  # the host sync
    index = keep.nonzero_static(size=sum(per_hop)).view(-1)
    return dataclasses.replace(out, row=out.row[index], col=out.col[index], edge=out.edge[index],
                               num_sampled_edges=per_hop)


class LinkLoader(SubgraphLoader):
    """Minibatches of sampled subgraphs around seed edges and their negatives, as PyG ``Data``
    on the sampler's device, with PyG ``LinkNeighborLoader``'s fields.

    Every batch has ``x`` (features of all sampled nodes), ``edge_index`` (local ids, edges
    ordered by hop, the batch's positive seed edges removed when ``exclude_seed_edges``),
    ``n_id``, ``e_id`` (CSR positions), ``input_id`` (positions in ``edges``),
    ``num_sampled_nodes`` and ``num_sampled_edges`` (so PyG's ``trim_to_layer`` works), ``y``
    (node labels of all sampled nodes) with ``labels``, and

    * binary mode, or no ``neg_sampling``: ``edge_label_index`` ``[2, B + negatives]`` (local
      ids, positives first) and ``edge_label`` (``edge_label[input_id] + 1`` when labels are
      given and negatives drawn, else ones; zeros for negatives), as PyG;
    * triplet mode: ``src_index`` ``[B]``, ``dst_pos_index`` ``[B]`` and ``dst_neg_index``
      ``[B, amount]`` (``[B]`` when ``amount`` is 1), as PyG.

    Placement contract: batches land on ``sampler.device``; negatives are drawn there.
    Features and labels may be GPU tensors, UnifiedTensors (zero-copy from pinned memory;
    GPU cache if enabled) or host tensors (gathered on the CPU and copied: slow, PyG's path).

    Args:
        sampler: the neighbour sampler; its CSR placement decides where everything runs. Its
            graph is the message-passing graph: held-out edges must not be in it.
        features: one row per node.
        labels: one row (or value) per node, gathered for every sampled node, or ``None``.
        edges: ``[2, E]`` positive seed edges (source row, destination row), PyG's
            ``edge_label_index``; for a heterogeneous graph ``(edge_type, edge_index)`` (to come).
        batch_size: seed edges per batch.
        edge_label: one label per seed edge (binary mode), or ``None`` for ones.
        neg_sampling: how negatives are drawn (:class:`NegativeSampling`), or ``None`` for none; or
            a :class:`~graphsys.loader.negatives.NegativeDrawer` built once, whose degree table and
            strict edge keys then serve every loader given it (one loader per epoch, say).
        exclude_seed_edges: take the batch's positive seed edges (both directions) out of its
            message-passing edges, so a model cannot read the label from the graph; costs one host
            sync per batch (on the producer thread). On for training; off when the seed edges are
            not in the graph (held-out edges).
        shuffle, drop_last, prefetch, gather_group, seed: as :class:`NodeLoader`; ``seed`` also
            seeds the negatives.

    Example:
        >>> import torch
        >>> from sampling import NeighborSampler
        >>> from graphsys.loader import LinkLoader, NegativeSampling
        >>> indptr, indices = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 0], dtype=torch.int32)
        >>> loader = LinkLoader(NeighborSampler(indptr, indices, [2]), torch.randn(3, 4), None,
        ...                     torch.tensor([[0, 1], [1, 2]]), batch_size=2, neg_sampling=NegativeSampling())
        >>> batch = next(iter(loader))
        >>> batch.edge_label_index.shape, batch.edge_label.tolist()
        (torch.Size([2, 4]), [1.0, 1.0, 0.0, 0.0])

    Raises:
        TypeError: a sampler, table or edges of the wrong type.
        ValueError: tables whose row count is not the node count, bad shapes or sizes, edge
            labels with triplet negatives.
        IndexError: an endpoint outside ``[0, num_nodes)``.
    """

    def __init__(
        self,
        sampler: NeighborSampler,
        features: Table | Mapping[str, Table],
        labels: Table | None,
        edges: torch.Tensor | tuple[EdgeType, torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        neg_sampling: NegativeSampling | None = None,
        edge_label: torch.Tensor | None = None,
        exclude_seed_edges: bool = True,
        prefetch: int = 1,
        gather_group: int | None = None,
        seed: int = 0,
    ) -> None:
        drawer = neg_sampling if isinstance(neg_sampling, NegativeDrawer) else None
        if drawer is not None:
            neg_sampling = drawer.config
        elif neg_sampling is not None and not isinstance(neg_sampling, NegativeSampling):
            raise TypeError(f"neg_sampling must be a graphsys.loader.NegativeSampling, a NegativeDrawer or None, "
                            f"got {type(neg_sampling).__name__}")
        self._edge_type, edges = typed_seeds(sampler, edges, kind="edge", alone="edge_index")
        if self._edge_type is not None:
            raise NotImplementedError("LinkLoader builds homogeneous link batches; typed seed edges "
                                      f"{self._edge_type!r} need the heterogeneous link batch, not written yet")
        super().__init__(sampler, features, labels, label_type=None, batch_size=batch_size, shuffle=shuffle,
                         drop_last=drop_last, prefetch=prefetch, gather_group=gather_group, seed=seed)
        self.num_nodes = sampler.num_nodes
        self.edges = _as_edge_tensor(edges, self.num_nodes).to(self.device)
        if edge_label is not None:
            if not isinstance(edge_label, torch.Tensor) or edge_label.dim() == 0 \
                    or edge_label.shape[0] != self.edges.shape[1]:
                got = tuple(edge_label.shape) if isinstance(edge_label, torch.Tensor) else type(edge_label).__name__
                raise ValueError(f"edge_label must hold one label per seed edge ({self.edges.shape[1]}), got {got}")
            if neg_sampling is not None and neg_sampling.mode is NegativeMode.TRIPLET:
                raise ValueError("edge_label cannot go with triplet negatives (their batches carry no edge_label); "
                                 "use binary negatives or drop edge_label")
            edge_label = edge_label.to(self.device)
        self.edge_label = edge_label
        self.neg_sampling = neg_sampling
        self.exclude_seed_edges = bool(exclude_seed_edges)
        self._negatives = drawer
        if drawer is not None and (drawer.device != self.device or drawer.num_nodes != self.num_nodes):
            raise ValueError(f"neg_sampling is a NegativeDrawer for {drawer.num_nodes} nodes on {drawer.device}, but "
                             f"the sampler has {self.num_nodes} nodes on {self.device}")
        if drawer is None and neg_sampling is not None:
            indptr, indices = sampler.csr
            self._negatives = NegativeDrawer(neg_sampling, indptr, indices, self.edges, self.device)

    @property
    def _triplet(self) -> bool:
        return self.neg_sampling is not None and self.neg_sampling.mode is NegativeMode.TRIPLET

    def _num_items(self) -> int:
        return int(self.edges.shape[1])

    def _num_seeds(self, size: int) -> int:
        """Seed positions of a batch of ``size`` edges (the layout of the module docstring)."""
        negatives = 0 if self.neg_sampling is None else self.neg_sampling.num_negatives(size)
        return 2 * size + (negatives if self._triplet else 2 * negatives)

    def _sampler_batch_sizes(self, sizes: list[int]) -> list:
        return [self._num_seeds(n) for n in sizes]

    def _sample(self, input_id: torch.Tensor) -> Sampled:
        """Draw the batch's negatives, sample every endpoint in one call, drop the seed edges.

        Cost: the negatives' kernels (strict: one host sync per round), the sampler's (on a GPU its
        kernels and one host sync), with exclusion one more host sync.
        """
        size = input_id.numel()
        src, dst = self.edges[0, input_id], self.edges[1, input_id]
        parts, extra = [src, dst], {}
        arange = torch.arange(2 * size, device=self.device)
        if self._negatives is None:
            extra["edge_label_index"] = arange.view(2, size)
        elif self._triplet:
            count = self.neg_sampling.num_negatives(size)
            _, neg_dst = self._negatives.pairs(src, count, self._generator)
            parts.append(neg_dst)
            extra["src_index"], extra["dst_pos_index"] = arange[:size], arange[size:]
            neg_index = torch.arange(2 * size, 2 * size + count, device=self.device).view(-1, size).t()
            extra["dst_neg_index"] = neg_index.squeeze(-1)
        else:
            count = self.neg_sampling.num_negatives(size)
            neg_src, neg_dst = self._negatives.pairs(None, count, self._generator)
            parts += [neg_src, neg_dst]
            positions = torch.arange(2 * (size + count), device=self.device)
            extra["edge_label_index"] = torch.stack([
                torch.cat([positions[:size], positions[2 * size : 2 * size + count]]),
                torch.cat([positions[size : 2 * size], positions[2 * size + count :]]),
            ])
        if not self._triplet:
            extra["edge_label"] = self._edge_labels(input_id, extra["edge_label_index"].shape[1] - size)
        out = self.sampler.sample(torch.cat(parts))
        if self.exclude_seed_edges:
            out = exclude_edges(out, src, dst, self.num_nodes)
        return Sampled(out, input_id, out.node if self.labels is not None else None, extra)

    def _edge_labels(self, input_id: torch.Tensor, num_negatives: int) -> torch.Tensor:
        """PyG's binary labels: the given ones (plus one when there are negatives), or ones; zeros for negatives."""
        if self.edge_label is None:
            positive = torch.ones(input_id.numel(), device=self.device)
        else:
            positive = self.edge_label[input_id]
            if self._negatives is not None:
                positive = positive + 1
        if num_negatives == 0:
            return positive
        return torch.cat([positive, positive.new_zeros((num_negatives, *positive.shape[1:]))])

    def _assemble(self, sampled: Sampled, x, y) -> Data:
        """The batch as a ``Data``. Cost: one stack."""
        out = sampled.out
        batch = Data(
            x=x.get(None),
            edge_index=torch.stack([out.row, out.col]),
            n_id=out.node,
            e_id=out.edge,
            input_id=sampled.input_id,
            num_sampled_nodes=list(out.num_sampled_nodes),
            num_sampled_edges=list(out.num_sampled_edges),
            **sampled.extra,
        )
        if y is not None:
            batch.y = y
        return batch
