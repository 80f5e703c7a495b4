"""graphsys: graph learning with GPU-centric data access.

The system layer: the graph container, datasets, PyG adapters, training and the
``graphsys`` command line, composed from the engines ``zerocopy``, ``sampling`` and
``embedding`` (which never import this package).
"""
from graphsys.graph import Graph
from graphsys.hetero_graph import HeteroGraph

__all__ = ["Graph", "HeteroGraph"]
__version__ = "0.1.0"
