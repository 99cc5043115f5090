#!/usr/bin/env bash
# The linters CI runs (.ci/run), with the settings in setup.cfg; the same as .pre-commit-config.yaml.
#   bash tools/lint.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
PATHS=(mmsmlp tools tests configs setup.py)
# Installed here, so that CI can lint a clean clone before it installs the stack.
"$PYTHON" -m pip install -q --disable-pip-version-check -r requirements/lint.txt
"$PYTHON" -m flake8 "${PATHS[@]}"
"$PYTHON" -m isort --check-only --diff "${PATHS[@]}"
"$PYTHON" -m yapf --diff --recursive "${PATHS[@]}"
