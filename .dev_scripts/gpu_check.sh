#!/usr/bin/env bash
# The GPU checks (tests/test_gpu.py, the demos and the GPU benchmarks) in one script, for a GPU machine without a package index
# (the project's: Python 3.12, its torch 2.11 + CUDA 13 kept, 16 cores), in stages that each
# fit a 10-minute call. Run from the repository root:
#
#   bash .dev_scripts/gpu_check.sh wheelhouse    # where pip reaches an index: writes wheelhouse/ (git-ignored)
#   bash .dev_scripts/gpu_check.sh build         # install offline from wheelhouse/, mmcv's CUDA ops built once
#   bash .dev_scripts/gpu_check.sh test          # tests/test_gpu.py
#   bash .dev_scripts/gpu_check.sh suite         # the whole test suite on the GPU machine
#   bash .dev_scripts/gpu_check.sh demo          # bash tools/demo.sh, timed
#   bash .dev_scripts/gpu_check.sh bench         # bench-cls, bench-inf, bench-det
#   bash .dev_scripts/gpu_check.sh bench-extra   # channels_last and a profile of sMLPNet-T vs Swin-T
#   bash .dev_scripts/gpu_check.sh build test bench-inf    # several stages in one call
#   bash .dev_scripts/gpu_check.sh device        # one device call: install (no compiling), test, bench
#
# Every stage after `wheelhouse` installs first if the stack is not importable. Results go to
# $OUT (else work_dirs/gpu_check/out): gpu_check-results.tar.gz with every log and JSON file,
# and after a build the mmcv wheel in mmcv/KEY/ (split into 15 MiB parts); copy that folder
# to wheelhouse/mmcv/KEY/ and the next machine installs it instead of building (the parts
# are joined here). The stages stop GPU_CHECK_SECONDS (default 570; 470 for `device`) after
# the start, so that the results are written within the call's limit, and each stage of
# `device` has a budget of its own (STAGE_BUDGET), so a slow one cannot starve the others.
#
# GPU_CHECK_SMOKE=1 runs the bench stages on the CPU with tiny inputs, to check this script.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export MMSMLP_CACHE=${MMSMLP_CACHE:-$REPO/build/mmsmlp-cache}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}  # H100 / H200
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export PYTHONUNBUFFERED=1
# shellcheck source=install.sh
source "$REPO/tools/install.sh"  # PYTHON and the mmcv key functions
WHEELHOUSE_DIR=$REPO/wheelhouse
RESULTS=$REPO/work_dirs/gpu_check
OUT_DIR=${OUT:-$RESULTS/out}
SMOKE=${GPU_CHECK_SMOKE:-0}
if [[ " $* " == *" device "* ]]; then
  DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-470}))
else
  DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-570}))
fi
# Seconds each stage of `device` may take at most (the install from a wheelhouse with a
# prebuilt mmcv takes about a minute; torch.compile of four models dominates the benches).
declare -A STAGE_BUDGET=([install]=120 [test_gpu]=90 [bench_cls_train_step]=100
                         [bench_cls_inference]=80 [bench_det_train_step_float16]=60
                         [bench_det_train_step_bfloat16]=60)
# Wheels of more than 1 MB that the GPU machine needs not: it has these packages (and
# opencv-python-headless, which serves mmengine instead of opencv-python). Left out, the
# wheelhouse stays well below the 64 MiB that can travel.
GPU_MACHINE_HAS=(opencv-python scipy onnxruntime numpy matplotlib onnx grpcio pillow
                 tensorboard fonttools kiwisolver pygments)

