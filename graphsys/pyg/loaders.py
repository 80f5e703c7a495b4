"""Drop-in ``NeighborLoader`` and ``LinkNeighborLoader``: PyG's loaders, sampled by graphsys.

They take exactly PyG's arguments, so moving a PyG script onto graphsys is one import line::

    # from torch_geometric.loader import NeighborLoader
    from graphsys.pyg import NeighborLoader

Both are subclasses of PyG's classes (``isinstance`` checks keep working); the only change is
the sampler they build when ``neighbor_sampler`` is not given: a :class:`GraphsysSampler`
instead of PyG's, which needs pyg-lib or torch-sparse. ``Data`` and ``HeteroData`` (and
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

from typing import Callable

import torch
import torch_geometric.loader as pyg_loader
from torch_geometric.data import Data, HeteroData
from torch_geometric.sampler import BaseSampler
from torch_geometric.sampler.base import SubgraphType

from graphsys.pyg.sampler import GraphsysSampler
from zerocopy import UnifiedTensor


def _our_sampler(data, num_neighbors, replace: bool, subgraph_type, directed: bool, is_sorted: bool,
                 weight_attr: str | None = None, disjoint: bool = False, time_attr: str | None = None,
                 temporal_strategy: str = "uniform") -> GraphsysSampler:
    """The graphsys sampler a loader builds when it is given none (PyG's ``directed=False`` is induced)."""
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
    )


def _seed_from_torch() -> int:
    """A 63-bit seed drawn from torch's global generator (one draw, on the CPU)."""
    return int(torch.randint(0, 2**62, (1,)).item())


def _check_temporal(temporal_strategy: str, time_attr: str | None) -> None:
    """Raise ``ValueError`` for a ``temporal_strategy`` PyG does not know, naming the allowed ones."""
    if temporal_strategy not in ("uniform", "last"):
        raise ValueError(f"temporal_strategy={temporal_strategy!r}; expected 'uniform' or 'last'")


class NeighborLoader(pyg_loader.NeighborLoader):
    """PyG's ``NeighborLoader`` with a graphsys sampler; same arguments, same batches.

    Each batch is a ``Data`` with ``x`` / ``y`` (and any other node attribute) of the sampled
    nodes, ``edge_index`` in local ids, ``n_id``, ``e_id``, ``input_id``, ``batch_size`` and the
    per-hop ``num_sampled_nodes`` / ``num_sampled_edges``. For a ``HeteroData`` it is a
    ``HeteroData`` with the same per node type (``batch["paper"].n_id``, ``x``, ...) and per
    edge type (``edge_index``, ``e_id``, edge attributes, ``num_sampled_edges``), and
    ``input_id`` / ``batch_size`` on the seeds' node type, ready for ``to_hetero`` models. See
    PyG's ``NeighborLoader`` for the arguments; ``neighbor_sampler`` may be any PyG
    ``BaseSampler`` and is used as given.

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
        subgraph_type: "SubgraphType | str" = "directional",
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
        **kwargs,
    ) -> None:
        if neighbor_sampler is None:
            _check_temporal(temporal_strategy, time_attr)
            neighbor_sampler = _our_sampler(data, num_neighbors, replace, subgraph_type, directed, is_sorted,
                                            weight_attr, disjoint, time_attr, temporal_strategy)
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

    def filter_fn(self, out):
        """PyG's filter, then the sampled rows of every ``zerocopy.UnifiedTensor`` node attribute.

        PyG copies attributes that are not tensors whole; a wrapped feature table
        (``data.x = UnifiedTensor(data.x)``, or ``data["paper"].x = UnifiedTensor(...)``) is
        gathered here instead, onto the device of the sampled ids of its node type. Cost: one
        gather per wrapped attribute.
        """
        data = super().filter_fn(out)
        if isinstance(self.data, Data):
            for key, value in self.data.items():
                if isinstance(value, UnifiedTensor):
                    data[key] = value[out.node]
        elif isinstance(self.data, HeteroData):
            for node_type, store in self.data.node_items():
                for key, value in store.items():
                    if isinstance(value, UnifiedTensor):
                        data[node_type][key] = value[out.node[node_type]]
        return data


class LinkNeighborLoader(pyg_loader.LinkNeighborLoader):
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
        subgraph_type: "SubgraphType | str" = "directional",
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
        **kwargs,
    ) -> None:
        if neighbor_sampler is None:
            _check_temporal(temporal_strategy, time_attr)
            neighbor_sampler = _our_sampler(data, num_neighbors, replace, subgraph_type, directed, is_sorted,
                                            weight_attr, disjoint, time_attr, temporal_strategy)
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
