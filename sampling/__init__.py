"""sampling: neighbor sampling on GPU (device or pinned CSR) and CPU, random walks, negative sampling.

Takes plain CSR tensors (``indptr``, ``indices``); may import ``zerocopy``, never ``graphsys``.

Public API:
    NeighborSampler(indptr, indices, fanouts, *, replace=False, seed=0) -> .sample(seeds) -> SamplerOutput
    NeighborSampler({etype: indptr}, {etype: indices}, fanouts, num_nodes={ntype: n}, ...)
        -> .sample({ntype: seeds}) -> HeteroSamplerOutput
    random_walk(indptr, indices, starts, walk_length, *, p=1.0, q=1.0, seed=0) -> int64 [n, L + 1]
    AliasTable(weights, device="cpu", *, seed=0) -> .sample(n, generator=None)
    degree_alias_table(indptr, *, power=0.75, device="cpu", seed=0) -> AliasTable
    degree_negatives(indptr, num, *, power=0.75, seed=0, device="cpu") -> int64 [num]
"""
from sampling.alias import AliasTable
from sampling.csr import check_csr, index_dtype_for
from sampling.negative import degree_alias_table, degree_negatives
from sampling.neighbor import NeighborSampler
from sampling.output import HeteroSamplerOutput, SamplerOutput
from sampling.walks import random_walk

__all__ = [
    "AliasTable",
    "HeteroSamplerOutput",
    "NeighborSampler",
    "SamplerOutput",
    "check_csr",
    "degree_alias_table",
    "degree_negatives",
    "index_dtype_for",
    "random_walk",
]
