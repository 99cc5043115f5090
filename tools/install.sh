#!/usr/bin/env bash
# Installs the whole mmsmlp stack into the active Python environment, idempotently:
# torch + torchvision (a torch already present is kept, so GPU users keep their CUDA build),
# mmengine, mmcv 2.1.0 with its compiled ops (built once and cached as a wheel keyed by what it
# was built for), mmdet, mmsegmentation, mmpretrain, and mmsmlp itself in editable mode.
#
# When torch sees a GPU (or FORCE_CUDA=1), mmcv is built with its CUDA ops, for
# TORCH_CUDA_ARCH_LIST when set, else for the local GPUs' compute capabilities; that needs
# the CUDA toolkit (nvcc) of torch's CUDA version. Without a GPU it is built with CPU ops.
#
#   bash tools/install.sh                      # PYTHON=python3, MMSMLP_CACHE=~/.cache/mmsmlp
#   bash tools/install.sh --wheelhouse DIR     # offline, from tools/make_wheelhouse.sh's DIR
#                                              # (or MMSMLP_WHEELHOUSE=DIR)
set -euo pipefail

PYTHON=${PYTHON:-python3}
CACHE=${MMSMLP_CACHE:-$HOME/.cache/mmsmlp}
WHEELHOUSE=${MMSMLP_WHEELHOUSE:-}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
# What gets installed, stage by stage; tools/make_wheelhouse.sh downloads the same lists.
# mmcv's build requirements (its setup.py imports pkg_resources, gone from setuptools 81).
BUILD_REQUIREMENTS=("setuptools<81" wheel ninja packaging)
# mmengine's and mmcv's runtime requirements, except OpenCV (see install_mmengine).
MMENGINE_REQUIREMENTS=(addict matplotlib numpy packaging Pillow pyyaml rich termcolor yapf)
OPENCV_REQUIREMENT="opencv-python>=4"
# mmsegmentation imports ftfy and regex without declaring them; tensorboard serves the
# TensorboardVisBackend that users switch on in configs.
TOOLKIT_REQUIREMENTS=("mmdet==3.3.0" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" ftfy regex tensorboard)
# Installed without their declared requirements, which conflict with the stack: openmim
# declares opendatalab, whose pins (setuptools 60, requests 2.28) break torch's requirements
# and which mim never imports; mmdeploy pins protobuf<=3.20.2 (requirements/deploy.txt).
# What they do import is in requirements/tests.txt and requirements/deploy.txt.
NO_DEPS_REQUIREMENTS=("openmim==0.3.9" "mmdeploy==1.3.1")
PIP=("$PYTHON" -m pip install --disable-pip-version-check --progress-bar off)

log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }
has_module() { "$PYTHON" -c "import $1" >/dev/null 2>&1; }

