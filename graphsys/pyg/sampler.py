"""A PyG ``BaseSampler`` backed by graphsys's neighbour sampler: PyG's loaders without pyg-lib.

Pass it as ``neighbor_sampler=`` to PyG's ``NeighborLoader`` / ``LinkNeighborLoader`` or as the
sampler of ``NodeLoader`` / ``LinkLoader``; or use :class:`graphsys.pyg.NeighborLoader`, which
builds one for you.

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

from typing import Sequence

import torch
from torch_geometric.data import Data, FeatureStore, GraphStore, HeteroData
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    NegativeSampling,
    NodeSamplerInput,
    NumNeighbors,
    SamplerOutput,
)
from torch_geometric.sampler.base import SubgraphType

from graphsys.pyg.csc import InEdgeCSR, csc_from_data, csc_from_graph_store
from graphsys.pyg.edges import link_seeds
from graphsys.pyg.induced import induced_edges
from sampling import NeighborSampler
from zerocopy.placement import place, placement_of



def fanouts_of(num_neighbors: "NumNeighbors | Sequence[int]") -> list[int]:
    """PyG's ``num_neighbors`` as a list of per-hop fanouts (``-1`` = all neighbours).

    Raises:
        ValueError: a per-edge-type dict (heterogeneous graphs are not supported) or an empty list.
        TypeError: a fanout that is not an int.
    """
    values = num_neighbors.values if isinstance(num_neighbors, NumNeighbors) else num_neighbors
    if isinstance(values, dict):
        raise ValueError("graphsys samplers take homogeneous graphs: num_neighbors must be a list, got a dict")
    fanouts = list(values)
    if not fanouts:
        raise ValueError("num_neighbors must name at least one hop, got []")
    for hop, fanout in enumerate(fanouts):
        if isinstance(fanout, bool) or not isinstance(fanout, int):
            raise TypeError(f"num_neighbors[{hop}] must be an int, got {fanout!r}")
    return fanouts


def subgraph_type_of(subgraph_type: "SubgraphType | str") -> SubgraphType:
    """Parse ``subgraph_type``: "directional", "bidirectional" or "induced".

    Raises:
        ValueError: an unknown word, naming the allowed ones.
    """
    try:
        return SubgraphType(subgraph_type)
    except ValueError:
        allowed = ", ".join(repr(kind.value) for kind in SubgraphType)
        raise ValueError(f"subgraph_type={subgraph_type!r} is not one of {allowed}") from None


class GraphsysSampler(BaseSampler):
    """PyG's sampler interface over a :class:`sampling.NeighborSampler`.

    ``sample_from_nodes`` and ``sample_from_edges`` return PyG ``SamplerOutput`` objects whose
    ``node`` / ``row`` / ``col`` / ``edge`` / ``num_sampled_nodes`` / ``num_sampled_edges``
    follow PyG's layout (so ``trim_to_layer`` works) and whose ``metadata`` is what PyG's
    loaders read. Seeds arrive on the CPU (PyG's loaders put them there) and are moved to the
    sampler's device; outputs land on ``output_device`` (the sampler's device when ``None``).

    Args:
        sampler: the graphsys neighbour sampler (its CSR placement decides where sampling runs;
            negatives are drawn below its ``num_nodes``).
        edge_permutation: ``perm[k]`` = position in the user's ``edge_index`` of CSR edge ``k``,
            so PyG maps sampled edge ids back to its edge attributes; ``None`` if orders agree.
        subgraph_type: ``"directional"`` (the sampled edges), ``"bidirectional"`` (each sampled
            edge in both directions) or ``"induced"`` (every edge between the sampled nodes; needs
            ``csr``); the last two drop the per-hop counts, as PyG does.
        csr: the sampled graph's ``(indptr, indices)`` on the sampler's device, for ``"induced"``.
        output_device: where outputs go; set it to the device of a ``Data`` the loader filters.
        seed: seed of the negative-sampling stream (the neighbour draws use the sampler's own).
    """

    def __init__(
        self,
        sampler: NeighborSampler,
        *,
        edge_permutation: torch.Tensor | None = None,
        subgraph_type: "SubgraphType | str" = "directional",
        csr: tuple[torch.Tensor, torch.Tensor] | None = None,
        output_device: torch.device | str | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(sampler, NeighborSampler):
            raise TypeError(f"sampler must be a sampling.NeighborSampler, got {type(sampler).__name__}")
        self.sampler = sampler
        self.num_nodes = sampler.num_nodes
        self.subgraph_type = subgraph_type_of(subgraph_type)
        if self.subgraph_type == SubgraphType.induced and csr is None:
            raise ValueError(
                "subgraph_type='induced' needs csr=(indptr, indices); GraphsysSampler.from_data passes it"
            )
        self._csr = csr
        self.device = sampler.device
        self.output_device = torch.device(output_device) if output_device is not None else None
        if edge_permutation is not None:
            edge_permutation = edge_permutation.to(self.output_device or self.device)
        self._perm = edge_permutation
        self._generator = torch.Generator().manual_seed(seed)
        self._worker_seed: int | None = None

    @classmethod
    def from_data(
        cls,
        data: "Data | tuple[FeatureStore, GraphStore]",
        num_neighbors: "NumNeighbors | Sequence[int]",
        *,
        replace: bool = False,
        subgraph_type: "SubgraphType | str" = "directional",
        is_sorted: bool = False,
        placement: str | None = None,
        seed: int = 0,
    ) -> "GraphsysSampler":
        """A sampler over what a PyG loader is given: a ``Data`` or ``(FeatureStore, GraphStore)``.

        Args:
            data: homogeneous ``Data`` (its ``edge_index``), or a feature and graph store pair
                (a :class:`~graphsys.pyg.CSRGraphStore` is sampled in place, without a copy).
            num_neighbors: fanout per hop, ``-1`` for all neighbours.
            replace: sample with replacement.
            subgraph_type: ``"directional"``, ``"bidirectional"`` or ``"induced"``.
            is_sorted: ``data.edge_index`` is sorted by target already (skips one sort).
            placement: where the CSR lives and sampling runs ("cpu", "pinned", "cuda"); by
                default where the graph already is (a ``Data``'s device, the store's placement).
            seed: seed of the neighbour draws and of the negative draws.

        Cost: one CSR build from ``edge_index`` (a sort of E keys) for a ``Data``.

        Raises:
            TypeError: ``data`` of another kind. ValueError: heterogeneous data, unsupported options.
        """
        fanouts = fanouts_of(num_neighbors)
        output_device = None
        if isinstance(data, HeteroData):
            raise ValueError("graphsys samplers take homogeneous graphs; got a HeteroData")
        if isinstance(data, Data):
            csr: InEdgeCSR = csc_from_data(data, is_sorted=is_sorted)
            output_device = data.edge_index.device
            default = "cuda" if data.edge_index.is_cuda else "cpu"
        elif (
            isinstance(data, (tuple, list))
            and len(data) == 2
            and isinstance(data[0], FeatureStore)
            and isinstance(data[1], GraphStore)
        ):
            csr = csc_from_graph_store(data[1])
            default = str(placement_of(csr.indices))
        else:
            raise TypeError(
                "data must be a torch_geometric Data or a (FeatureStore, GraphStore) pair, "
                f"got {type(data).__name__}"
            )
        where = placement or default
        indptr, indices = place(csr.indptr, where), place(csr.indices, where)
        sampler = NeighborSampler(indptr, indices, fanouts, replace=replace, seed=seed)
        return cls(
            sampler,
            csr=(indptr, indices),
            edge_permutation=csr.perm,
            subgraph_type=subgraph_type,
            output_device=output_device,
            seed=seed,
        )

    @property
    def edge_permutation(self) -> torch.Tensor | None:
        """Map from sampled edge ids (CSR positions) to the user's edge order, or ``None``."""
        return self._perm

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        """Sample around the seed nodes of ``index``.

        Cost: one seed copy to the sampler's device, the sampler's own (on a GPU one host sync per
        batch for the counts), one copy of the outputs when ``output_device`` differs; ``"induced"``
        adds a pass over the sampled nodes' in-edges.

        Raises:
            ValueError: temporal (``time``) or heterogeneous (``input_type``) input.
        """
        if index.time is not None:
            raise ValueError("graphsys samplers do not sample temporally: input_time must be None")
        if index.input_type is not None:
            raise ValueError(f"graphsys samplers take homogeneous graphs, got input_type={index.input_type!r}")
        out = self._sample(index.node)
        out.metadata = (index.input_id, index.time)
        return out

    def sample_from_edges(self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None) -> SamplerOutput:
        """Sample around the endpoints of the links of ``index`` (and of sampled negatives).

        ``metadata`` holds the links in local ids as PyG's ``LinkLoader`` reads them (see
        :mod:`graphsys.pyg.edges`). Cost: the negative draws and one ``unique`` on the CPU, then
        as :meth:`sample_from_nodes`.
        """
        seeds = link_seeds(index, NegativeSampling.cast(neg_sampling), self.num_nodes, self._generator)
        out = self._sample(seeds.node)
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

    def _sample(self, seeds: torch.Tensor) -> SamplerOutput:
        self._reseed_in_worker()
        ours = self.sampler.sample(seeds)
        node, row, col, edge = ours.node, ours.row, ours.col, ours.edge
        if self.subgraph_type == SubgraphType.induced:
            row, col, edge = induced_edges(*self._csr, node)
        if self.output_device is not None and node.device != self.output_device:
            node, row, col, edge = (t.to(self.output_device) for t in (node, row, col, edge))
        out = SamplerOutput(node=node, row=row, col=col, edge=edge)
        if self.subgraph_type == SubgraphType.directional:
            out.num_sampled_nodes = list(ours.num_sampled_nodes)
            out.num_sampled_edges = list(ours.num_sampled_edges)
        elif self.subgraph_type == SubgraphType.bidirectional:
            out = out.to_bidirectional()
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, sampler={self.sampler!r}, "
            f"subgraph_type={self.subgraph_type.value!r})"
        )
