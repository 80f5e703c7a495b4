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
# gather benchmark (10 GB host table, ~1 min; results/gather.json was made with
# GATHER_ARGS="--tune --alloc-probe"; GATHER_ARGS=--small for a smoke run anywhere).
if want zerocopy; then
  run zerocopy_tests $PY -m pytest -q tests/test_zerocopy_gpu.py tests/test_zerocopy_kernel.py tests/test_zerocopy_unified.py
  run gather $PY benchmarks/bench_gather.py ${GATHER_ARGS:-}
fi
# Page-locking in place by kind of memory (anonymous, read-only and copy-on-write file maps).
if want pinning; then
  run pinning $PY benchmarks/bench_pinning.py --sizes-gb 1,4,16 --timeout 45
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

# --- embedding: GPU tests of the embedding engine (Triton SGD kernel, pinned master copy), then
# BlogCatalog P = 1 vs P = 4 quality over seeds 0, 1, 2 (EMBED_QUALITY_ARGS="--root DIR" when
# blogcatalog.mat is not in ../shared/data/blogcatalog) and the Youtube-sized DeepWalk run
# (4000 x |E| samples, with the trainer's parts and the kernel launch sweep; ~2-3 min with graph
# generation and compiles). EMBED_ARGS="--scale 0.01 --epochs 20" for a smoke run anywhere.
if want embedding; then
  run embedding_tests $PY -m pytest -q tests/test_embedding_kernels.py tests/test_embedding_trainer.py tests/test_embedding_walk_pool.py
  run embed_quality $PY benchmarks/bench_embed.py --quality --quiet --seeds 0,1,2 ${EMBED_QUALITY_ARGS:-}
  run embed_speed $PY benchmarks/bench_embed.py --quiet --kernel-sweep ${EMBED_ARGS:-}
fi
# --- end embedding

# --- train: graphsys train GPU tests (every placement, GPU vs CPU inference), then bench_train:
# GraphSAGE 3x256, fanouts 15,10,5, batch 1024 on synthetic-products (gpu / pinned / pinned+cache /
# bf16 / conventional, each its own process).
# TRAIN_ARGS="--scale 0.01 --epochs 2" for a smoke run anywhere.
if want train; then
  run train_tests $PY -m pytest -q tests/test_train_gpu.py tests/test_train_parts.py
  run train $PY benchmarks/bench_train.py --papers-scale 0 --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" \
    ${TRAIN_ARGS:-}
  ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
  if [ "$ngpu" -ge 2 ]; then  # DDP over NCCL, every GPU of this machine, shared pinned feature table
    run train_ddp $PY -m torch.distributed.run --standalone --nproc-per-node "$ngpu" -m graphsys train \
      --dataset synthetic-products --scale 0.1 --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" --epochs 3 \
      --features pinned --cache 0.2 --graph cuda --quiet --metrics-out "$OUT/train_ddp.jsonl"
  fi
fi
# --- step: the training step alone on sampled products batches (fp32 / bf16; graphsys's DestinationTrim
# against PyG's trimming; ms per step and the GPU kernel share from torch.profiler,
# top kernels in $OUT/profile_step.txt). STEP_ARGS="--scale 0.01 --batches 4" for a smoke run anywhere.
if want step; then
  run step $PY benchmarks/bench_step.py --quiet --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" ${STEP_ARGS:-}
fi
# --- papers: synthetic-papers100m (fp16 pinned features, 20% cache; ~40 GB host memory and 35 GB
# disk under TRAIN_ROOT): generation (~130 s on 16 cores), then bf16 and float32 runs of 3 epochs
# (~65 s each); results/bench_train_papers.json and each run's log in $OUT. Its own device call.
# PAPERS_RUNS="pinned+cache bf16,gpu bf16" picks runs; PAPERS_ARGS adds flags ("--gather-groups 2,4").
if want papers; then
  run papers_generate $PY -m graphsys data generate synthetic-papers100m --out "${TRAIN_ROOT:-/tmp/graphsys-train-data}" \
    --quiet
  run papers $PY benchmarks/bench_train.py --scale 0 --papers-scale 1 --epochs 3 --timeout 220 --logs "$OUT" \
    --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" ${PAPERS_RUNS:+--runs "$PAPERS_RUNS"} ${PAPERS_ARGS:-}
