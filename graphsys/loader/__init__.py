"""graphsys's own minibatch loaders: sampling and zero-copy gathers kept on the GPU, pipelined.

* :class:`NodeLoader`: seed nodes -> neighbour sampling -> feature / label gather -> PyG ``Data``
  (``HeteroData`` for a heterogeneous graph).
* :class:`LinkLoader`: seed edges (of one edge type) -> negatives (:class:`NegativeSampling`) -> one
  sampling call over every endpoint -> seed edges out of message passing -> gathers -> PyG ``Data``
  (``HeteroData``).
* :class:`LoaderTimings`: seconds per stage, for metrics.
* :func:`gather_rows`: the row gather behind them, for tensors and ``zerocopy.UnifiedTensor`` s.

Both loaders run on one pipeline (:class:`~graphsys.loader.subgraph_loader.SubgraphLoader`):
side streams, a producer thread, gather groups and stage timings.
"""
from graphsys.loader.gather import gather_rows
from graphsys.loader.link_loader import LinkLoader
from graphsys.loader.negatives import NegativeDrawer, NegativeMode, NegativeSampling, NegativeWeight
from graphsys.loader.node_loader import NodeLoader
from graphsys.loader.timings import LoaderTimings

__all__ = ["LinkLoader", "LoaderTimings", "NegativeDrawer", "NegativeMode", "NegativeSampling", "NegativeWeight",
           "NodeLoader", "gather_rows"]
