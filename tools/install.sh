#!/usr/bin/env bash
# Installs the whole mmsmlp stack into the active Python environment, idempotently:
# torch + torchvision (a torch already present is kept, so GPU users keep their CUDA build),
# mmengine, mmcv 2.1.0 with its compiled ops (built once and cached as a wheel keyed by the
# torch build), mmdet, mmsegmentation, mmpretrain, and mmsmlp itself in editable mode.
#
#   bash tools/install.sh            # PYTHON=python3 and MMSMLP_CACHE=~/.cache/mmsmlp by default
set -euo pipefail

PYTHON=${PYTHON:-python3}
CACHE=${MMSMLP_CACHE:-$HOME/.cache/mmsmlp}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
PIP=("$PYTHON" -m pip install --disable-pip-version-check --progress-bar off)

log() { printf '[install] %s\n' "$*"; }
has_module() { "$PYTHON" -c "import $1" >/dev/null 2>&1; }

install_torch() {
  if has_module torch && has_module torchvision; then
    log "keeping the installed torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
  elif has_module torch; then
    echo "[install] torch is installed but torchvision is not; install the torchvision that" \
         "matches your torch build (https://pytorch.org/get-started/previous-versions/) and rerun." >&2
    exit 1
  else
    log "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION"
    "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  fi
}

mmcv_ops_work() {
  "$PYTHON" - <<PY >/dev/null 2>&1
import mmcv
assert mmcv.__version__ == '$MMCV_VERSION'
from mmcv.ops import nms, roi_align  # compiled ops, needed by Mask R-CNN
PY
}

# The cache key names everything the compiled ops are ABI-bound to.
mmcv_cache_dir() {
  "$PYTHON" - "$CACHE" <<'PY'
import sys, torch
cuda = torch.version.cuda or 'cpu'
print(f'{sys.argv[1]}/wheels/py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}-cuda{cuda}')
PY
}

build_mmcv_wheel() {
  local out=$1 work
  work=$(mktemp -d)
  log "building mmcv $MMCV_VERSION with ops against the installed torch (about 13 min on 2 cores)"
  "$PYTHON" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$work"
  tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
  # torch >= 2.6 headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
  (cd "$work/mmcv-$MMCV_VERSION" &&
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PYTHON" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps . -w "$work/dist")
  mkdir -p "$out"
  cp "$work"/dist/mmcv-*.whl "$out/"
  rm -rf "$work"
}

install_mmcv() {
  if mmcv_ops_work; then
    log "keeping the installed mmcv $MMCV_VERSION"
    return
  fi
  local dir
  dir=$(mmcv_cache_dir)
  if ! ls "$dir"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    build_mmcv_wheel "$dir"
  else
    log "reusing the cached wheel in $dir"
  fi
  "${PIP[@]}" --no-deps --force-reinstall "$dir"/mmcv-"$MMCV_VERSION"-*.whl
  mmcv_ops_work || { echo "[install] mmcv $MMCV_VERSION is installed but its ops do not import" >&2; exit 1; }
}

main() {
  install_torch
  # Build requirements of mmcv (its setup.py imports pkg_resources, gone from setuptools 81).
  "${PIP[@]}" "setuptools<81" wheel ninja packaging
  "${PIP[@]}" "mmengine==0.10.7" "opencv-python>=4" addict "numpy" pyyaml yapf termcolor
  install_mmcv
  # mmsegmentation imports ftfy and regex without declaring them; tensorboard serves
  # the TensorboardVisBackend that users switch on in configs.
  "${PIP[@]}" "mmdet==3.3.0" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" ftfy regex tensorboard \
    "mmcv==$MMCV_VERSION" "mmengine==0.10.7"
  "${PIP[@]}" --no-build-isolation --no-deps -e "$REPO"
  "${PIP[@]}" -r "$REPO/requirements/tests.txt"
  log "done: $("$PYTHON" -c 'import torch, mmcv, mmdet, mmseg, mmpretrain; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__, "mmpretrain", mmpretrain.__version__)')"
}

main "$@"