fi
# --- end train

# --- hetero: heterogeneous graphs on the GPU: the GPU tests of typed sampling, the typed loader, learnable
# pinned tables, the shared cache and the PyG HeteroData drop-in; bench_sampling --part hetero
# (synthetic-mag240m's graph at MAG240M_SCALE, default 0.2, CSRs in GPU memory and pinned, against the
# homogeneous sampler; ~2 min with generation); bench_train on synthetic-mag at MAG_SCALE (default 1):
# R-GCN gpu / pinned+cache / paper-only mlp / conventional, MAG_EPOCHS epochs (default 2).
if want hetero; then
  run hetero_tests $PY -m pytest -q -m gpu tests/test_hetero_sampling.py tests/test_loader_hetero.py \
    tests/test_zerocopy_learnable.py tests/test_zerocopy_shared_cache.py tests/test_pyg_hetero.py
  run hetero_sampling $PY benchmarks/bench_sampling.py --part hetero --mag240m-scale "${MAG240M_SCALE:-0.2}"
  run mag_train $PY benchmarks/bench_train.py --scale 0 --papers-scale 0 --mag-scale "${MAG_SCALE:-1}" \
    --epochs "${MAG_EPOCHS:-2}" --timeout "${MAG_TIMEOUT:-300}" --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" \
    ${MAG_RUNS:+--runs "$MAG_RUNS"}
fi
# --- mag240m: an R-GCN epoch on synthetic-mag240m at MAG240M_SCALE (default 0.2: 24 M papers with 37 GB of
# float16 features, generated into TRAIN_ROOT first), authors and institutions learned in pinned memory.
if want mag240m; then
  run mag240m_train $PY benchmarks/bench_train.py --scale 0 --papers-scale 0 --mag240m-scale "${MAG240M_SCALE:-0.2}" \
    --epochs 2 --timeout 540 --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}"
fi

# --- modes: weighted / temporal / disjoint sampling beside uniform on the products-sized graph (GPU memory,
# pinned, CPU on 2 threads; issue 19's half-of-uniform target); then the PyG drop-in's loaders on host data
# (GPU default, pinned, cpu, graphsys stores, data.to("cuda"), NodeLoader; batches/s and host ms per batch).
if want modes; then
  run sampling_modes $PY benchmarks/bench_sampling.py --part modes --threads 2 ${MODES_ARGS:-}
  run loader_pyg $PY benchmarks/bench_loader.py --part pyg --quiet ${LOADER_PYG_ARGS:-}
fi
# --- citation2: link prediction on synthetic-citation2 at CITATION2_SCALE (default 0.1: an epoch at scale 1
# is ~30 K batches): gpu / pinned+cache / conventional / features-only mlp, MRR, evaluation time, memory.
if want citation2; then
  run citation2_train $PY benchmarks/bench_train.py --scale 0 --papers-scale 0 --citation2-scale "${CITATION2_SCALE:-0.1}" \
    --epochs 2 --timeout "${CITATION2_TIMEOUT:-200}" --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" --logs "$OUT"
fi
# --- floor: every epoch against its step floor (issue 21, section 1): bench_floor trains synthetic-products (gpu and
# pinned+cache, fp32 and bf16) and synthetic-papers100m (float16 features pinned, 20% cache) with graphsys.train's
# trainer, 3 epochs each, and after each timed epoch replays the training step alone over that epoch's batches
# (results/bench_floor.json). Estimated ~1-2 min of products runs and ~2-3 min of papers100M runs, plus generating
# the presets into TRAIN_ROOT where absent (~2 min for papers100M; ~40 GB host memory, 35 GB disk).
# FLOOR_ARGS="--papers-scale 0" for products alone, "--scale 0.01 --papers-scale 0 --device cpu" for a smoke run.
if want floor; then
  run floor $PY benchmarks/bench_floor.py --quiet --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" ${FLOOR_ARGS:-}
