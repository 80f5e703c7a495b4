"""PyG integration without pyg-lib or torch-sparse: a sampler, a feature store, a graph store, loaders.

* :class:`GraphsysSampler`: a ``torch_geometric.sampler.BaseSampler`` for PyG's own loaders,
  over ``Data`` and ``HeteroData`` (one CSR per edge type, sampled by the same sampler).
* :class:`UnifiedFeatureStore` / :class:`CSRGraphStore`: ``NeighborLoader((feature_store, graph_store), ...)``
  with features in :class:`zerocopy.UnifiedTensor` s and the CSRs where they were placed,
  homogeneous or keyed by node and edge type.
* :class:`NeighborLoader` / :class:`LinkNeighborLoader`: PyG's loaders, one import line away,
  yielding ``Data`` or ``HeteroData`` batches as PyG does.
* :class:`Node2Vec`: PyG's model, its walks drawn by :func:`sampling.random_walk`.

This is the PyG edge of graphsys: the engines (``zerocopy``, ``sampling``) never import PyG.
"""
from graphsys.pyg.feature_store import UnifiedFeatureStore
from graphsys.pyg.graph_store import CSRGraphStore
from graphsys.pyg.loaders import LinkNeighborLoader, NeighborLoader
from graphsys.pyg.node2vec import Node2Vec
from graphsys.pyg.sampler import GraphsysSampler

__all__ = [
    "CSRGraphStore",
    "GraphsysSampler",
    "LinkNeighborLoader",
    "NeighborLoader",
    "Node2Vec",
    "UnifiedFeatureStore",
]
