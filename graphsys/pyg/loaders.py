"""Drop-in ``NeighborLoader`` and ``LinkNeighborLoader``: PyG's loaders, sampled by graphsys.

They take exactly PyG's arguments, so moving a PyG script onto graphsys is one import line::

    # from torch_geometric.loader import NeighborLoader
    from graphsys.pyg import NeighborLoader

Both are subclasses of PyG's classes (``isinstance`` checks keep working); the only change is
the sampler they build when ``neighbor_sampler`` is not given: a :class:`GraphsysSampler`
instead of PyG's, which needs pyg-lib or torch-sparse, and where it runs. On a machine with a
GPU a host ``Data`` / ``HeteroData`` is sampled on the GPU (CSR in GPU memory, or pinned when it
does not fit), its attributes read zero-copy from the user's own tensors pinned in place, and
batches come out on the GPU; ``placement="cpu"`` keeps PyG's host behaviour (what happens
without CUDA too); see :mod:`graphsys.pyg.placement`. ``Data`` and ``HeteroData`` (and
homogeneous or typed ``(FeatureStore, GraphStore)`` pairs) are taken as PyG takes them:
``input_nodes=("paper", mask_or_ids)`` or ``"paper"``, ``num_neighbors`` as one list or a dict
per edge type, ``edge_label_index=(edge_type, index)`` or ``(edge_type, None)``, and the
batches are PyG's ``HeteroData`` ones. ``weight_attr`` (weighted sampling), ``disjoint=True``
(a tree per seed, batches with ``batch``) and ``time_attr`` (temporal sampling with
``input_time`` / ``edge_label_time`` and ``temporal_strategy``) are sampled by graphsys as PyG
samples them, homogeneous or typed; nothing is silently ignored;
``directed=False`` means ``subgraph_type="induced"``, as in PyG. The neighbour and negative
draws are seeded from torch's global generator when the loader is built, so
``torch.manual_seed`` makes a run repeatable, as with PyG.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch_geometric.loader as pyg_loader
from torch_geometric.data import Data, HeteroData
from torch_geometric.sampler import BaseSampler
from torch_geometric.sampler.base import SubgraphType

from graphsys.pyg.placement import Resolved, device_view, enable_caches, resolve
from graphsys.pyg.sampler import GraphsysSampler
from zerocopy import UnifiedTensor


def _our_sampler(data, num_neighbors, replace: bool, subgraph_type, directed: bool, is_sorted: bool,
                 weight_attr: str | None = None, disjoint: bool = False, time_attr: str | None = None,
                 temporal_strategy: str = "uniform", placed: Resolved | None = None) -> GraphsysSampler:
    """The graphsys sampler a loader builds when it is given none (PyG's ``directed=False`` is induced),
    its CSR where ``placed`` says (default: where the data is)."""
    return GraphsysSampler.from_data(
        data,
        num_neighbors,
        replace=replace,
        subgraph_type=subgraph_type if directed else SubgraphType.induced,
        is_sorted=is_sorted,
        seed=_seed_from_torch(),
        weight_attr=weight_attr,
        disjoint=disjoint,
        time_attr=time_attr,
        temporal_strategy=temporal_strategy,
        placement=(placed.csr or None) if placed is not None else None,
        output_device=placed.device if placed is not None else None,
    )


def _seed_from_torch() -> int:
    """A 63-bit seed drawn from torch's global generator (one draw, on the CPU)."""
    return int(torch.randint(0, 2**62, (1,)).item())


def _check_temporal(temporal_strategy: str, time_attr: str | None) -> None:
    """Raise ``ValueError`` for a ``temporal_strategy`` PyG does not know, naming the allowed ones."""
    if temporal_strategy not in ("uniform", "last"):
        raise ValueError(f"temporal_strategy={temporal_strategy!r}; expected 'uniform' or 'last'")


def _wrapped_attrs(source, data) -> tuple[list, list]:
    """``(node_attrs, edge_attrs)``: the ``(group, key)`` of every :class:`zerocopy.UnifiedTensor`
    attribute of ``source`` (``data`` or its device view; group None for a ``Data``, else the
    node or edge type). In a ``Data`` an attribute is an edge attribute when ``data`` holds it as
    a tensor PyG calls an edge attribute and not a node one; wrapped by the user, a node
    attribute. Cost: one pass over the attributes."""
    node_attrs, edge_attrs = [], []
    if isinstance(source, HeteroData):
        for node_type, store in zip(source.node_types, source.node_stores, strict=True):
            node_attrs += [(node_type, k) for k, v in store.items() if isinstance(v, UnifiedTensor)]
        for edge_type, store in zip(source.edge_types, source.edge_stores, strict=True):
            edge_attrs += [(edge_type, k) for k, v in store.items() if isinstance(v, UnifiedTensor)]
    elif isinstance(source, Data):
        for key, value in source.items():
            if isinstance(value, UnifiedTensor):
                original = data[key]
                is_edge = (isinstance(original, torch.Tensor) and data.is_edge_attr(key)
                           and not data.is_node_attr(key))
                (edge_attrs if is_edge else node_attrs).append((None, key))
    return node_attrs, edge_attrs


class _GraphsysBatches:
    """What both drop-in loaders add to PyG's ``filter_fn``: the placement decision, wrapped
    attributes gathered by ``n_id`` / ``e_id`` and, for GPU batches, every tensor on the GPU."""

    def _setup_placement(self, data, placed: Resolved, feature_cache: float, sampler: BaseSampler) -> None:
        self._device = placed.device
        self._source = device_view(data, placed.device) if placed.device is not None else data
        self._node_attrs, self._edge_attrs = _wrapped_attrs(self._source, data)
        ours = isinstance(sampler, GraphsysSampler)
        self.placement = str(sampler.sampler.placement) if ours else None
        if placed.device is not None and feature_cache > 0:
            enable_caches(self._source, sampler.sampler.csr, feature_cache, placed.device)

    def filter_fn(self, out):
        """PyG's filter, then the sampled rows of every ``zerocopy.UnifiedTensor`` attribute.

        PyG copies attributes that are not tensors whole; a wrapped table (``data.x =
        UnifiedTensor(data.x)``, ``data["paper"].x = ...``, or every host tensor under GPU
        batches, see :mod:`graphsys.pyg.placement`) is gathered here instead, on the device of the
        sampled ids: node attributes by ``n_id``, edge attributes by ``e_id``. With GPU batches the
        remaining host tensors (``input_id``, link labels) follow to the GPU, then ``transform`` runs.
        Cost: one gather per wrapped attribute (no host sync under GPU batches: all are launched
        before any is waited on), one small copy per host tensor left.
        """
        if not self._node_attrs and not self._edge_attrs and self._device is None:
            return super().filter_fn(out)
        transform, data = self.transform, self.data
        self.transform, self.data = None, self._source
        try:
            batch = super().filter_fn(out)
        finally:
            self.transform, self.data = transform, data
        trusted = self._device is not None  # the sampler's own ids: no range check, no host sync
        pending = []
        for group, key in self._node_attrs:
            store = batch if group is None else batch[group]
            ids = store.get("n_id")
            if ids is None:
                ids = torch.empty(0, dtype=torch.long, device=self._device)
            table = self._source[key] if group is None else self._source[group][key]
            pending.append((store, key, table.gather_async(ids, check=not trusted)))
        for group, key in self._edge_attrs:
            store = batch if group is None else batch[group]
            ids = store.get("e_id")
            table = self._source[key] if group is None else self._source[group][key]
            if ids is None:  # edges not tracked (bidirectional), or none sampled for this type
                store[key] = None if store.edge_index.numel() else table[torch.empty(0, dtype=torch.long)]
                continue
            pending.append((store, key, table.gather_async(ids, check=not trusted)))
        for store, key, rows in pending:
            store[key] = rows.wait()
        if self._source is not data:  # the view's explicit node counts, where the user's data has none
            _drop_added_num_nodes(batch, data)
        if self._device is not None:
            batch = batch.to(self._device, non_blocking=True)
        return batch if transform is None else transform(batch)


def _drop_added_num_nodes(batch, data) -> None:
    """Remove ``num_nodes`` from the node stores of ``batch`` whose store in ``data`` lacks it."""
    pairs = [(batch._store, data._store)] if isinstance(data, Data) else [
        (batch[t], s) for t, s in zip(data.node_types, data.node_stores, strict=True)]
    for out, store in pairs:
        if "num_nodes" not in store and "num_nodes" in out:
            del out["num_nodes"]


def _placed(data, placement, feature_cache, neighbor_sampler, weight_attr, time_attr, kwargs) -> Resolved:
    """The placement decision of a loader (see :func:`graphsys.pyg.placement.resolve`).

    Raises:
        ValueError: ``placement`` or ``feature_cache`` with a ``neighbor_sampler`` given, a
            ``feature_cache`` outside [0, 1] or without GPU batches (see also ``resolve``).
    """
    if neighbor_sampler is not None:
        if placement is not None or feature_cache:
            raise ValueError("placement and feature_cache apply to the sampler the loader builds; with "
                             "neighbor_sampler given, place its graph yourself and leave them unset")
        return Resolved("", None, dict(kwargs))
    if not 0 <= feature_cache <= 1:
        raise ValueError(f"feature_cache={feature_cache!r}; expected a fraction of feature rows in [0, 1]")
    placed = resolve(data, placement, weighted=weight_attr is not None, temporal=time_attr is not None,
                     kwargs=kwargs)
    if feature_cache and placed.device is None:
        raise ValueError(f"feature_cache={feature_cache!r} needs GPU batches (a GPU and placement None, 'pinned' "
                         "or 'cuda', with Data or HeteroData); for stores, enable the cache on their UnifiedTensors")
    return placed


class NeighborLoader(_GraphsysBatches, pyg_loader.NeighborLoader):
    """PyG's ``NeighborLoader`` with a graphsys sampler; same arguments, same batches.

    Each batch is a ``Data`` with ``x`` / ``y`` (and any other node attribute) of the sampled
    nodes, ``edge_index`` in local ids, ``n_id``, ``e_id``, ``input_id``, ``batch_size`` and the
    per-hop ``num_sampled_nodes`` / ``num_sampled_edges``. For a ``HeteroData`` it is a
    ``HeteroData`` with the same per node type (``batch["paper"].n_id``, ``x``, ...) and per
    edge type (``edge_index``, ``e_id``, edge attributes, ``num_sampled_edges``), and
    ``input_id`` / ``batch_size`` on the seeds' node type, ready for ``to_hetero`` models. See
    PyG's ``NeighborLoader`` for the arguments; ``neighbor_sampler`` may be any PyG
    ``BaseSampler`` and is used as given. Two arguments are graphsys's own:

    * ``placement``: None (default): host data on a GPU machine is sampled on the GPU (the CSR
      in GPU memory, or pinned when it takes more than half the free GPU memory), node and edge
      attributes are gathered zero-copy from the user's tensors pinned in place (never copied),
      and every batch tensor is on the GPU (``num_workers`` is then dropped with a warning and
      ``pin_memory`` ignored: the work runs on the GPU in the main process); without CUDA, or
      for data already on a GPU, as before. ``"cpu"``: PyG's host behaviour (host sampling,
      host batches, workers as asked). ``"pinned"`` / ``"cuda"``: that CSR placement, GPU batches.
      The choice is ``loader.placement``.
    * ``feature_cache``: with GPU batches, the fraction of each node attribute's rows kept in a
      GPU cache, the nodes the graph's neighbour lists name most first (0: none).

    Example:
        >>> import torch
        >>> from torch_geometric.data import Data, HeteroData
        >>> from graphsys.pyg import NeighborLoader
        >>> data = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
        >>> batch = next(iter(NeighborLoader(data, num_neighbors=[2, 2], batch_size=2)))
        >>> batch.batch_size, batch.x.shape[1]
        (2, 3)

    A heterogeneous graph, seeds of one node type::

        >>> from torch_geometric.data import HeteroData
        >>> hetero = HeteroData()
        >>> hetero["paper"].x, hetero["author"].num_nodes = torch.randn(3, 4), 2
        >>> hetero["author", "writes", "paper"].edge_index = torch.tensor([[0, 1, 1], [0, 1, 2]])
        >>> loader = NeighborLoader(hetero, num_neighbors=[2], input_nodes=("paper", torch.tensor([2])), batch_size=1)
        >>> batch = next(iter(loader))
        >>> batch["paper"].batch_size, batch["author"].n_id.tolist()
        (1, [1])

    Raises:
        ValueError: ``disjoint`` or ``time_attr`` with ``subgraph_type="induced"``, an unknown
            ``temporal_strategy``, a ``time_attr`` that is neither a node nor an edge attribute,
            ``num_neighbors`` that does not fit the graph's edge types, a ``weight_attr`` that is
            not an edge attribute.
    """

    def __init__(
        self,
        data,
        num_neighbors,
        input_nodes=None,
        input_time=None,
        replace: bool = False,
        subgraph_type: SubgraphType | str = "directional",
        disjoint: bool = False,
        temporal_strategy: str = "uniform",
        time_attr: str | None = None,
        weight_attr: str | None = None,
        transform: Callable | None = None,
        transform_sampler_output: Callable | None = None,
        is_sorted: bool = False,
        filter_per_worker: bool | None = None,
        neighbor_sampler: BaseSampler | None = None,
        directed: bool = True,
        placement: str | None = None,
        feature_cache: float = 0.0,
        **kwargs,
    ) -> None:
        placed = _placed(data, placement, feature_cache, neighbor_sampler, weight_attr, time_attr, kwargs)
        kwargs = placed.loader_kwargs
        if neighbor_sampler is None:
            _check_temporal(temporal_strategy, time_attr)
            neighbor_sampler = _our_sampler(data, num_neighbors, replace, subgraph_type, directed, is_sorted,
                                            weight_attr, disjoint, time_attr, temporal_strategy, placed)
        super().__init__(
            data,
            num_neighbors,
            input_nodes=input_nodes,
            input_time=input_time,
            replace=replace,
            subgraph_type=subgraph_type,
            disjoint=disjoint,
            temporal_strategy=temporal_strategy,
            time_attr=time_attr,
            weight_attr=weight_attr,
            transform=transform,
            transform_sampler_output=transform_sampler_output,
            is_sorted=is_sorted,
            filter_per_worker=filter_per_worker,
            neighbor_sampler=neighbor_sampler,
            directed=directed,
            **kwargs,
        )
        self._setup_placement(data, placed, feature_cache, neighbor_sampler)


class LinkNeighborLoader(_GraphsysBatches, pyg_loader.LinkNeighborLoader):
    """PyG's ``LinkNeighborLoader`` with a graphsys sampler; same arguments, same batches.

    Each batch carries the sampled subgraph around the endpoints of its links plus, for
    ``neg_sampling="binary"`` (or ``neg_sampling_ratio``), ``edge_label_index`` (local ids,
    negatives after positives) and ``edge_label`` (0 for negatives); for ``"triplet"``,
    ``src_index`` / ``dst_pos_index`` / ``dst_neg_index``. For a ``HeteroData`` with
    ``edge_label_index=(edge_type, index)``, ``edge_label_index`` / ``edge_label`` / ``input_id``
    sit on that edge type, ``src_index`` on its source node type and ``dst_pos_index`` /
    ``dst_neg_index`` on its destination node type, as in PyG.

    Example:
        >>> import torch
        >>> from torch_geometric.data import Data, HeteroData
        >>> from graphsys.pyg import LinkNeighborLoader
        >>> data = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
        >>> loader = LinkNeighborLoader(data, num_neighbors=[2], batch_size=2, neg_sampling="binary")
        >>> batch = next(iter(loader))
        >>> batch.edge_label.tolist()
        [1.0, 1.0, 0.0, 0.0]

    Raises:
        ValueError: as :class:`NeighborLoader`.
    """

    def __init__(
        self,
        data,
        num_neighbors,
        edge_label_index=None,
        edge_label=None,
        edge_label_time=None,
        replace: bool = False,
        subgraph_type: SubgraphType | str = "directional",
        disjoint: bool = False,
        temporal_strategy: str = "uniform",
        neg_sampling=None,
        neg_sampling_ratio: int | float | None = None,
        time_attr: str | None = None,
        weight_attr: str | None = None,
        transform: Callable | None = None,
        transform_sampler_output: Callable | None = None,
        is_sorted: bool = False,
        filter_per_worker: bool | None = None,
        neighbor_sampler: BaseSampler | None = None,
        directed: bool = True,
        placement: str | None = None,
        feature_cache: float = 0.0,
        **kwargs,
    ) -> None:
        placed = _placed(data, placement, feature_cache, neighbor_sampler, weight_attr, time_attr, kwargs)
        kwargs = placed.loader_kwargs
        if neighbor_sampler is None:
            _check_temporal(temporal_strategy, time_attr)
            neighbor_sampler = _our_sampler(data, num_neighbors, replace, subgraph_type, directed, is_sorted,
                                            weight_attr, disjoint, time_attr, temporal_strategy, placed)
        super().__init__(
            data,
            num_neighbors,
            edge_label_index=edge_label_index,
            edge_label=edge_label,
            edge_label_time=edge_label_time,
            replace=replace,
            subgraph_type=subgraph_type,
            disjoint=disjoint,
            temporal_strategy=temporal_strategy,
            neg_sampling=neg_sampling,
            neg_sampling_ratio=neg_sampling_ratio,
            time_attr=time_attr,
            weight_attr=weight_attr,
            transform=transform,
            transform_sampler_output=transform_sampler_output,
            is_sorted=is_sorted,
            filter_per_worker=filter_per_worker,
            neighbor_sampler=neighbor_sampler,
            directed=directed,
            **kwargs,
        )
        self._setup_placement(data, placed, feature_cache, neighbor_sampler)
