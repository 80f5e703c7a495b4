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
sampler's CUDA graph a fixed shape) and no host sync is spent on ``torch.unique``: the blocks
``[src | dst | negative src | negative dst]`` (triplet ``[src | dst | negative dst]``) are each
appended to the seeds of their endpoint's node type, and the local ids above are positions in
those seeds. On a homogeneous graph, as over an edge type from a node type to itself, that is
one seed list ``[src | dst | negative src | negative dst]``; between two node types the
sources' type gets ``[src | negative src]`` and the destinations' ``[dst | negative dst]``. A
node that stands at several positions is sampled at each (the sampler maps its neighbours'
copies to the first).

A heterogeneous graph is the same loader with a type dimension, as for :class:`NodeLoader`:
the seeds are an ``(edge_type, edge_index)`` pair of one edge type ``(src_type, relation,
dst_type)``, negatives are drawn over the endpoints' node types, one sampling call takes the
seeds of both types as a dict, the seed edges leave message passing in their edge type and in
its reverse (:func:`reverse_edge_type`), and batches are ``HeteroData`` with the link fields
where PyG's loader puts them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch
from torch_geometric.data import Data, HeteroData

from graphsys.loader.gather import Table, check_ids
from graphsys.loader.negatives import NegativeDrawer, NegativeMode, NegativeSampling, edge_keys
from graphsys.loader.subgraph_loader import Sampled, SubgraphLoader, subgraph_batch, typed_seeds
from sampling import HeteroSamplerOutput, NeighborSampler, SamplerOutput

EdgeType = tuple[str, str, str]


def _as_edge_tensor(edges: torch.Tensor, num_src_nodes: int, num_dst_nodes: int,
                    edge_type: EdgeType | None) -> torch.Tensor:
    """``edges`` as int64, checked: shape ``[2, E]``, sources below ``num_src_nodes``, destinations
    below ``num_dst_nodes``. Cost: two range checks (on a GPU two host syncs)."""
    name = "edges" if edge_type is None else f"edges of {edge_type!r}"
    if not isinstance(edges, torch.Tensor):
        raise TypeError(f"{name} must be a [2, num_edges] torch.Tensor of node ids, got {type(edges).__name__}")
    if edges.dim() != 2 or edges.shape[0] != 2:
        raise ValueError(f"{name} must have shape [2, num_edges] (source row, destination row), "
                         f"got {tuple(edges.shape)}")
    for row, num, side in ((0, num_src_nodes, "source"), (1, num_dst_nodes, "destination")):
        of_type = "" if edge_type is None else f" of node type {edge_type[2 * row]!r}"
        check_ids(f"{name} row {row} ({side} ids{of_type})", edges[row], num)
    return edges.long()


def _endpoints(num_src_nodes: int, num_dst_nodes: int, bipartite: bool) -> str:
    """The endpoints' node counts in words, for errors."""
    if bipartite:
        return f"{num_src_nodes} source and {num_dst_nodes} destination nodes (two node types)"
    return f"{num_dst_nodes} nodes (one node type)"


def reverse_edge_type(edge_type: EdgeType, edge_types: Sequence[EdgeType]) -> EdgeType | None:
    """The edge type of ``edge_types`` that holds ``edge_type``'s edges reversed, as
    :meth:`graphsys.HeteroGraph.add_reverse` and PyG's ``ToUndirected`` name it:
    ``(d, "rev_" + r, s)`` for ``(s, r, d)``, and back; ``None`` when there is none (an edge type
    from a node type to itself made undirected in place has its reverses in itself)."""
    src_type, relation, dst_type = edge_type
    relations = [f"rev_{relation}"] + ([relation[len("rev_"):]] if relation.startswith("rev_") else [])
    for name in relations:
        if (dst_type, name, src_type) in edge_types:
            return (dst_type, name, src_type)
    return None


def _edge_store(out: SamplerOutput | HeteroSamplerOutput, key: EdgeType | None):
    """The sampled edges of edge type ``key`` (``None``: a homogeneous output's) as
    ``(source nodes, target nodes, row, col, per-hop counts)``."""
    if key is None:
        return out.node, out.node, out.row, out.col, list(out.num_sampled_edges)
    return out.node[key[0]], out.node[key[2]], out.row[key], out.col[key], list(out.num_sampled_edges[key])


