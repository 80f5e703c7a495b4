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
want() { [ $# -eq 0 ] || [ -z "${SECTIONS:-}" ] || [[ " $SECTIONS " == *" $1 "* ]]; }
SECTIONS="$*"
status=0
run() { echo "+ $*"; "$@" || { echo "FAILED($?): $*"; status=1; }; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)'

if want gpu-tests; then
  run $PY -m pytest -q -m gpu tests 2>&1 | tee "$OUT/gpu_tests.log"
fi

# Each part adds its section below: `if want NAME; then run ...; fi`

exit $status
