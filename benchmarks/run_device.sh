#!/usr/bin/env bash
# The whole GPU run on the device machine (H200): GPU tests, then every benchmark.
# Run from the repository root:  PYTHONPATH=. bash benchmarks/run_device.sh [section ...]
# With no argument every section runs. Logs and result JSON go to $OUT when it is set.
set -uo pipefail
export PYTHONPATH=${PYTHONPATH:-.}:.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/graphsys-device}
mkdir -p "$OUT"
PY=${PY:-python3}
SECTIONS="$*"
want() { [ -z "$SECTIONS" ] || [[ " $SECTIONS " == *" $1 "* ]]; }
status=0
# run LOGNAME CMD...: run CMD, keep its output in $OUT/LOGNAME.log, remember a failure.
run() {
  local log=$1; shift
  echo "+ $*"
  "$@" 2>&1 | tee "$OUT/$log.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "FAILED($rc): $*"; status=1; }
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)'

if want gpu-tests; then
  run gpu_tests $PY -m pytest -q -m gpu tests
fi

# Each part adds its section below: `if want NAME; then run NAME $PY benchmarks/bench_NAME.py ...; fi`

# --- zerocopy: unified tensors (kernel on real pinned memory, cache, streams, mmap), then the
# gather benchmark (10 GB host table, ~2 min; GATHER_ARGS=--small for a smoke run anywhere).
if want zerocopy; then
  run zerocopy_tests $PY -m pytest -q tests/test_zerocopy_gpu.py tests/test_zerocopy_kernel.py tests/test_zerocopy_unified.py
  run gather $PY benchmarks/bench_gather.py ${GATHER_ARGS:-}
fi
# --- end zerocopy

# --- loader: graphsys.pyg adapters + graphsys.loader.NodeLoader (GPU tests), then the whole-loader
# benchmark on synthetic-products at scale 1 (pinned features vs everything in GPU memory, ~3 min;
# LOADER_ARGS="--scale 0.01 --batches 20" for a smoke run anywhere).
if want loader; then
  run loader_tests $PY -m pytest -q tests/test_loader.py tests/test_pyg_sampler.py tests/test_pyg_stores.py tests/test_pyg_link.py
  run loader $PY benchmarks/bench_loader.py --train --quiet ${LOADER_ARGS:-}
fi
# --- end loader

# --- sampling: NeighborSampler on CUDA and pinned (UVA) CSRs, plain and CUDA-graph replay, the
# torch floor, GPU negatives (products-sized Chung-Lu, ~1.5 min). SAMPLING_ARGS=--small: a smoke run anywhere.
if want sampling; then
  run sampling_tests $PY -m pytest -q -m gpu tests/test_sampling.py tests/test_negative.py
  run sampling $PY benchmarks/bench_sampling.py --part gpu --profile ${SAMPLING_ARGS:-}
fi
# --- end sampling

# --- embedding: GPU tests of the embedding engine (Triton SGD kernel, pinned master copy), then the
# Youtube-sized DeepWalk run (4000 x |E| samples, ~1-2 min with graph generation) and BlogCatalog
# P = 1 vs P = 4 quality. EMBED_ARGS="--scale 0.01 --epochs 20" for a smoke run anywhere.
if want embedding; then
  run embedding_tests $PY -m pytest -q tests/test_embedding_kernels.py tests/test_embedding_trainer.py
  run embed_speed $PY benchmarks/bench_embed.py --quiet ${EMBED_ARGS:-}
  run embed_quality $PY benchmarks/bench_embed.py --quality --quiet
fi
# --- end embedding

exit $status
