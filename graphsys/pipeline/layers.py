"""The deep residual GNN of pipelined training: an encoder, L message-passing layers, a decoder.

Every layer is computed on a chunk of target rows over a concatenated input (the chunk's own
rows, then the other rows its edges read), so the same module serves the full graph (one
chunk holding every node) and any pipeline or partition split. Dropout masks are a hash of
(seed, epoch, layer, original node id, column), so they do not depend on the split either:
a pipelined run without staleness computes exactly what a single process computes.
"""
from __future__ import annotations

import torch
from torch import nn

from graphsys.pipeline.adjacency import Adjacency, spmm
from graphsys.pipeline.config import ModelKind

_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9 as a signed int64
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB as a signed int64
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_SIGN = -(1 << 63)  # flips the sign bit: signed order of x ^ _SIGN = unsigned order of x


def _splitmix(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser on int64 (wrapping arithmetic; logical shifts emulated with masks)."""
    x = x ^ ((x >> 30) & ((1 << 34) - 1))
    x = x * _MIX1
    x = x ^ ((x >> 27) & ((1 << 37) - 1))
    x = x * _MIX2
    return x ^ ((x >> 31) & ((1 << 33) - 1))


#: Mask entries hashed per block on the CPU: 2**17 (a 1 MiB int64 buffer that stays in cache).
#: Measured on one core for 150 K x 128 entries: 41 ms in blocks of 1,024 rows, 49 ms of 4,096,
#: 53 ms of 16,384 and 156 ms in one piece (there every pass streams 154 MB through memory and
#: page-faults a fresh buffer). A GPU hashes the whole mask in one piece (one launch per pass).
CPU_MASK_BLOCK = 1 << 17


def dropout_keep(node_ids: torch.Tensor, width: int, p: float, key: int) -> torch.Tensor:
    """Keep-mask (bool, ``len(node_ids) x width``) of dropout rate ``p``, a pure function of its inputs.

    Rows and columns are hashed separately (SplitMix64); entry ``(i, j)`` is kept when the top 24
    bits of ``(row_i ^ col_j) * MIX1`` (as an unsigned number) reach ``p * 2**24``. The test runs
    on the signed product with its sign bit flipped, which orders like the unsigned one: per
    block of rows, one int64 buffer changed in place, then one compare into the output.
    Cost: four elementwise passes per block (:data:`CPU_MASK_BLOCK` entries on the CPU, the
    whole mask on a GPU) and the bool output; no host sync.
    """
    device = node_ids.device
    salt = _splitmix(torch.tensor(key, dtype=torch.int64, device=device) * _GOLDEN)
    rows = _splitmix(node_ids.to(torch.int64) * _GOLDEN + salt)
    cols = _splitmix(torch.arange(width, device=device, dtype=torch.int64) * _MIX2 - salt)
    threshold = (int(p * (1 << 24)) << 40) + _SIGN
    n = rows.numel()
    step = max(n, 1) if device.type != "cpu" else max(1, CPU_MASK_BLOCK // max(width, 1))
    keep = torch.empty(n, width, dtype=torch.bool, device=device)
    mixed = torch.empty(min(step, n), width, dtype=torch.int64, device=device)
    for start in range(0, n, step):
        block = rows[start : start + step]
        buffer = mixed[: block.numel()]
        torch.bitwise_xor(block[:, None], cols[None, :], out=buffer)
        buffer.mul_(_MIX1).bitwise_xor_(_SIGN)
        torch.ge(buffer, threshold, out=keep[start : start + block.numel()])
    return keep


def dropout_key(seed: int, epoch: int, layer: int) -> int:
    """The hash key of one layer's dropout in one epoch."""
    return (seed * 1_000_003 + epoch) * 1_009 + layer


def apply_dropout(h: torch.Tensor, node_ids: torch.Tensor, p: float, key: int) -> torch.Tensor:
    """Inverted dropout with a deterministic mask; identity when ``p == 0``.

    Cost: :func:`dropout_keep`, one multiply by the bool mask (which autograd keeps, one byte
    per entry) and one in-place scaling; no host sync.
    """
    if p == 0.0:
        return h
    return (h * dropout_keep(node_ids, h.shape[1], p, key)).mul_(1.0 / (1.0 - p))


class ResidualLayer(nn.Module):
    """One layer ``h' = h + dropout(relu(LayerNorm(conv(h))))`` with conv = GCN or SAGE-mean.

    Args:
        kind: "gcn" (``sum_u w_uv h_u W``, symmetric normalisation, self loop) or "sage"
            (``h_v W_self + mean_u h_u W_nbr``).
        width: input and output width.
    """

    def __init__(self, kind: ModelKind, width: int) -> None:
        super().__init__()
        self.kind = ModelKind(kind)
        self.lin = nn.Linear(width, width)
        self.lin_self = nn.Linear(width, width, bias=False) if self.kind is ModelKind.SAGE else None
        self.norm = nn.LayerNorm(width)

    def forward(
        self,
        inputs: torch.Tensor,
        adjacency: Adjacency,
        self_weight: torch.Tensor,
        node_ids: torch.Tensor,
        dropout: float,
        key: int,
    ) -> torch.Tensor:
        """The layer on ``adjacency.shape[0]`` target rows, whose own rows open ``inputs``.

        ``adjacency`` is the ``targets x inputs`` matrix of normalised edge weights
        (:class:`~graphsys.pipeline.adjacency.Adjacency`); ``node_ids`` (original ids of the
        targets) and ``key`` select the dropout mask. Autograd keeps only a reference to the
        sparse transpose for backward, no per-edge rows.
        Cost: one CSR SpMM over the edges, one or two GEMMs; no host sync.
        """
        own = inputs[: adjacency.shape[0]]
        agg = spmm(adjacency, inputs)
        if self.kind is ModelKind.GCN:
            z = self.lin(agg + own * self_weight[:, None])
        else:
            z = self.lin(agg) + self.lin_self(own)
        return own + apply_dropout(torch.relu(self.norm(z)), node_ids, dropout, key)


def build_layer(kind: ModelKind, width: int, seed: int, layer: int) -> ResidualLayer:
    """Layer ``layer`` with weights drawn from ``seed`` alone, so every split starts identical."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 7919 + layer)
        return ResidualLayer(kind, width)


def build_linear(in_dim: int, out_dim: int, seed: int, salt: int) -> nn.Linear:
    """An encoder/decoder ``nn.Linear`` with weights drawn from ``seed`` and ``salt``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 7919 + salt)
        return nn.Linear(in_dim, out_dim)


ENCODER_SALT = 1_000_000
DECODER_SALT = 2_000_000
