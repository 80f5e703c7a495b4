"""Placement: where a tensor lives, named by one word everywhere in graphsys.

``"cpu"`` is pageable host memory, ``"pinned"`` is page-locked host memory that every
GPU can address directly (zero-copy / UVA), ``"cuda"`` or ``"cuda:k"`` is GPU memory.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


@dataclass(frozen=True)
class Placement:
    """A parsed placement word: ``kind`` is "cpu", "pinned" or "cuda"; ``index`` the GPU for "cuda"."""

    kind: str
    index: int | None = None

    @classmethod
    def parse(cls, placement: str | torch.device | Placement) -> Placement:
        """Parse ``"cpu"``, ``"pinned"``, ``"cuda"``, ``"cuda:k"`` or a ``torch.device``.

        Raises:
            ValueError: for any other word, naming the allowed ones.
        """
        if isinstance(placement, Placement):
            return placement
        if isinstance(placement, torch.device):
            placement = str(placement)
        if not isinstance(placement, str):
            raise TypeError(f"placement must be a str or torch.device, got {type(placement).__name__}")
        word = placement.strip().lower()
        if word in ("cpu", "pinned"):
            return cls(word)
        if word == "gpu":
            word = "cuda"
        match = _CUDA_RE.match(word)
        if match:
            return cls("cuda", int(match.group(1)) if match.group(1) is not None else None)
        raise ValueError(
            f"placement {placement!r} is not one of 'cpu', 'pinned', 'cuda', 'cuda:k'"
        )

    @property
    def device(self) -> torch.device:
        """The torch device a tensor of this placement reports (pinned memory is on "cpu")."""
        if self.kind == "cuda":
            return torch.device("cuda", self.index if self.index is not None else torch.cuda.current_device())
        return torch.device("cpu")

    def __str__(self) -> str:
        if self.kind == "cuda" and self.index is not None:
            return f"cuda:{self.index}"
        return self.kind


def placement_of(tensor: torch.Tensor) -> Placement:
    """The placement a tensor is in now. Cost: no copy, no sync."""
    if tensor.is_cuda:
        return Placement("cuda", tensor.device.index)
    if torch.cuda.is_available() and tensor.is_pinned():
        return Placement("pinned")
    return Placement("cpu")


def place(tensor: torch.Tensor, placement: str | torch.device | Placement) -> torch.Tensor:
    """Return ``tensor`` in ``placement``, the same object when it is already there.

    Cost: one copy when the placement changes ("pinned" allocates page-locked memory and
    copies; use ``zerocopy.UnifiedTensor`` to pin a large table in place without a copy).

    Raises:
        RuntimeError: for "pinned" or "cuda" on a machine without CUDA.
    """
    target = Placement.parse(placement)
    if target.kind != "cpu" and not torch.cuda.is_available():
        raise RuntimeError(
            f"placement {str(target)!r} needs a CUDA device and torch.cuda.is_available() is False; "
            "use placement 'cpu'"
        )
    current = placement_of(tensor)
    if target.kind == "cuda":
        return tensor.to(target.device, non_blocking=current.kind == "pinned")
    if target.kind == "pinned":
        if current.kind == "pinned":
            return tensor
        return tensor.cpu().pin_memory()
    if current.kind == "cuda":
        return tensor.cpu()
    if current.kind == "pinned":  # "cpu" means pageable: a pinned tensor would stay GPU-addressable
        return tensor.clone()
    return tensor