parse_args() {
  while (($#)); do
    case $1 in
      --wheelhouse) [[ $# -ge 2 ]] || die "--wheelhouse needs a directory"; WHEELHOUSE=$2; shift 2 ;;
      *) die "unknown argument '$1' (usage: bash tools/install.sh [--wheelhouse DIR])" ;;
    esac
  done
  if [[ -n $WHEELHOUSE ]]; then
    [[ -d $WHEELHOUSE ]] || die "wheelhouse '$WHEELHOUSE' is not a directory; make one with tools/make_wheelhouse.sh"
    WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)
    PIP+=(--no-index --find-links "$WHEELHOUSE")
    log "installing offline from the wheelhouse $WHEELHOUSE"
  fi
}

install_torch() {
  if has_module torch && has_module torchvision; then
    log "keeping the installed torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
  elif has_module torch; then
    die "torch is installed but torchvision is not; install the torchvision that matches" \
        "your torch build (https://pytorch.org/get-started/previous-versions/) and rerun."
  else
    if [[ -n $WHEELHOUSE ]] && ! compgen -G "$WHEELHOUSE/torch-$TORCH_VERSION*.whl" >/dev/null; then
      die "torch is not installed and the wheelhouse has no torch $TORCH_VERSION wheel: install" \
          "torch and torchvision first, or make the wheelhouse with --with-torch."
    fi
    log "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION"
    "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  fi
}

# mmengine declares opencv-python. A machine that already has OpenCV under another name
# (opencv-python-headless on servers) keeps it: mmengine goes in without its declared
# requirements, which are installed here by name.
install_mmengine() {
  local opencv=("$OPENCV_REQUIREMENT")
  if has_module cv2; then opencv=(); fi
  "${PIP[@]}" ${opencv[@]+"${opencv[@]}"} "${MMENGINE_REQUIREMENTS[@]}"
  "${PIP[@]}" --no-deps "mmengine==$MMENGINE_VERSION"
}

# The decisions about mmcv are made in Python, by mmsmlp/utils/mmcv_build.py (run by its path:
# mmsmlp is not installed yet; the tests import it). Each prints its answer or fails saying why.
MMCV_BUILD=("$PYTHON" "$REPO/mmsmlp/utils/mmcv_build.py")

# "cpu", or "cuda ARCHS" (ARCHS as in TORCH_CUDA_ARCH_LIST, ';'-separated) when torch sees a
# GPU or FORCE_CUDA=1.
mmcv_target() { "${MMCV_BUILD[@]}" target; }

# The CUDA toolkit directory to build mmcv's CUDA ops with, of torch's CUDA version.
cuda_home() { "${MMCV_BUILD[@]}" cuda-home; }

# The include directories of torch's CUDA wheels that hold headers the toolkit in $1 lacks,
# ':'-separated. Added to CPATH they are searched after the toolkit's own -I directory, so a
# header the toolkit has is always taken from the toolkit.
torch_cuda_include_dirs() { "${MMCV_BUILD[@]}" include-dirs "$1"; }

# The cache key names everything the compiled ops are bound to.
mmcv_cache_key() { "${MMCV_BUILD[@]}" cache-key "$1" "${2:-}"; }

# Succeeds when mmcv $MMCV_VERSION is installed and its compiled ops run (on CUDA tensors
# too for "cuda", where a GPU is visible); else prints why not and fails.
mmcv_check() {
  local output
  if output=$("${MMCV_BUILD[@]}" check "$1" "$MMCV_VERSION" 2>&1); then
    return 0
  fi
  printf '%s\n' "$output" | tail -n 1
  return 1
}

mmcv_sdist() {
  local dir=$1
  if [[ -n $WHEELHOUSE ]]; then
    [[ -f $WHEELHOUSE/mmcv-$MMCV_VERSION.tar.gz ]] ||
      die "the wheelhouse has no mmcv-$MMCV_VERSION.tar.gz; make it with tools/make_wheelhouse.sh"
    cp "$WHEELHOUSE/mmcv-$MMCV_VERSION.tar.gz" "$dir/"
  else
    "$PYTHON" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
      "mmcv==$MMCV_VERSION" -d "$dir"
  fi
}

# Builds the wheel into $1. The source tree lives under the cache until the build succeeds,
# so an interrupted build resumes where it stopped (ninja rebuilds only what is missing).
build_mmcv_wheel() {
  local out=$1 kind=$2 archs=$3 key=$4 work src env
  work=$CACHE/build/$key
  src=$work/mmcv-$MMCV_VERSION
  # Python's CFLAGS hold -g: with the debug info mmcv's CPU-ops library is 80 MB instead of
  # 2 MB (a 31 MB wheel); the linker leaves it out.
  env=(MMCV_WITH_OPS=1 "MAX_JOBS=${MAX_JOBS:-$(nproc)}" "LDFLAGS=${LDFLAGS:+$LDFLAGS }-Wl,--strip-debug")
  if [[ $kind == cuda ]]; then
    local home
    home=$(cuda_home) || die "cannot build mmcv's CUDA ops (see above)"
    env+=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$archs" "CUDA_HOME=$home")
    local includes
    includes=$(torch_cuda_include_dirs "$home") ||
      die "cannot list the include directories of torch's CUDA wheels"
    if [[ -n $includes ]]; then
      log "the CUDA toolkit in $home lacks headers that torch's CUDA headers include: they" \
          "come from torch's CUDA wheels, the directories above (CPATH, after the toolkit's own)"
      env+=("CPATH=${CPATH:+$CPATH:}$includes")
    fi
    log "building mmcv $MMCV_VERSION with CUDA ops for compute capability $archs (nvcc in $home;" \
        "29 min for 8.0;9.0 on 2 cores)"
  else
    log "building mmcv $MMCV_VERSION with CPU ops (about 13 min on 2 cores)"
  fi
  if [[ ! -f $src/setup.py ]]; then
    rm -rf "$work"
    mkdir -p "$work"
    mmcv_sdist "$work"
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    # torch >= 2.6 headers need C++20; mmcv 2.1.0 hard-codes -std=c++17 for the C++ and
    # the nvcc flags.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  else
    log "resuming the build in $work"
  fi
  (cd "$src" && env "${env[@]}" \
    "$PYTHON" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps . -w "$work/dist")
  mkdir -p "$out"
  cp "$work"/dist/mmcv-*.whl "$out/"
  rm -rf "$work"
}

install_mmcv() {
  local target kind archs reason key dir wheel
  target=$(mmcv_target) || die "cannot tell what to build mmcv's ops for (see above)"
  read -r kind archs <<<"$target"
  if reason=$(mmcv_check "$kind"); then
    log "keeping the installed mmcv $MMCV_VERSION ($kind ops)"
    return
  fi
  log "mmcv $MMCV_VERSION with $kind ops is needed: $reason"
  key=$(mmcv_cache_key "$kind" "$archs")
  dir=$CACHE/wheels/$key
  # A wheel built earlier: in the cache, or shipped in the wheelhouse under the same key.
  local candidates=("$dir"/mmcv-"$MMCV_VERSION"-*.whl)
  if [[ -n $WHEELHOUSE ]]; then
    candidates+=("$WHEELHOUSE/mmcv/$key"/mmcv-"$MMCV_VERSION"-*.whl)
  fi
  for wheel in "${candidates[@]}"; do
    [[ -f $wheel ]] || continue
    log "installing the prebuilt $wheel"
    "${PIP[@]}" --no-deps --force-reinstall "$wheel"
    if reason=$(mmcv_check "$kind"); then return; fi
    log "that wheel fails the check: $reason"
  done
  build_mmcv_wheel "$dir" "$kind" "$archs" "$key"
  "${PIP[@]}" --no-deps --force-reinstall "$dir"/mmcv-"$MMCV_VERSION"-*.whl
  reason=$(mmcv_check "$kind") || die "mmcv $MMCV_VERSION was built and installed but its ops fail: $reason"
}

main() {
  parse_args "$@"
  install_torch
  "${PIP[@]}" "${BUILD_REQUIREMENTS[@]}"
  install_mmengine
  install_mmcv
  "${PIP[@]}" "${TOOLKIT_REQUIREMENTS[@]}"
  "${PIP[@]}" --no-build-isolation --no-deps -e "$REPO"
  "${PIP[@]}" -r "$REPO/requirements/tests.txt" -r "$REPO/requirements/deploy.txt"
  "${PIP[@]}" --no-deps "${NO_DEPS_REQUIREMENTS[@]}"
  log "done: $("$PYTHON" -c 'import torch, mmcv, mmdet, mmseg, mmpretrain; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__, "mmpretrain", mmpretrain.__version__)')"
}

# tools/make_wheelhouse.sh sources this file for the lists above.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
