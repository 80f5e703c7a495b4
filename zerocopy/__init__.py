"""zerocopy: GPU-centric data access. Rows of tables in pinned host memory gathered by GPU threads.

The bottom layer: imports only torch (and Triton where CUDA is present).
"""
from zerocopy.placement import Placement, place, placement_of

__all__ = ["Placement", "place", "placement_of"]
