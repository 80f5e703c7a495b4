"""zerocopy: GPU-centric data access. Rows of tables in pinned host memory gathered by GPU threads.

The bottom layer: imports only torch and numpy (and Triton where a GPU gather or scatter runs).

Example:
    >>> from zerocopy import UnifiedTensor
    >>> x = UnifiedTensor(features)                  # page-locked in place, no copy
    >>> x.enable_cache(2 << 30, ranking=degree)      # hottest rows held on the GPU
    >>> rows = x[ids.cuda()]                         # GPU threads read host memory
    >>> authors = HostEmbedding(122_383_112, 64)     # learnable, pinned: updated in place
    >>> optimizer = SparseRowAdagrad([authors], lr=0.01)
"""
from zerocopy.cache import CacheShare, CacheStats, degree_ranking, share_cache, split_cache_budget, visit_ranking
from zerocopy.learnable import HostEmbedding
from zerocopy.pending import PendingGather
from zerocopy.placement import Placement, place, placement_of
from zerocopy.sparse_optim import SparseAdam, SparseRowAdagrad
from zerocopy.unified import UnifiedTensor

__all__ = [
    "CacheShare",
    "CacheStats",
    "HostEmbedding",
    "PendingGather",
    "Placement",
    "SparseAdam",
    "SparseRowAdagrad",
    "UnifiedTensor",
    "degree_ranking",
    "place",
    "placement_of",
    "share_cache",
    "split_cache_budget",
    "visit_ranking",
]