say() { printf '\n[gpu_check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Runs a command with its output in $RESULTS/NAME.log (and on the console), within the deadline.
run_logged() {
  local name=$1 left=$((DEADLINE - SECONDS))
  shift
  if [[ -n ${STAGE_BUDGET[$name]:-} ]] && ((STAGE_BUDGET[$name] < left)); then
    left=${STAGE_BUDGET[$name]}
  fi
  if ((left < 10)); then
    say "skipped $name: the time is up"
    return 1
  fi
  say "$name: $*"
  local status=0
  timeout "$left" "$@" 2>&1 | tee "$RESULTS/$name.log" || status=$?
  say "$name exited with $status"
  return "$status"
}

stage_wheelhouse() {
  local without=() name
  for name in "${GPU_MACHINE_HAS[@]}"; do without+=(--without "$name"); done
  bash tools/make_wheelhouse.sh "$WHEELHOUSE_DIR" --python-version 3.12 \
    --platform manylinux_2_28_x86_64 "${without[@]}"
}

# Joins the parts of carried mmcv wheels (NAME.whl.part00, ...) and checks their sha256.
join_wheel_parts() {
  local first whl
  for first in "$WHEELHOUSE_DIR"/mmcv/*/*.whl.part00; do
    [[ -f $first ]] || continue
    whl=${first%.part00}
    [[ -f $whl ]] || cat "$whl".part* >"$whl"
    if [[ -f $whl.sha256 ]]; then
      (cd "$(dirname "$whl")" && sha256sum -c "$(basename "$whl").sha256")
    fi
  done
}

stack_ready() {
  "$PYTHON" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain, mmsmlp' >/dev/null 2>&1 &&
    mmcv_check "$(mmcv_target | cut -d' ' -f1)" >/dev/null
}

install_stack() {
  [[ -d $WHEELHOUSE_DIR ]] || die "no wheelhouse/: make it with 'bash .dev_scripts/gpu_check.sh wheelhouse'" \
    "where pip reaches an index and carry it along"
  join_wheel_parts
  run_logged install bash tools/install.sh --wheelhouse "$WHEELHOUSE_DIR"
}

# The built mmcv wheel to $OUT_DIR/mmcv/KEY/, unless it came with the wheelhouse.
export_mmcv_wheel() {
  local target kind archs key whl name
  target=$(mmcv_target)
  read -r kind archs <<<"$target"
  key=$(mmcv_cache_key "$kind" "$archs")
  if compgen -G "$WHEELHOUSE_DIR/mmcv/$key/mmcv-*.whl" >/dev/null; then
    return
  fi
  for whl in "$MMSMLP_CACHE/wheels/$key"/mmcv-*.whl; do
    [[ -f $whl ]] || continue
    name=$(basename "$whl")
    mkdir -p "$OUT_DIR/mmcv/$key"
    (cd "$(dirname "$whl")" && sha256sum "$name") >"$OUT_DIR/mmcv/$key/$name.sha256"
    split -b 15M -d -a 2 "$whl" "$OUT_DIR/mmcv/$key/$name.part"
    say "mmcv wheel ($(du -h "$whl" | cut -f1)) in $OUT_DIR/mmcv/$key: copy that folder to wheelhouse/mmcv/"
  done
}

stage_build() {
  install_stack
  export_mmcv_wheel
}

stage_test() {
  run_logged test_gpu "$PYTHON" -m pytest tests/test_gpu.py -v -rs
}

stage_suite() {
  run_logged suite "$PYTHON" -m pytest tests -q -rs
}

stage_demo() {
  "$PYTHON" -c 'import torch; print("demo device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU")'
  local start=$SECONDS status=0
  run_logged demo env WORK_DIR="$RESULTS/demo" bash tools/demo.sh || status=$?
  say "demo: $((SECONDS - start)) s in all (install check included)"
  return "$status"
}

# benchmark.py at the measured settings (docs/benchmark.md), or tiny ones on the CPU (GPU_CHECK_SMOKE=1).
bench() {
  local name=$1
  shift
  local device=(--device cuda) size=(--matmul-size 8192)
  if ((SMOKE)); then
    device=(--device cpu)
    size=(--matmul-size 256)
  fi
  run_logged "$name" "$PYTHON" tools/analysis_tools/benchmark.py "$@" "${device[@]}" "${size[@]}" \
    --json "$RESULTS/$name.json"
}

# Sizes: those of docs/benchmark.md, or tiny ones for the smoke run.
if ((SMOKE)); then
  CLS=(--shapes 64 --batch-size 2 --warmup 0 --repeats 1)
  INF=("${CLS[@]}")
  DET=(--shapes 96x160 --batch-size 1 --warmup 0 --repeats 1)
  COMPILED=()  # compiling four models takes many minutes on 2 cores
  FP16=bfloat16  # CPU autocast runs in bf16
else
  CLS=(--shapes 224 --batch-size 128 --warmup 3 --repeats 10)
  INF=(--shapes 224 --batch-size 256 --warmup 3 --repeats 10)
  DET=(--shapes 800x1333 --batch-size 2 --warmup 3 --repeats 10)
  COMPILED=(amp-compiled)
  FP16=float16
fi
CLS_MODELS=(smlpnet-t swin-t-mmpretrain convnext-t resnet-50)

stage_bench_cls() {
  # 224x224 bf16 training step (forward + backward + AdamW), eager and compiled.
  bench bench_cls_train_step "${CLS_MODELS[@]}" "${CLS[@]}" --modes train-step \
    --variants amp ${COMPILED[@]+"${COMPILED[@]}"} --amp-dtype bfloat16 \
    --baseline swin-t-mmpretrain --memory
}

stage_bench_inf() {
  # 224x224 bf16 inference, eager and compiled; official-style sMLPNet-T for reference.
  bench bench_cls_inference "${CLS_MODELS[@]}" official-smlpnet-t "${INF[@]}" --modes inference \
    --variants amp ${COMPILED[@]+"${COMPILED[@]}"} --amp-dtype bfloat16 \
    --baseline swin-t-mmpretrain
}

stage_bench_det() {
  # 1333x800 Mask R-CNN-style backbone training step with AMP: fp16 as tools/train.py --amp
  # trains, and bf16; with and without activation checkpointing.
  local dtype
  for dtype in "$FP16" bfloat16; do
    bench "bench_det_train_step_$dtype" swin-t smlpnet-t smlpnet-t-cp smlpnet-t-window smlpnet-t-window-cp \
      "${DET[@]}" --modes train-step --variants amp --amp-dtype "$dtype" --baseline swin-t --memory
    if ((SMOKE)); then break; fi
  done
}

stage_bench_extra() {
  bench bench_cls_train_step_channels_last "${CLS_MODELS[@]}" "${CLS[@]}" --modes train-step \
    --variants amp --amp-dtype bfloat16 --baseline swin-t-mmpretrain --channels-last
  bench bench_cls_train_step_profile smlpnet-t swin-t-mmpretrain "${CLS[@]}" --modes train-step \
    --variants amp --amp-dtype bfloat16 --baseline swin-t-mmpretrain --profile 25
}

# Everything one device call needs, in order of importance: the install must not compile
# (a 2-core machine builds the mmcv wheel, see docs/tools.md), then tests/test_gpu.py (the
# Mask R-CNN and UperNet steps on the GPU included), then the benchmark goals.
stage_device() {
  local key
  key=$(mmcv_cache_key cuda "$TORCH_CUDA_ARCH_LIST")
  ((SMOKE)) || compgen -G "$WHEELHOUSE_DIR/mmcv/$key/mmcv-*.whl*" >/dev/null ||
    die "wheelhouse/mmcv/$key/ holds no prebuilt mmcv wheel, so the install would compile" \
        "on the device: build it on a CPU machine (docs/tools.md, 'mmcv for the GPU machine')"
  if ! stack_ready; then install_stack; fi
  local status=0
  stage_test || status=$?
  stage_bench || status=$?
  return "$status"
}

stage_bench() {
  local status=0
  stage_bench_cls || status=$?
  stage_bench_inf || status=$?
  stage_bench_det || status=$?
  return "$status"
}

# The tables and test counts of this machine's runs so far, last in the output.
summary() {
  local log
  for log in "$RESULTS"/*.log; do
    [[ -f $log ]] || continue
    say "summary of $(basename "$log")"
    grep -E '^ *(gpu|bf16_matmul_tflops|amp_dtype|memory_format):|^(inference|train|train-step), |^\||[0-9]+ (passed|failed)|training and testing on|^[a-z]+ +[A-Za-z0-9/_]+ +[0-9.]+$' "$log" | cut -c1-400 || true
  done
}

pack_results() {
  summary
  mkdir -p "$OUT_DIR"
  tar -czf "$OUT_DIR/gpu_check-results.tar.gz" -C "$RESULTS" --exclude=out --exclude='*.pth' \
    --exclude='*.pkl' .
  say "results: $OUT_DIR/gpu_check-results.tar.gz"
}

main_gpu_check() {
  (($#)) || { sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 2; }
  local stage
  for stage in "$@"; do
    declare -F "stage_${stage//-/_}" >/dev/null || die "unknown stage '$stage' (see the head of $0)"
  done
  if [[ $* == wheelhouse ]]; then
    stage_wheelhouse
    return
  fi
  mkdir -p "$RESULTS"
  trap pack_results EXIT
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU:", torch.cuda.get_device_name() if torch.cuda.is_available() else None)'
  if ((!SMOKE)) && [[ $1 != build && $1 != device ]] && ! stack_ready; then
    install_stack
  fi
  local status=0
  for stage in "$@"; do
    "stage_${stage//-/_}" || status=$?
  done
  return "$status"
}

main_gpu_check "$@"
