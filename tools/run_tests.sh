#!/usr/bin/env bash
# Installs the stack if needed (see tools/install.sh), then runs the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install.sh
exec "${PYTHON:-python3}" -m pytest tests "$@"
