#!/usr/bin/env bash
# The linters CI runs (.ci/run), with the settings in setup.cfg; the same as .pre-commit-config.yaml.
#   bash tools/lint.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
PATHS=(mmsmlp tools tests configs setup.py)
"$PYTHON" -m flake8 "${PATHS[@]}"
"$PYTHON" -m isort --check-only --diff "${PATHS[@]}"
"$PYTHON" -m yapf --diff --recursive "${PATHS[@]}"