def _keep_edges(out, key: EdgeType | None, index: torch.Tensor, per_hop: list[int]):
    """``out`` with only the edges at ``index`` of edge type ``key`` (``None``: a homogeneous output's)."""
    if key is None:
        return dataclasses.replace(out, row=out.row[index], col=out.col[index], edge=out.edge[index],
                                   num_sampled_edges=per_hop)
    return dataclasses.replace(out, row={**out.row, key: out.row[key][index]},
                               col={**out.col, key: out.col[key][index]}, edge={**out.edge, key: out.edge[key][index]},
                               num_sampled_edges={**out.num_sampled_edges, key: per_hop})


def exclude_edges(out: SamplerOutput | HeteroSamplerOutput,
                  pairs: Mapping[EdgeType | None, tuple[torch.Tensor, torch.Tensor]],
                  num_nodes: int | Mapping[str, int]) -> SamplerOutput | HeteroSamplerOutput:
    """``out`` without the sampled edges that join a pair given for their edge type.

    ``pairs`` maps an edge type (``None`` for a homogeneous output) to ``(sources, targets)``,
    global ids in that type's orientation; over one node type (a homogeneous graph, an edge type
    from a node type to itself) a pair is excluded in either direction. ``num_nodes`` is the
    sampler's (a count, or a dict node type -> count). ``num_sampled_edges`` counts what is left
    of each hop, the hop order is kept.

    Cost: per edge type a membership test of its sampled edges against ``2 x len(sources)`` keys
    (``len(sources)`` between two node types) and one compaction; one host sync for all of them
    (the kept counts per hop).
    """
    kept = []
    for key, (src, dst) in pairs.items():
        sources, targets, row, col, per_hop = _edge_store(out, key)
        if row.numel() == 0:
            continue
        num_targets = num_nodes if key is None else num_nodes[key[2]]
        keys = edge_keys(src, dst, num_targets)
        if key is None or key[0] == key[2]:
            keys = torch.cat([keys, edge_keys(dst, src, num_targets)])
        keep = ~torch.isin(edge_keys(sources[row], targets[col], num_targets), keys)
        hop = torch.repeat_interleave(torch.arange(len(per_hop), device=keep.device),
                                      torch.tensor(per_hop, device=keep.device), output_size=keep.numel())
        counts = torch.zeros(len(per_hop), dtype=torch.int64, device=keep.device)
        counts.index_add_(0, hop, keep.long())
        kept.append((key, keep, counts))
    if not kept:
        return out
    per_hop_all = torch.cat([counts for _, _, counts in kept]).tolist()  # the host sync
    start = 0
    for key, keep, counts in kept:
        per_hop = per_hop_all[start : start + counts.numel()]
        start += counts.numel()
        out = _keep_edges(out, key, keep.nonzero_static(size=sum(per_hop)).view(-1), per_hop)
    return out


