"""zerocopy: GPU-centric data access. Rows of tables in pinned host memory gathered by GPU threads.

The bottom layer: imports only torch and numpy (and Triton where a GPU gather runs).

Example:
    >>> from zerocopy import UnifiedTensor
    >>> x = UnifiedTensor(features)                  # page-locked in place, no copy
    >>> x.enable_cache(2 << 30, ranking=degree)      # hottest rows held on the GPU
    >>> rows = x[ids.cuda()]                         # GPU threads read host memory
"""
from zerocopy.cache import CacheStats, degree_ranking, visit_ranking
from zerocopy.pending import PendingGather
from zerocopy.placement import Placement, place, placement_of
from zerocopy.unified import UnifiedTensor

__all__ = [
    "CacheStats",
    "PendingGather",
    "Placement",
    "UnifiedTensor",
    "degree_ranking",
    "place",
    "placement_of",
    "visit_ranking",
]