fi
# --- reorder: zero-copy gathers on sampler-drawn batches before and after locality renumbering (256 B, 512 B
# and float16 rows; 20% cache hit rate; products epoch time with --epoch). REORDER_ARGS="--datasets
# papers100m --orders hot-rcm --parts gather,estimate" for the papers100M-sized table (~100 GB host memory).
if want reorder; then
  run reorder $PY benchmarks/bench_reorder.py ${REORDER_ARGS:---datasets products --epoch}
fi
# --- embed-runs: the Youtube-sized DeepWalk run with the graph-scaled defaults, the earlier defaults,
# GraphVite's settings and bfloat16 rows, side by side (seconds_over_best), plus the embedding GPU tests.
if want embed-runs; then
  run embed_runs_tests $PY -m pytest -q tests/test_embedding_kernels.py tests/test_embedding_defaults.py
  run embed_runs $PY benchmarks/bench_embed.py --quiet \
    --runs defaults,defaults:augmentation_step=3:pool_size=1e7,tuned,bf16,tuned-bf16
fi

# --- datasets: generation speed on 16 cores: Chung-Lu 2 M / 20 M, synthetic-arxiv and -products at
# scale 1, synthetic-papers100m at scale 1 (111 M nodes, 1.6 B edges, 28 GB of float16 features written
# into a memory-mapped .npy; estimated ~16 GB peak memory, 37 GB disk). It generates into TRAIN_ROOT, so the train
# section reuses the files (a preset already there is only reopened, and reported as such).
# DATASETS_ARGS=--small for a smoke run anywhere.
if want datasets; then
  run datasets $PY benchmarks/bench_datasets.py --papers-scale 1 --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" ${DATASETS_ARGS:-}
fi
# --- end datasets

# --- pipeline: GNNPipe pipelined full-graph training: CPU tests (gloo) and the CUDA single-process
# check, then bench_pipeline (accuracy on Cora/CiteSeer, bytes per epoch vs graph parallelism on Cora
# and a 1 M-node synthetic graph). With 4 or more GPUs every rank gets a GPU (NCCL); with fewer, the
# same benchmark runs over gloo on the host's cores. PIPELINE_ARGS="--small" for a smoke run anywhere.
if want pipeline; then
  run pipeline_tests $PY -m pytest -q tests/test_pipeline_units.py tests/test_pipeline_dist.py \
    tests/test_pipeline_multi_gpu.py
  ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
  pipeline_device=cpu; [ "$ngpu" -ge 4 ] && pipeline_device=cuda
  run pipeline $PY benchmarks/bench_pipeline.py --part all --device "$pipeline_device" ${PIPELINE_ARGS:-}
fi
# Multi-GPU scaling (issue 8: train on 1..N GPUs, pipeline S=N vs G=N, embed on 1 and N GPUs): long, so
# only when named (`run_device.sh multi-gpu`) on a host with 2+ GPUs; MULTI_GPU_ARGS="--small" for a
# quick pass, "--parts train,embed" for a subset. Its data and logs stay in MULTI_GPU_WORK (the generated
# preset must not land in $OUT, whose files come back); results/multi_gpu.json is copied to $OUT, and
# the logs and metrics come back packed in $OUT/multi_gpu_logs.tar.gz.
if [[ " $SECTIONS " == *" multi-gpu "* ]]; then
  if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
    work=${MULTI_GPU_WORK:-/tmp/graphsys-multi-gpu}
    mkdir -p "$work"
    PY=$PY run multi_gpu_run bash benchmarks/run_multi_gpu.sh --work "$work" \
      --root "${TRAIN_ROOT:-/tmp/graphsys-train-data}" ${MULTI_GPU_ARGS:-}
    (cd "$work" && find . -path ./data -prune -o \( -name '*.log' -o -name '*.jsonl' -o -name meta.json \) -print |
      tar czf "$OUT/multi_gpu_logs.tar.gz" -T -)
  else
    echo "multi-gpu: fewer than 2 GPUs here; nothing to scale"
  fi
fi
# --- end pipeline

exit $status
