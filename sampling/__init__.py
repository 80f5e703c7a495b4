"""sampling: neighbor sampling on GPU (device or pinned CSR) and CPU, random walks, negative sampling.

Takes plain CSR tensors (``indptr``, ``indices``); may import ``zerocopy``, never ``graphsys``.
"""
from sampling.csr import check_csr, index_dtype_for

__all__ = ["check_csr", "index_dtype_for"]
