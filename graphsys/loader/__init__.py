"""graphsys's own minibatch loader: sampling and zero-copy gathers kept on the GPU, pipelined.

* :class:`NodeLoader`: seeds -> neighbour sampling -> feature / label gather -> PyG ``Data``.
* :class:`LoaderTimings`: seconds per stage, for metrics.
* :func:`gather_rows`: the row gather behind it, for tensors and ``zerocopy.UnifiedTensor`` s.
"""
from graphsys.loader.gather import gather_rows
from graphsys.loader.node_loader import NodeLoader
from graphsys.loader.timings import LoaderTimings

__all__ = ["LoaderTimings", "NodeLoader", "gather_rows"]
