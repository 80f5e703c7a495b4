"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint holds the model and optimizer state after a finished epoch, the epoch count,
the config fingerprint (a resume under different hyperparameters is refused) and the
metrics history. It is written to a temporary file and renamed over the previous one,
so an interrupted write leaves the last good checkpoint in place; its sidecar manifest
(``.<name>.graphsys.json``) holds its checksum, and a checkpoint that does not match it is
refused on resume. It is read with ``weights_only=True``: a crafted file cannot run code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from graphsys.io import atomic_file, verify_file

#: The kind of file a checkpoint is (in its sidecar manifest and its payload).
CHECKPOINT_KIND = "graphsys.train.checkpoint"
_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        epoch: epochs completed (training continues with epoch ``epoch + 1``).
        model: the model's ``state_dict`` (plain, without a DDP ``module.`` prefix).
        optimizer: the optimizer's ``state_dict``.
        fingerprint: ``TrainConfig.fingerprint()`` of the run that wrote it.
        history: one metrics dict per finished epoch.
        embeddings: learned inputs of featureless node types: ``{"tables": {node_type: state_dict},
            "optimizer": state_dict}`` of their ``zerocopy.HostEmbedding`` s and sparse optimizer
            (None without them).
    """

    epoch: int
    model: dict
    optimizer: dict
    fingerprint: dict
    history: list
    embeddings: dict | None = None


def save_checkpoint(path: str | os.PathLike, *, epoch: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, fingerprint: dict, history: list,
                    embeddings: dict | None = None) -> None:
    """Write a checkpoint atomically (``embeddings``: see :class:`Checkpoint`).

    ``path`` must be new or a checkpoint graphsys wrote (else :class:`~graphsys.io.OutputError`).
    Cost: one device-to-host copy of the parameters and optimizer state, one read of the file
    (its checksum).
    """
    payload = {
        "format": CHECKPOINT_KIND,
        "version": _VERSION,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "fingerprint": fingerprint,
        "history": history,
        "embeddings": embeddings,
    }
    with atomic_file(path, CHECKPOINT_KIND) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, *, fingerprint: dict | None = None) -> Checkpoint:
    """Read a checkpoint onto the CPU, checking that it was written for the same run.

    Raises:
        FileNotFoundError: no file at ``path``.
        IsADirectoryError: ``path`` is a folder.
        CorruptFileError: the file does not match its sidecar manifest (truncated, corrupted,
            altered) or has none.
        ValueError: not a graphsys checkpoint, or written under a different config (the
            differing fields are named).
    """
    file = Path(path)
    if file.is_dir():
        raise IsADirectoryError(f"checkpoint {file} is a directory, expected a checkpoint file")
    if not file.exists():
        raise FileNotFoundError(f"checkpoint {file} does not exist; train once without resume to create it")
    verify_file(file, CHECKPOINT_KIND)
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"checkpoint {file} cannot be read ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_KIND:
        raise ValueError(f"{file} is not a graphsys training checkpoint")
    if fingerprint is not None:
        theirs = payload["fingerprint"]
        differ = sorted(k for k in set(fingerprint) | set(theirs) if fingerprint.get(k) != theirs.get(k))
        if differ:
            detail = ", ".join(f"{k}: checkpoint {theirs.get(k)!r}, now {fingerprint.get(k)!r}" for k in differ)
            raise ValueError(f"checkpoint {file} was written by a run with other settings ({detail})")
    return Checkpoint(payload["epoch"], payload["model"], payload["optimizer"], payload["fingerprint"],
                      payload["history"], payload.get("embeddings"))
