#!/usr/bin/env bash
# Writes a wheelhouse for offline installs: every wheel the mmsmlp stack needs (the lists of
# tools/install.sh with all their dependencies, and the test requirements) plus the mmcv
# source distribution, for a given Python version and platform. Then, on a machine without
# a package index:
#
#   bash tools/install.sh --wheelhouse DIR
#
# Usage (run where pip reaches an index):
#   bash tools/make_wheelhouse.sh DIR [--python-version 3.12] [--platform manylinux_2_28_x86_64]
#                                     [--with-torch] [--without NAME ...]
#
#   --python-version X.Y  the target's CPython (default: this PYTHON's)
#   --platform TAG        the target's platform (default: this machine's); manylinux_2_N_ARCH
#                         stands for every manylinux tag up to glibc 2.N, as pip does natively;
#                         repeatable
#   --with-torch          also torch and torchvision (several GB with their CUDA libraries);
#                         without it the target must have torch installed
#   --without NAME        leave out a package the target already has (e.g. opencv-python where
#                         opencv-python-headless is installed); repeatable
#
# A prebuilt mmcv wheel is picked up from DIR/mmcv/KEY/, KEY being the directory name
# tools/install.sh caches it under (see there).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=install.sh
source "$REPO/tools/install.sh"

usage() {
  sed -n '/^# Usage/,/^# A prebuilt/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# manylinux_2_N_ARCH -> that tag and every older manylinux tag of ARCH; others unchanged.
expand_platform() {
  local tag=$1
  if [[ $tag =~ ^manylinux_2_([0-9]+)_(.+)$ ]]; then
    local glibc=${BASH_REMATCH[1]} arch=${BASH_REMATCH[2]} minor
    for ((minor = glibc; minor >= 5; minor--)); do
      echo "manylinux_2_${minor}_$arch"
      case $minor in
        17) echo "manylinux2014_$arch" ;;
        12) echo "manylinux2010_$arch" ;;
        5) echo "manylinux1_$arch" ;;
      esac
    done
  else
    echo "$tag"
  fi
}

normalize() { tr '[:upper:]' '[:lower:]' <<<"$1" | sed 's/[-_.]\+/_/g'; }

main_wheelhouse() {
  local out='' python_version with_torch=0 platforms=() without=()
  python_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  while (($#)); do
    case $1 in
      --python-version) python_version=${2:?--python-version needs X.Y}; shift 2 ;;
      --platform) platforms+=("${2:?--platform needs a tag}"); shift 2 ;;
      --with-torch) with_torch=1; shift ;;
      --without) without+=("${2:?--without needs a package name}"); shift 2 ;;
      -h | --help) usage ;;
      -*) echo "unknown option '$1'" >&2; usage ;;
      *) [[ -z $out ]] || usage; out=$1; shift ;;
    esac
  done
  [[ -n $out ]] || usage
  [[ $python_version =~ ^3\.[0-9]+$ ]] || die "--python-version takes X.Y, e.g. 3.12"
  mkdir -p "$out"

  local target=(--only-binary=:all: --python-version "$python_version" --implementation cp
                --abi "cp${python_version/./}")
  local tag
  for tag in ${platforms[@]+"${platforms[@]}"}; do
    while read -r tag; do target+=(--platform "$tag"); done < <(expand_platform "$tag")
  done
  local requirements=("${BUILD_REQUIREMENTS[@]}" "$OPENCV_REQUIREMENT" "${MMENGINE_REQUIREMENTS[@]}"
                      "mmengine==$MMENGINE_VERSION" "${TOOLKIT_REQUIREMENTS[@]}"
                      -r "$REPO/requirements/tests.txt" -r "$REPO/requirements/deploy.txt")
  if ((with_torch)); then
    requirements+=("torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION")
  fi
  log "downloading wheels for CPython $python_version into $out"
  "$PYTHON" -m pip download --disable-pip-version-check --progress-bar off "${target[@]}" \
    -d "$out" "${requirements[@]}"
  "$PYTHON" -m pip download --disable-pip-version-check --progress-bar off --no-deps "${target[@]}" \
    -d "$out" "${NO_DEPS_REQUIREMENTS[@]}"
  "$PYTHON" -m pip download --disable-pip-version-check --progress-bar off --no-deps \
    --no-binary :all: -d "$out" "mmcv==$MMCV_VERSION"

  local name file
  for name in ${without[@]+"${without[@]}"}; do
    for file in "$out"/*.whl; do
      if [[ $(normalize "$(basename "$file" | cut -d- -f1)") == "$(normalize "$name")" ]]; then
        log "leaving out $(basename "$file")"
        rm "$file"
      fi
    done
  done
  log "done: $(find "$out" -maxdepth 1 -type f | wc -l) files, $(du -sh "$out" | cut -f1) in $out"
}

main_wheelhouse "$@"
