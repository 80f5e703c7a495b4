#!/usr/bin/env bash
# Multi-GPU scaling run (issue 8) on a host with N GPUs, N from nvidia-smi (GPUS=N overrides):
#   (a) graphsys train on synthetic-products (scale 1), pinned features + 20% GPU cache, 1..N GPUs
#       via torchrun: median epoch time after the first, scaling efficiency T1 / (k Tk);
#   (b) graphsys pipeline, 16-layer residual GCN on the same preset: S = N stages vs G = N
#       partitions on N GPUs: epoch time, bytes per epoch, test accuracy after a fixed number of epochs;
#   (c) graphsys embed on a Youtube-sized graph on 1 and N GPUs: time, samples/s, link-prediction AUC.
# Logs, metrics and the generated data go to --work DIR, else $OUT (default /tmp/graphsys-multi-gpu); the figures to
# benchmarks/results/multi_gpu.json (and $OUT); the tables are printed for benchmarks/README.md.
# Extra arguments go to benchmarks/bench_multi_gpu.py, e.g. --parts train or --layers 32.
# Run from the repository root:            bash benchmarks/run_multi_gpu.sh
# The same steps on the CPU (2 gloo processes, tiny scales, a few minutes):
#                                          bash benchmarks/run_multi_gpu.sh --small --device cpu
set -uo pipefail
export PYTHONPATH=${PYTHONPATH:-.}:.
export PYTHONUNBUFFERED=1
export OUT=${OUT:-/tmp/graphsys-multi-gpu}
mkdir -p "$OUT"
PY=${PY:-python3}

gpus=${GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
if [[ " $* " == *" --device cpu "* ]]; then
  [ "${GPUS:-}" ] || gpus=2  # the CPU check: 2 gloo processes unless GPUS says otherwise
elif [ "$gpus" -lt 1 ]; then
  echo "no GPU found (nvidia-smi -L lists none); for the CPU check run: bash $0 --small --device cpu" >&2
  exit 2
else
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader || true
fi
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())'
echo "+ $PY benchmarks/bench_multi_gpu.py --gpus $gpus --work $OUT $*"
$PY benchmarks/bench_multi_gpu.py --gpus "$gpus" --work "$OUT" "$@" 2>&1 | tee "$OUT/multi_gpu.log"
exit "${PIPESTATUS[0]}"
