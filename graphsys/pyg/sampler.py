"""A PyG ``BaseSampler`` backed by graphsys's neighbour sampler: PyG's loaders without pyg-lib.

Pass it as ``neighbor_sampler=`` to PyG's ``NeighborLoader`` / ``LinkNeighborLoader`` or as the
sampler of ``NodeLoader`` / ``LinkLoader``; or use :class:`graphsys.pyg.NeighborLoader`, which
builds one for you. Homogeneous graphs (``Data``) give PyG ``SamplerOutput`` s, heterogeneous
ones (``HeteroData``, typed stores) ``HeteroSamplerOutput`` s: the same sampler, with PyG's edge
types as its type dimension.

Example:
    >>> import torch
    >>> from torch_geometric.data import Data
    >>> from torch_geometric.loader import NeighborLoader
    >>> from graphsys.pyg import GraphsysSampler
    >>> data = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
    >>> sampler = GraphsysSampler.from_data(data, [2, 2], seed=0)
    >>> batch = next(iter(NeighborLoader(data, [2, 2], batch_size=2, neighbor_sampler=sampler)))
    >>> batch.n_id[:2].tolist(), batch.batch_size
    ([0, 1], 2)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch_geometric.data import Data, FeatureStore, GraphStore, HeteroData
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
    NodeSamplerInput,
    NumNeighbors,
    SamplerOutput,
)
from torch_geometric.sampler.base import SubgraphType

from graphsys.pyg.csc import (
    EdgeType,
    InEdgeCSR,
    TypedInEdgeCSR,
    csc_from_data,
    csc_from_graph_store,
    csc_from_hetero_data,
    csc_from_hetero_stores,
    is_hetero_store,
)
from graphsys.pyg.edges import link_seeds
from graphsys.pyg.induced import induced_edges
from sampling import NeighborSampler
from sampling._checks import check_edge_weight
from sampling.csr import sort_rows_by
from zerocopy import UnifiedTensor
from zerocopy.placement import place, placement_of

#: The relation of the edge type, empty, that a heterogeneous graph without edge types is
#: sampled with (``sampling.NeighborSampler`` needs one); it never reaches a batch.
NO_EDGES_RELATION = "__graphsys_no_edges__"


def _check_hops(name: str, fanouts) -> list[int]:
    if isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence):
        raise TypeError(f"{name} must be a list of per-hop fanouts such as [15, 10], got {fanouts!r}")
    fanouts = list(fanouts)
    for hop, fanout in enumerate(fanouts):
        if isinstance(fanout, bool) or not isinstance(fanout, int):
            raise TypeError(f"{name}[{hop}] must be an int, got {fanout!r}")
    return fanouts


def _as_edge_type(key) -> EdgeType:
    """A ``num_neighbors`` key as a canonical edge type (PyG's ``"src__rel__dst"`` strings too)."""
    parts = tuple(key.split("__")) if isinstance(key, str) else tuple(key) if isinstance(key, (tuple, list)) else ()
    if len(parts) != 3 or not all(isinstance(p, str) for p in parts):
        raise TypeError(f"num_neighbors keys must be edge types (src_type, relation, dst_type), got {key!r}")
    return parts


def fanouts_of(
    num_neighbors: NumNeighbors | Sequence[int] | Mapping[EdgeType, Sequence[int]],
    edge_types: Sequence[EdgeType] | None = None,
) -> list[int] | dict[EdgeType, list[int]]:
    """PyG's ``num_neighbors`` as per-hop fanouts (``-1`` = all neighbours).

    Homogeneous (``edge_types`` None): a list. Heterogeneous: a dict with one list per edge
    type of ``edge_types``, from one list for all of them or a dict per edge type (edge types
    it leaves out take ``NumNeighbors.default``); every edge type has the same number of hops.
    Zero hops (PyG's ``num_neighbors=[]``: the seeds alone) is allowed in both.

    Raises:
        ValueError: a dict for a homogeneous graph, an edge type the graph lacks, one missing
            without a default, unequal hop counts.
        TypeError: a fanout that is not an int, a key that is not an edge type.
    """
    values, default = num_neighbors, None
    if isinstance(num_neighbors, NumNeighbors):
        values, default = num_neighbors.values, num_neighbors.default
    if edge_types is None:
        if isinstance(values, Mapping):
            raise ValueError(
                "num_neighbors is a dict per edge type, which needs a heterogeneous graph (HeteroData or "
                "typed stores); give a homogeneous graph a list of per-hop fanouts"
            )
        return _check_hops("num_neighbors", values)
    if not isinstance(values, Mapping):
        hops = _check_hops("num_neighbors", values)
        return {edge_type: list(hops) for edge_type in edge_types}
    given = {_as_edge_type(key): value for key, value in values.items()}
    unknown = [key for key in given if key not in edge_types]
    if unknown:
        raise ValueError(
            f"num_neighbors names edge type {unknown[0]!r}, which the graph does not have; "
            f"edge types: {list(edge_types)}"
        )
    out = {}
    for edge_type in edge_types:
        if edge_type not in given and default is None:
            raise ValueError(
                f"num_neighbors has no entry for edge type {edge_type!r}; give one list per edge type, "
                "one list for all of them, or NumNeighbors(values, default=[...])"
            )
        out[edge_type] = _check_hops(f"num_neighbors[{edge_type!r}]", given.get(edge_type, default))
    hops = {edge_type: len(fanouts) for edge_type, fanouts in out.items()}
    if len(set(hops.values())) > 1:
        raise ValueError(
            f"num_neighbors: the number of hops must be the same across all edge types, got {hops} "
            "(a fanout of 0 samples nothing at a hop)"
        )
    return out


def subgraph_type_of(subgraph_type: SubgraphType | str) -> SubgraphType:
    """Parse ``subgraph_type``: "directional", "bidirectional" or "induced".

    Raises:
        ValueError: an unknown word, naming the allowed ones.
    """
    try:
        return SubgraphType(subgraph_type)
    except ValueError:
        allowed = ", ".join(repr(kind.value) for kind in SubgraphType)
        raise ValueError(f"subgraph_type={subgraph_type!r} is not one of {allowed}") from None


def _device_of_hetero(data: HeteroData) -> torch.device:
    """Where a ``HeteroData`` lives: the device of its first edge index (else first tensor), or the CPU."""
    for store in list(data.edge_stores) + list(data.node_stores):
        for value in store.values():
            if isinstance(value, torch.Tensor):
                return value.device
    return torch.device("cpu")


def _edge_values(data, name: str | None, perm, what: str, check=check_edge_weight):
    """A per-edge attribute of ``data`` (``weight_attr``) in CSR order: a tensor for a ``Data``,
    a dict edge type -> tensor for a ``HeteroData`` (edge types without it left out), or None.

    The values are checked in the user's edge order by ``check(label, value, num_edges)``, so
    errors name the user's positions.

    Raises:
        ValueError: no edge attribute of that name (listing the edge attributes there are), or
            values ``check`` refuses.
    """
    if name is None:
        return None
    if isinstance(data, HeteroData):
        values = {et: store[name] for et, store in zip(data.edge_types, data.edge_stores, strict=True) if name in store}
        if not values:
            raise ValueError(f"{what}={name!r} is not an edge attribute of any edge type of the HeteroData")
        for et, value in values.items():
            _checked(check, what, name, f"data[{et!r}].{name}", value, data[et].edge_index.size(1))
        return {et: v if perm.get(et) is None else v[perm[et]] for et, v in values.items()}
    if name not in data or not data.is_edge_attr(name):
        attrs = sorted(k for k in data.keys() if data.is_edge_attr(k) and k != "edge_index")
        raise ValueError(f"{what}={name!r} is not an edge attribute of the Data; edge attributes: {attrs}")
    value = data[name]
    _checked(check, what, name, f"data.{name}", value, data.edge_index.size(1))
    return value if perm is None else value[perm]


def _time_sorted(csr: InEdgeCSR, time: torch.Tensor, weight: torch.Tensor | None):
    """``csr`` with every row sorted by ``time`` (CSR order), as temporal sampling reads it: the
    reordered CSR (its ``perm`` composed), times and weights. Cost: one stable sort of E keys."""
    order = sort_rows_by(csr.indptr, time)
    perm = order if csr.perm is None else csr.perm[order]
    return InEdgeCSR(csr.indptr, csr.indices[order], perm), time[order], None if weight is None else weight[order]


def _node_times(data, time_attr: str):
    """Node-level times of ``data`` (a tensor, or a dict node type -> tensor), or None when
    ``time_attr`` is edge-level.

    Raises:
        ValueError: ``time_attr`` is neither, or both (heterogeneous), as PyG says.
    """
    neither = f"The time attribute '{time_attr}' is neither a node-level or edge-level attribute"
    if isinstance(data, HeteroData):
        nodes = {t: store[time_attr] for t, store in zip(data.node_types, data.node_stores, strict=True)
                 if time_attr in store}
        edges = any(time_attr in store for store in data.edge_stores)
        if nodes and edges:
            raise ValueError(f"The time attribute '{time_attr}' holds both node-level and edge-level information")
        if not nodes and not edges:
            raise ValueError(neither)
        return nodes or None
    if isinstance(data, Data):
        if time_attr in data and data.is_node_attr(time_attr):
            return data[time_attr]
        if time_attr in data and data.is_edge_attr(time_attr):
            return None
        raise ValueError(neither)
    feature_store = data[0]  # a store pair: node-level times live in the feature store
    attrs = [a for a in feature_store.get_all_tensor_attrs() if a.attr_name == time_attr]
    if not attrs:
        raise ValueError(f"{neither} of the feature store")
    times = {a.group_name: feature_store.get_tensor(a.group_name, a.attr_name, None) for a in attrs}
    return times if any(isinstance(k, str) for k in times) else next(iter(times.values()))


def _check_length(label: str, value, num_edges: int) -> None:
    if not isinstance(value, torch.Tensor) or value.dim() != 1 or value.numel() != num_edges:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{label} has shape {shape}; expected one value per edge, ({num_edges},)")


def _checked(check, what: str, name: str, label: str, value, num_edges: int) -> None:
    """``check(label, value, num_edges)``, its error prefixed with the option that named the attribute."""
    try:
        check(label, value, num_edges)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{what}={name!r}: {err}") from None


def _hetero_sampler(
    graph: TypedInEdgeCSR, num_neighbors, where: str, replace: bool, seed: int, edge_weight=None,
    disjoint: bool = False, edge_time=None, temporal_strategy: str = "uniform",
) -> tuple[NeighborSampler, int, frozenset]:
    """The typed ``sampling.NeighborSampler`` of a heterogeneous graph placed in ``where``.

    Returns the sampler, the number of hops PyG asked for and the edge types the sampler carries
    that are not the graph's. Zero hops are sampled as one hop of fanout 0 (the sampler needs a
    hop; it adds nothing), a graph without edge types with one empty edge type (the sampler needs
    one); :meth:`GraphsysSampler._sample` drops both again. Cost: one copy per CSR array that moves.
    """
    edge_types = list(graph.csr)
    fanouts = fanouts_of(num_neighbors, edge_types)
    if edge_types:
        hops = len(fanouts[edge_types[0]])
    else:
        values = num_neighbors.values if isinstance(num_neighbors, NumNeighbors) else num_neighbors
        hops = len(_check_hops("num_neighbors", values)) if not isinstance(values, Mapping) else 0
    csr = {et: (place(c.indptr, where), place(c.indices, where)) for et, c in graph.csr.items()}
    hidden = frozenset()
    if not edge_types:
        node_type = next(iter(graph.num_nodes))
        empty = (node_type, NO_EDGES_RELATION, node_type)
        indptr = torch.zeros(graph.num_nodes[node_type] + 1, dtype=torch.int64)
        csr[empty] = (place(indptr, where), place(torch.zeros(0, dtype=torch.int32), where))
        fanouts, hidden = {empty: [0] * max(hops, 1)}, frozenset([empty])
    if hops == 0:
        fanouts = {et: [0] for et in fanouts}
    sampler = NeighborSampler(
        {et: p for et, (p, _) in csr.items()},
        {et: i for et, (_, i) in csr.items()},
        fanouts,
        replace=replace,
        seed=seed,
        num_nodes=graph.num_nodes,
        edge_weight=None if edge_weight is None else {et: place(w, where) for et, w in edge_weight.items()},
        disjoint=disjoint,
        edge_time=None if not edge_time else {et: place(t, where) for et, t in edge_time.items()},
        temporal_strategy=temporal_strategy,
    )
    return sampler, hops, hidden


def _placed_perm(perm: torch.Tensor, target: torch.device, uva: bool) -> torch.Tensor | UnifiedTensor:
    """An edge permutation on ``target``, or (``uva``) pinned in place as a UnifiedTensor that
    ``perm[edge]`` gathers zero-copy onto the GPU. Cost: one copy, or one registration."""
    return UnifiedTensor(perm.cpu()) if uva else perm.to(target)


class GraphsysSampler(BaseSampler):
    """PyG's sampler interface over a :class:`sampling.NeighborSampler`.

    ``sample_from_nodes`` and ``sample_from_edges`` return PyG ``SamplerOutput`` objects (a
    homogeneous sampler) or ``HeteroSamplerOutput`` objects (a sampler built from dict CSRs per
    edge type) whose ``node`` / ``row`` / ``col`` / ``edge`` / ``num_sampled_nodes`` /
    ``num_sampled_edges`` follow PyG's layout (so ``trim_to_layer`` works) and whose
    ``metadata`` is what PyG's loaders read. Seeds arrive on the CPU (PyG's loaders put them
    there) and are moved to the sampler's device; outputs land on ``output_device`` (the
    sampler's device when ``None``).

    Args:
        sampler: the graphsys neighbour sampler (its CSR placement decides where sampling runs;
            negatives are drawn below its ``num_nodes``, per node type when typed).
        edge_permutation: ``perm[k]`` = position in the user's ``edge_index`` of CSR edge ``k``,
            so PyG maps sampled edge ids back to its edge attributes; ``None`` if orders agree.
            A dict edge type -> such a tensor (or ``None``) for a typed sampler.
        subgraph_type: ``"directional"`` (the sampled edges), ``"bidirectional"`` (each sampled
            edge in both directions; for typed graphs, merged with the reverse edge type as PyG
            does) or ``"induced"`` (every edge between the sampled nodes); the last two drop the
            per-hop counts, as PyG does.
        csr: the graph ``"induced"`` subgraphs are read from, ``(indptr, indices)`` on the
            sampler's device (a dict edge type -> such a pair for a typed sampler); default the
            sampler's own.
        output_device: where outputs go; set it to the device of a ``Data`` the loader filters.
        seed: seed of the negative-sampling stream (the neighbour draws use the sampler's own).

    Raises:
        TypeError: ``sampler`` is not a ``sampling.NeighborSampler``, or ``edge_permutation`` /
            ``csr`` of the other form than the sampler (dict for a typed one, tensors otherwise).
    """

    def __init__(
        self,
        sampler: NeighborSampler,
        *,
        edge_permutation: torch.Tensor | Mapping[EdgeType, torch.Tensor | None] | None = None,
        subgraph_type: SubgraphType | str = "directional",
        csr: tuple[torch.Tensor, torch.Tensor] | Mapping[EdgeType, tuple[torch.Tensor, torch.Tensor]] | None = None,
        output_device: torch.device | str | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(sampler, NeighborSampler):
            raise TypeError(f"sampler must be a sampling.NeighborSampler, got {type(sampler).__name__}")
        self.sampler = sampler
        self.is_hetero = sampler.is_hetero
        self.num_nodes = sampler.num_nodes
        self.subgraph_type = subgraph_type_of(subgraph_type)
        kind = "a dict per edge type" if self.is_hetero else "a tensor"
        for name, value in (("edge_permutation", edge_permutation), ("csr", csr)):
            if value is not None and isinstance(value, Mapping) != self.is_hetero:
                raise TypeError(f"{name} must be {kind} for this sampler, got {type(value).__name__}")
        self._csr = csr  # None: the sampler's own (not kept twice, so a spawned worker gets one copy)
        self.device = sampler.device
        self.output_device = torch.device(output_device) if output_device is not None else None
        target = self.output_device or self.device
        # A pinned CSR (too large for GPU memory) keeps its permutation pinned too, read zero-copy.
        uva = sampler.placement.kind == "pinned" and target.type == "cuda"
        if isinstance(edge_permutation, Mapping):
            edge_permutation = {et: None if p is None else _placed_perm(p, target, uva)
                                for et, p in edge_permutation.items()}
        elif edge_permutation is not None:
            edge_permutation = _placed_perm(edge_permutation, target, uva)
        self._perm = edge_permutation
        self._hops: int | None = None  # fewer hops than the sampler's: see _hetero_sampler
        self._hidden: frozenset = frozenset()
        self._node_time = None  # node-level times (per node type when typed): default seed times
        self._generator = torch.Generator().manual_seed(seed)
        self._worker_seed: int | None = None

    @classmethod
    def from_data(
        cls,
        data: Data | HeteroData | tuple[FeatureStore, GraphStore],
        num_neighbors: NumNeighbors | Sequence[int] | Mapping[EdgeType, Sequence[int]],
        *,
        replace: bool = False,
        subgraph_type: SubgraphType | str = "directional",
        is_sorted: bool = False,
        placement: str | None = None,
        seed: int = 0,
        weight_attr: str | None = None,
        disjoint: bool = False,
        time_attr: str | None = None,
        temporal_strategy: str = "uniform",
        output_device: torch.device | str | None = None,
    ) -> GraphsysSampler:
        """A sampler over what a PyG loader is given: a ``Data``, a ``HeteroData`` or
        ``(FeatureStore, GraphStore)`` (homogeneous or typed).

        Args:
            data: ``Data`` (its ``edge_index``), ``HeteroData`` (each edge type's
                ``edge_index``, each node type's ``num_nodes``), or a feature and graph store pair
                (a :class:`~graphsys.pyg.CSRGraphStore` is sampled in place, without a copy).
            num_neighbors: fanout per hop, ``-1`` for all neighbours; for a heterogeneous graph
                one list for every edge type or a dict per edge type (see :func:`fanouts_of`).
            replace: sample with replacement.
            subgraph_type: ``"directional"``, ``"bidirectional"`` or ``"induced"``.
            is_sorted: every ``edge_index`` is sorted by target already (skips one sort each).
            placement: where the CSRs live and sampling runs ("cpu", "pinned", "cuda"); by
                default where the graph already is (the data's device, the store's placement).
            seed: seed of the neighbour draws and of the negative draws.
            weight_attr: the edge attribute of a ``Data`` / ``HeteroData`` holding edge weights
                (edge types without it are sampled uniformly): neighbours are drawn with
                probability proportional to weight (see ``sampling.NeighborSampler``'s
                ``edge_weight``), stored beside the CSR in its placement.
            disjoint: every seed (every link endpoint, negatives included) grows its own tree;
                outputs carry PyG's ``batch`` (not with ``subgraph_type="induced"``, as in PyG).
            time_attr: temporal sampling: a node attribute (a node's time; an edge takes its
                source's) or an edge attribute of ``data`` (for store pairs: node times in the
                feature store); every seed's tree follows only edges no later than the seed's
                time (``input_time`` / ``edge_label_time``, else the seed node's own time).
                CSR rows are sorted by time (one sort; ``edge_permutation`` follows). Implies
                ``disjoint``, as in PyG.
            temporal_strategy: ``"uniform"`` or ``"last"`` (the latest neighbours).
            output_device: where outputs land; default the device of a ``Data`` / ``HeteroData``
                (the sampler's own for stores). The drop-in loaders pass the GPU for host data
                sampled on it (see :mod:`graphsys.pyg.placement`).

        Cost: one CSR build from ``edge_index`` (a sort of E keys) per edge type of a ``Data`` /
        ``HeteroData``; one copy per CSR array that ``placement`` moves.

        Raises:
            TypeError: ``data`` of another kind. ValueError: an empty ``HeteroData``, edges held
                as ``adj_t``, bad ``num_neighbors``, unsupported options, a ``weight_attr`` that is
                not an edge attribute (or given with stores), bad weights.
        """
        asked_device = output_device
        output_device = None
        graph: TypedInEdgeCSR | None = None
        if isinstance(data, HeteroData):
            graph = csc_from_hetero_data(data, is_sorted=is_sorted)
            output_device = _device_of_hetero(data)
            default = "cuda" if output_device.type == "cuda" else "cpu"
        elif isinstance(data, Data):
            homogeneous: InEdgeCSR = csc_from_data(data, is_sorted=is_sorted)
            tensors = [v for v in (data.edge_index, data.x) if isinstance(v, torch.Tensor)]  # a Data may lack edges
            output_device = tensors[0].device if tensors else torch.device("cpu")
            default = "cuda" if output_device.type == "cuda" else "cpu"
        elif (
            isinstance(data, (tuple, list))
            and len(data) == 2
            and isinstance(data[0], FeatureStore)
            and isinstance(data[1], GraphStore)
        ):
            if is_hetero_store(*data):
                graph = csc_from_hetero_stores(*data)
                where = [placement_of(c.indices) for c in graph.csr.values()]
                default = str(where[0]) if where else "cpu"
            else:
                homogeneous = csc_from_graph_store(data[1])
                default = str(placement_of(homogeneous.indices))
        else:
            raise TypeError(
                "data must be a torch_geometric Data, HeteroData or a (FeatureStore, GraphStore) pair, "
                f"got {type(data).__name__}"
            )
        where = placement or default
        if asked_device is not None:
            output_device = torch.device(asked_device)
        if disjoint and subgraph_type_of(subgraph_type) == SubgraphType.induced:
            raise ValueError("disjoint=True cannot be combined with subgraph_type='induced' (as in PyG); "
                             "use 'directional' or 'bidirectional'")
        if weight_attr is not None and not isinstance(data, (Data, HeteroData)):
            raise ValueError(
                f"weight_attr={weight_attr!r} needs a Data or HeteroData; (FeatureStore, GraphStore) inputs are "
                "sampled uniformly (as in PyG), leave weight_attr=None"
            )
        node_time = None if time_attr is None else _node_times(data, time_attr)
        if time_attr is not None and subgraph_type_of(subgraph_type) == SubgraphType.induced:
            raise ValueError("temporal sampling (time_attr) cannot be combined with subgraph_type='induced'; "
                             "use 'directional' or 'bidirectional'")
        if graph is not None:
            weights = _edge_values(data, weight_attr, graph.perm, "weight_attr")
            times = None
            if time_attr is not None:
                if node_time is None:
                    times = _edge_values(data, time_attr, graph.perm, "time_attr", check=_check_length)
                else:
                    times = {et: node_time[et[0]].cpu()[c.indices.long()] for et, c in graph.csr.items()
                             if et[0] in node_time}
                csr = dict(graph.csr)
                weights = dict(weights) if weights is not None else None
                for et, t in times.items():
                    w = None if weights is None else weights.get(et)
                    csr[et], times[et], w = _time_sorted(csr[et], t, w)
                    if w is not None:
                        weights[et] = w
                graph = TypedInEdgeCSR(graph.num_nodes, csr)
            sampler, hops, hidden = _hetero_sampler(graph, num_neighbors, where, replace, seed, weights, disjoint,
                                                    times, temporal_strategy)
            out = cls(
                sampler, edge_permutation=graph.perm, subgraph_type=subgraph_type,
                output_device=output_device, seed=seed,
            )
            out._hops, out._hidden, out._node_time = hops, hidden, node_time
            return out
        fanouts = fanouts_of(num_neighbors)
        indptr, indices = place(homogeneous.indptr, where), place(homogeneous.indices, where)
        # zero hops: one hop of fanout 0 (the sampler needs a hop; it adds nothing), dropped again
        weight = _edge_values(data, weight_attr, homogeneous.perm, "weight_attr")
        time = None
        if time_attr is not None:
            if node_time is None:
                time = _edge_values(data, time_attr, homogeneous.perm, "time_attr", check=_check_length)
            else:
                time = node_time.cpu()[homogeneous.indices.long().cpu()]
            homogeneous, time, weight = _time_sorted(homogeneous, time.to(homogeneous.indptr.device), weight)
        indptr, indices = place(homogeneous.indptr, where), place(homogeneous.indices, where)
        sampler = NeighborSampler(indptr, indices, fanouts or [0], replace=replace, seed=seed,
                                  edge_weight=None if weight is None else place(weight, where), disjoint=disjoint,
                                  edge_time=None if time is None else place(time, where),
                                  temporal_strategy=temporal_strategy)
        out = cls(
            sampler,
            edge_permutation=homogeneous.perm,
            subgraph_type=subgraph_type,
            output_device=output_device,
            seed=seed,
        )
        out._hops, out._node_time = len(fanouts), node_time
        return out

    @property
    def disjoint(self) -> bool:
        """Whether every seed grows its own tree (batches carry PyG's ``batch``)."""
        return self.sampler.disjoint

    @property
    def node_types(self) -> list[str]:
        """The node types, in the sampler's order (``["_N"]`` for a homogeneous graph)."""
        return list(self.sampler.node_types)

    @property
    def edge_types(self) -> list[EdgeType]:
        """The graph's edge types, in sampling order (``[("_N", "_E", "_N")]`` for a homogeneous graph)."""
        return [et for et in self.sampler.edge_types if et not in self._hidden]

    @property
    def num_neighbors(self) -> NumNeighbors:
        """The fanouts as PyG's samplers expose them (what ``BasicGNN.inference(loader)`` reads):
        a list per hop, or for a typed graph a dict edge type -> list."""
        fanouts = self.sampler.fanouts
        hops = self._hops
        if isinstance(fanouts, dict):
            return NumNeighbors({et: list(f)[:hops] for et, f in fanouts.items() if et not in self._hidden})
        return NumNeighbors(list(fanouts)[:hops])

    @property
    def edge_permutation(self) -> torch.Tensor | UnifiedTensor | dict[EdgeType, torch.Tensor | None] | None:
        """Map from sampled edge ids (CSR positions) to the user's edge order, or ``None``;
        a dict per edge type for a heterogeneous graph. On the output device; for a pinned CSR
        feeding a GPU a :class:`zerocopy.UnifiedTensor` in pinned memory (``perm[edge]`` gathers
        zero-copy)."""
        return self._perm

    def __getstate__(self) -> dict:
        """The state a spawned DataLoader worker gets, the negative-sampling generator's state as
        bytes: pickled as a tensor it would be a temporary in shared memory, freed before the
        worker reads it."""
        state = self.__dict__.copy()
        state["_generator"] = bytes(self._generator.get_state().numpy())
        return state

    def __setstate__(self, state: dict) -> None:
        generator = torch.Generator()
        generator.set_state(torch.frombuffer(bytearray(state["_generator"]), dtype=torch.uint8))
        self.__dict__.update(state, _generator=generator)

    def _induced_csr(self):
        """The CSR induced subgraphs are read from: the one given, else the sampler's."""
        return self._csr if self._csr is not None else self.sampler.csr

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput | HeteroSamplerOutput:
        """Sample around the seed nodes of ``index`` (of node type ``index.input_type`` when typed).

        Cost: one seed copy to the sampler's device, the sampler's own (on a GPU one host sync per
        batch for the counts), one copy of the outputs when ``output_device`` differs; ``"induced"``
        adds a pass over the sampled nodes' in-edges (per edge type).

        Raises:
            ValueError: temporal (``time``) input; an ``input_type`` for a homogeneous graph, none
                or an unknown one for a heterogeneous graph.
        """
        temporal = self.is_temporal
        if index.time is not None and not temporal:
            raise ValueError("input_time needs a temporal sampler: build it with time_attr")
        if not self.is_hetero:
            if index.input_type is not None:
                raise ValueError(
                    f"this sampler holds a homogeneous graph, got input_type={index.input_type!r}; "
                    "build it from a HeteroData for typed seeds"
                )
            seeds = index.node
        else:
            if index.input_type not in self.node_types:
                raise ValueError(
                    f"input_type={index.input_type!r} is not a node type of this heterogeneous graph; "
                    f"give input_nodes=(node_type, ids) with a node type of {self.node_types}"
                )
            seeds = {index.input_type: index.node}
        seed_time = None
        if temporal:
            seed_time = index.time if index.time is not None else self._default_seed_time(index)
            seed_time = {index.input_type: seed_time} if self.is_hetero else seed_time
        out = self._sample(seeds, seed_time)
        out.metadata = (index.input_id, index.time)
        return out

    @property
    def is_temporal(self) -> bool:
        """Whether trees follow only edges no later than their seed's time (``time_attr``)."""
        return self.sampler.is_temporal

    def _default_seed_time(self, index: NodeSamplerInput) -> torch.Tensor:
        """The seeds' own node times, when ``input_time`` is not given.

        Raises:
            ValueError: times are edge-level, or the seed type has none: ``input_time`` is needed.
        """
        node_time = self._node_time
        if isinstance(node_time, Mapping):
            node_time = node_time.get(index.input_type)
        if node_time is None:
            raise ValueError(
                "this temporal sampler has no node times for the seeds (edge-level time_attr, or a node type "
                "without it); give input_time, the time of each seed"
            )
        return node_time.cpu()[index.node.cpu().long()]

    def sample_from_edges(
        self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None
    ) -> SamplerOutput | HeteroSamplerOutput:
        """Sample around the endpoints of the links of ``index`` (and of sampled negatives).

        ``metadata`` holds the links in local ids as PyG's ``LinkLoader`` reads them (see
        :mod:`graphsys.pyg.edges`). Cost: the negative draws and one ``unique`` per endpoint node
        type on the CPU, then as :meth:`sample_from_nodes`.

        The links' edge type need not be one the graph samples (links to predict may be kept
        out of the message-passing graph); its endpoint node types must exist.

        Raises:
            ValueError: an ``input_type`` naming a node type the graph lacks (see also
                :func:`graphsys.pyg.edges.link_seeds`).
        """
        if self.is_hetero and index.input_type is not None:
            for node_type in (index.input_type[0], index.input_type[-1]):
                if node_type not in self.node_types:
                    raise ValueError(
                        f"edge_label_index has edge type {index.input_type!r}, whose node type {node_type!r} "
                        f"this graph does not have; node types: {self.node_types}"
                    )
        if index.time is not None and not self.is_temporal:
            raise ValueError("edge_label_time needs a temporal sampler: build it with time_attr")
        if self.is_temporal and index.time is None:
            raise ValueError("this sampler is temporal (time_attr): give edge_label_time, the time of each link")
        seeds = link_seeds(index, NegativeSampling.cast(neg_sampling), self.num_nodes, self._generator,
                           disjoint=self.disjoint, node_time=self._node_time)
        out = self._sample(seeds.node, seeds.time)
        if self.disjoint:  # a tree per endpoint; PyG's batch names the link: tree modulo the link count
            num_pos = index.row.numel()
            if self.is_hetero:
                out.batch = {k: b % num_pos for k, b in out.batch.items()}
            else:
                out.batch = out.batch % num_pos
        out.metadata = seeds.metadata
        return out

    def _reseed_in_worker(self) -> None:
        """Give each DataLoader worker its own draws (the sampler is copied into every worker).

        Worker seeds come from torch's generator in the main process at each epoch, so
        ``torch.manual_seed`` still makes a run with workers repeatable. Cost: one lookup.
        """
        info = torch.utils.data.get_worker_info()
        if info is None or info.seed == self._worker_seed:
            return
        self._worker_seed = info.seed
        self.sampler.reseed(info.seed & (2**63 - 1))
        self._generator.manual_seed(info.seed & (2**63 - 1))

    def _sample(self, seeds, seed_time=None) -> SamplerOutput | HeteroSamplerOutput:
        self._reseed_in_worker()
        ours = self.sampler.sample(seeds, seed_time)
        if self.is_hetero:
            return self._typed_output(ours)
        node, row, col, edge = ours.node, ours.row, ours.col, ours.edge
        if self.subgraph_type == SubgraphType.induced:
            row, col, edge = induced_edges(*self._induced_csr(), node)
        batch = ours.batch
        if self.output_device is not None and node.device != self.output_device:
            node, row, col, edge = (t.to(self.output_device) for t in (node, row, col, edge))
            batch = None if batch is None else batch.to(self.output_device)
        out = SamplerOutput(node=node, row=row, col=col, edge=edge, batch=batch)
        if self.subgraph_type == SubgraphType.directional:
            hops = self._hops if self._hops is not None else len(ours.num_sampled_edges)
            out.num_sampled_nodes = list(ours.num_sampled_nodes)[: hops + 1]
            out.num_sampled_edges = list(ours.num_sampled_edges)[:hops]
        elif self.subgraph_type == SubgraphType.bidirectional:
            out = out.to_bidirectional()
        return out

    def _typed_output(self, ours) -> HeteroSamplerOutput:
        """PyG's ``HeteroSamplerOutput`` of a typed sample, without the sampler-only edge type
        and hop. Cost: one copy per tensor when ``output_device`` differs; ``"induced"`` one
        pass per edge type (see :func:`induced_edges`)."""
        edge_types = self.edge_types
        node = dict(ours.node)
        row = {et: ours.row[et] for et in edge_types}
        col = {et: ours.col[et] for et in edge_types}
        edge = {et: ours.edge[et] for et in edge_types}
        if self.subgraph_type == SubgraphType.induced:
            for et in edge_types:
                row[et], col[et], edge[et] = induced_edges(*self._induced_csr()[et], node[et[2]],
                                                           source_node=node[et[0]])
        batch = None if ours.batch is None else dict(ours.batch)
        target = self.output_device
        if target is not None:
            node = {k: v.to(target) for k, v in node.items()}
            row, col, edge = ({k: v.to(target) for k, v in d.items()} for d in (row, col, edge))
            batch = None if batch is None else {k: v.to(target) for k, v in batch.items()}
        out = HeteroSamplerOutput(node=node, row=row, col=col, edge=edge, batch=batch)
        if self.subgraph_type == SubgraphType.directional:
            hops = self._hops if self._hops is not None else len(next(iter(ours.num_sampled_edges.values())))
            out.num_sampled_nodes = {k: list(v)[: hops + 1] for k, v in ours.num_sampled_nodes.items()}
            out.num_sampled_edges = {et: list(ours.num_sampled_edges[et])[:hops] for et in edge_types}
        elif self.subgraph_type == SubgraphType.bidirectional:
            out = out.to_bidirectional()
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, sampler={self.sampler!r}, "
            f"subgraph_type={self.subgraph_type.value!r})"
        )
