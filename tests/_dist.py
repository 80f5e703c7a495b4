"""Gloo ranks for the training tests: :func:`spawn_ranks` runs a worker on spawned processes, which
:func:`as_rank` sets up as torchrun would; each rank writes a JSON record that the test reads back."""
import json
import os
import socket
from pathlib import Path

import numba
import torch
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the ranks' rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_rank(rank: int, world: int, port: int) -> None:
    """Make this process rank ``rank`` of ``world``: the environment variables torchrun sets, and one
    torch and one numba thread (two ranks share the machine's cores)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    numba.set_num_threads(1)


def spawn_ranks(worker, world: int, *args) -> int:
    """Run ``worker(rank, world, port, *args)`` on ``world`` spawned processes and wait for them;
    returns the rendezvous port."""
    port = free_port()
    mp.spawn(worker, args=(world, port, *args), nprocs=world, join=True)
    return port


def write_rank(out_dir, rank: int, record) -> None:
    """Rank ``rank``'s record, as JSON in ``out_dir``."""
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(record))


def read_ranks(out_dir, world: int) -> list:
    """Every rank's record, in rank order."""
    return [json.loads(Path(out_dir, f"rank{r}.json").read_text()) for r in range(world)]