class LinkLoader(SubgraphLoader):
    """Minibatches of sampled subgraphs around seed edges and their negatives, as PyG ``Data``
    (``HeteroData`` for a heterogeneous graph) on the sampler's device, with PyG
    ``LinkNeighborLoader``'s fields.

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

    For a heterogeneous sampler and seed edges of type ``(s, r, d)``, every batch is a
    ``HeteroData`` as PyG's loader yields it: per node type ``n_id``, ``num_sampled_nodes`` and
    ``x`` (types with a feature table), per edge type ``edge_index``, ``e_id`` and
    ``num_sampled_edges``; ``input_id``, ``edge_label_index`` (row 0 local ids into type ``s``,
    row 1 into type ``d``) and ``edge_label`` on ``batch[(s, r, d)]``; ``src_index`` on
    ``batch[s]``, ``dst_pos_index`` and ``dst_neg_index`` on ``batch[d]``. Negative sources are
    drawn over type ``s``, negative destinations over type ``d``.

    Placement contract: batches land on ``sampler.device``; negatives are drawn there.
    Features and labels may be GPU tensors, UnifiedTensors (zero-copy from pinned memory;
    GPU cache if enabled) or host tensors (gathered on the CPU and copied: slow, PyG's path).

    Args:
        sampler: the neighbour sampler; its CSR placement decides where everything runs. Its
            graph is the message-passing graph: held-out edges must not be in it.
        features: one row per node (``None``: batches without ``x``); for a heterogeneous
            sampler a dict node type -> table (node types left out get no ``x``).
        labels: one row (or value) per node, gathered for every sampled node, or ``None``; a
            heterogeneous batch carries no node labels (``None`` only).
        edges: ``[2, E]`` positive seed edges (source row, destination row), PyG's
            ``edge_label_index``; for a heterogeneous sampler an ``(edge_type, edge_index)`` pair,
            the sources of the edge type's source type, the destinations of its destination type.
        batch_size: seed edges per batch.
        edge_label: one label per seed edge (binary mode), or ``None`` for ones.
        neg_sampling: how negatives are drawn (:class:`NegativeSampling`), or ``None`` for none; or
            a :class:`~graphsys.loader.negatives.NegativeDrawer` built once (over the seed edge
            type's CSR), whose degree tables and strict edge keys then serve every loader given it
            (one loader per epoch, say).
        exclude_seed_edges: take the batch's positive seed edges (both directions) out of its
            message-passing edges, so a model cannot read the label from the graph; on a
            heterogeneous graph out of the seed edge type and its reverse type
            (:func:`reverse_edge_type`), where the sampler's graph has one. Costs one host sync
            per batch (on the producer thread). On for training; off when the seed edges are not
            in the graph (held-out edges).
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
        TypeError: a sampler, table or edges of the wrong type; plain edges for a heterogeneous
            sampler or an ``(edge_type, edge_index)`` pair for a homogeneous one.
        ValueError: tables whose row count is not the node count, bad shapes or sizes, edge
            labels with triplet negatives, an edge type the sampler's graph does not have, node
            labels for a heterogeneous graph, a NegativeDrawer for other nodes or another device.
        IndexError: an endpoint outside ``[0, num_nodes)`` of its node type.
    """

    def __init__(
        self,
        sampler: NeighborSampler,
        features: Table | Mapping[str, Table] | None,
        labels: Table | None,
        edges: torch.Tensor | tuple[EdgeType, torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        neg_sampling: NegativeSampling | NegativeDrawer | None = None,
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
        # the endpoints' node types, as keys of the feature tables and seed dicts (None: homogeneous)
        self._src_type, self._dst_type = (None, None) if self._edge_type is None else \
            (self._edge_type[0], self._edge_type[2])
        if self._edge_type is not None and labels is not None:
            raise ValueError(f"labels is a {type(labels).__name__}, but heterogeneous link batches (seed edges of "
                             f"{self._edge_type!r}) carry no node labels; pass labels=None")
        super().__init__(sampler, features, labels, label_type=None, batch_size=batch_size, shuffle=shuffle,
                         drop_last=drop_last, prefetch=prefetch, gather_group=gather_group, seed=seed)
        self.num_nodes = sampler.num_nodes
        num_src, num_dst = self._num_nodes_of(self._src_type), self._num_nodes_of(self._dst_type)
        self.edges = _as_edge_tensor(edges, num_src, num_dst, self._edge_type).to(self.device)
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
        self._reverse_type = None if self._edge_type is None else reverse_edge_type(self._edge_type,
                                                                                    sampler.edge_types)
        bipartite = self._src_type != self._dst_type
        self._negatives = drawer
        if drawer is not None and (drawer.device != self.device or drawer.bipartite != bipartite
                                   or (drawer.num_src_nodes, drawer.num_nodes) != (num_src, num_dst)):
            drawn_for = _endpoints(drawer.num_src_nodes, drawer.num_nodes, drawer.bipartite)
            raise ValueError(f"neg_sampling is a NegativeDrawer for {drawn_for} on {drawer.device}, but the seed "
                             f"edges join {_endpoints(num_src, num_dst, bipartite)} on {self.device}")
        if drawer is None and neg_sampling is not None:
            indptr, indices = sampler.csr if self._edge_type is None else sampler.csr[self._edge_type]
            self._negatives = NegativeDrawer(neg_sampling, indptr, indices, self.edges, self.device,
                                             num_src_nodes=num_src if bipartite else None)

    def _num_nodes_of(self, node_type: str | None) -> int:
        """Node count of ``node_type`` (``None``: of the homogeneous graph)."""
        return self.num_nodes if node_type is None else self.num_nodes[node_type]

    @property
    def _triplet(self) -> bool:
        return self.neg_sampling is not None and self.neg_sampling.mode is NegativeMode.TRIPLET

    def _num_items(self) -> int:
        return int(self.edges.shape[1])

    def _seed_blocks(self, size: int) -> list[tuple[str, str | None, int]]:
        """The seed blocks of a batch of ``size`` edges in layout order (the module docstring), as
        ``(role, node type or None, count)``."""
        blocks = [("src", self._src_type, size), ("dst", self._dst_type, size)]
        if self.neg_sampling is not None:
            count = self.neg_sampling.num_negatives(size)
            if not self._triplet:
                blocks.append(("neg_src", self._src_type, count))
            blocks.append(("neg_dst", self._dst_type, count))
        return blocks

    def _sampler_seeds(self, by_type: dict):
        """Seeds (or seed counts) per node type as the sampler takes them: the one entry of a
        homogeneous graph alone, else the dict."""
        return by_type[None] if self._edge_type is None else by_type

    def _sampler_batch_sizes(self, sizes: list[int]) -> list:
        counts = []
        for size in sizes:
            by_type: dict[str | None, int] = {}
            for _, node_type, count in self._seed_blocks(size):
                by_type[node_type] = by_type.get(node_type, 0) + count
            counts.append(self._sampler_seeds(by_type))
        return counts

    def _lay_out(self, size: int, drawn: dict[str, torch.Tensor]) -> tuple[dict, dict[str, torch.Tensor]]:
        """The sampler's seeds per node type and each block's positions in them (the module
        docstring's layout), for the blocks ``drawn`` holds by role. Cost: one arange, one cat per type."""
        parts: dict[str | None, list[torch.Tensor]] = {}
        spans: dict[str, tuple[int, int]] = {}
        ends: dict[str | None, int] = {}
        for role, node_type, count in self._seed_blocks(size):
            start = ends.get(node_type, 0)
            spans[role] = (start, start + count)
            ends[node_type] = start + count
            parts.setdefault(node_type, []).append(drawn[role])
        positions = torch.arange(max(ends.values()), device=self.device)
        seeds = {node_type: torch.cat(blocks) for node_type, blocks in parts.items()}
        return seeds, {role: positions[start:stop] for role, (start, stop) in spans.items()}

    def _sample(self, input_id: torch.Tensor) -> Sampled:
        """Draw the batch's negatives, sample every endpoint in one call, drop the seed edges.

        Cost: the negatives' kernels (strict: one host sync per round), the sampler's (on a GPU its
        kernels and one host sync), with exclusion one more host sync.
        """
        size = input_id.numel()
        src, dst = self.edges[0, input_id], self.edges[1, input_id]
        drawn = {"src": src, "dst": dst}
        count = 0
        if self._negatives is not None:
            count = self.neg_sampling.num_negatives(size)
            if self._triplet:
                _, drawn["neg_dst"] = self._negatives.pairs(src, count, self._generator)
            else:
                drawn["neg_src"], drawn["neg_dst"] = self._negatives.pairs(None, count, self._generator)
        seeds, at = self._lay_out(size, drawn)
        extra = {}
        if self._triplet:
            extra["src_index"], extra["dst_pos_index"] = at["src"], at["dst"]
            extra["dst_neg_index"] = at["neg_dst"].view(-1, size).t().squeeze(-1)
        else:
            src_at, dst_at = at["src"], at["dst"]
            if "neg_src" in at:
                src_at, dst_at = torch.cat([src_at, at["neg_src"]]), torch.cat([dst_at, at["neg_dst"]])
            extra["edge_label_index"] = torch.stack([src_at, dst_at])
            extra["edge_label"] = self._edge_labels(input_id, count)
        out = self.sampler.sample(self._sampler_seeds(seeds))
        if self.exclude_seed_edges:
            out = exclude_edges(out, self._seed_pairs(src, dst), self.num_nodes)
        return Sampled(out, input_id, out.node if self.labels is not None else None, extra)

    def _seed_pairs(self, src: torch.Tensor, dst: torch.Tensor) -> dict:
        """The seed edges per edge type they are excluded from, in its orientation (see :func:`exclude_edges`)."""
        if self._edge_type is None:
            return {None: (src, dst)}
        pairs = {self._edge_type: (src, dst)}
        if self._reverse_type is not None:
            pairs[self._reverse_type] = (dst, src)
        return pairs

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

    def _field_store(self, batch: Data | HeteroData, name: str):
        """Where PyG's ``LinkNeighborLoader`` puts a link field: on the batch (homogeneous), else on
        the source type (``src_index``), the destination type (``dst_pos_index``,
        ``dst_neg_index``) or the seed edge type (``input_id``, ``edge_label_index``, ``edge_label``)."""
        if self._edge_type is None:
            return batch
        if name == "src_index":
            return batch[self._src_type]
        if name in ("dst_pos_index", "dst_neg_index"):
            return batch[self._dst_type]
        return batch[self._edge_type]

    def _assemble(self, sampled: Sampled, x, y) -> Data | HeteroData:
        """The batch as a ``Data`` (a ``HeteroData`` for a heterogeneous graph). Cost: one stack per edge type."""
        batch = subgraph_batch(sampled.out, x)
        for name, value in {"input_id": sampled.input_id, **sampled.extra}.items():
            setattr(self._field_store(batch, name), name, value)
        if y is not None:
            batch.y = y
        return batch

