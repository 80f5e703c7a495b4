"""How long page-locking a feature table in place takes, by kind of memory and size (GPU machine).

``zerocopy.UnifiedTensor`` pins a table with ``cudaHostRegister`` instead of copying it. For
anonymous memory that measured 0.41 s per 10 GB on the H200 machine; a 28 GB memory-mapped
``.npy`` (the papers100M preset's features) did not finish in 5 minutes. This measures, each
in its own process with a time limit (a registration cannot be interrupted):

* ``anonymous``: a fresh ``torch.empty`` table, every page written first;
* ``file r``: ``np.load(mmap_mode="r")`` of a ``.npy`` just written (its pages in the page cache),
  registered read-only as ``UnifiedTensor`` does for a read-only map;
* ``file c``: the same with ``mmap_mode="c"`` (copy-on-write, what a cached dataset opens);
* ``... chunks``: the same range registered in ``--chunk-gb`` pieces, one call each;

and reports seconds and GB/s for each size in ``--sizes-gb``.

    PYTHONPATH=. python benchmarks/bench_pinning.py --sizes-gb 1,4,8 --timeout 60
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, write_result  # noqa: E402

KINDS = ["anonymous", "file r", "file c", "file r chunks", "file c chunks", "anonymous chunks"]
PORTABLE_MAPPED, READ_ONLY = 1 | 2, 8


def register_once(kind: str, gb: float, path: str, chunk_gb: float) -> dict:
    """In this process: make the table ``kind`` of ``gb`` GB, register it, unregister; the timings."""
    import numpy as np
    import torch

    cudart = torch.cuda.cudart()
    torch.cuda.init()
    if kind.startswith("anonymous"):
        table = torch.empty(int(gb * 2**30) // 2, dtype=torch.float16)
        table.fill_(1.0)
        flags = PORTABLE_MAPPED
    else:
        table = torch.from_numpy(np.load(path, mmap_mode=kind.split()[1]))
        flags = PORTABLE_MAPPED | READ_ONLY
    ptr, nbytes = table.data_ptr(), table.numel() * table.element_size()
    step = int(chunk_gb * 2**30) // 4096 * 4096 if kind.endswith("chunks") else nbytes
    pieces = [(p, min(step, ptr + nbytes - p)) for p in range(ptr, ptr + nbytes, step)]
    start = time.perf_counter()
    for p, n in pieces:
        err = cudart.cudaHostRegister(p, n, flags)
        if err != cudart.cudaError.success:
            return {"error": cudart.cudaGetErrorString(err)}
    seconds = time.perf_counter() - start
    for p, _ in pieces:
        cudart.cudaHostUnregister(p)
    return {"register_s": seconds, "GBps": nbytes / seconds / 1e9, "calls": len(pieces)}


def machine_memory() -> dict:
    """Kernel version, whether the host has a movable memory zone (long-term pins migrate pages out of
    it) and the transparent huge page setting: what decides how fast pages can be pinned."""
    info = {"kernel": platform.release()}
    try:
        zones = Path("/proc/zoneinfo").read_text()
        info["zones"] = sorted({line.split()[-1] for line in zones.splitlines() if line.startswith("Node")})
    except OSError:
        pass
    try:
        info["thp"] = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gb", default="1,4,8")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--chunk-gb", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per registration")
    parser.add_argument("--dir", default=None, help="folder for the .npy files (default: a temporary folder)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, gb, path = json.loads(args.child)
        print(json.dumps(register_once(kind, gb, path, args.chunk_gb)))
        return
    import numpy as np
    import torch

    if not torch.cuda.is_available():
        print("no GPU: nothing to register")
        return
    rows, failed = [], set()
    with tempfile.TemporaryDirectory(prefix="bench_pinning_", dir=args.dir) as tmp:
        for gb in (float(s) for s in args.sizes_gb.split(",")):
            path = os.path.join(tmp, f"table_{gb:g}.npy")
            t0 = time.perf_counter()
            out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(int(gb * 2**30) // 256, 128))
            out[:] = 1.0
            out.flush()
            del out
            write_s = time.perf_counter() - t0
            for kind in args.kinds.split(","):
                row = {"kind": kind, "GB": gb, "file_write_s": write_s}
                if kind in failed:  # it already failed on a smaller table
                    continue
                cmd = [sys.executable, __file__, "--chunk-gb", str(args.chunk_gb),
                       "--child", json.dumps([kind, gb, path])]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    stdout, stderr = proc.communicate(timeout=args.timeout)
                    lines = stdout.strip().splitlines()
                    row.update(json.loads(lines[-1]) if lines else {"error": stderr.strip()[-300:]})
                except subprocess.TimeoutExpired:
                    # A process inside the driver may not die at once: kill it and go on without waiting.
                    proc.kill()
                    row["error"] = f"not done after {args.timeout:g} s"
                if "error" in row:
                    failed.add(kind)
                rows.append(row)
                print(json.dumps(row), flush=True)
            os.remove(path)
    print(format_table(rows, ["kind", "GB", "register_s", "GBps", "calls", "error"]))
    write_result("pinning", machine_memory(), rows)


if __name__ == "__main__":
    main()
