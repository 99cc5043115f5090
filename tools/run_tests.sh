#!/usr/bin/env bash
# Installs the stack if needed (see tools/install.sh), then runs the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The slurm tests (tests/test_tools.py) start a one-node slurm on this machine: install it from the
# system's packages where that is possible (root, apt); elsewhere those tests skip and say why.
install_slurm() {
  # command -v prints one line per program it finds.
  [ "$(command -v munged slurmctld slurmd srun | wc -l)" = 4 ] && return
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "run_tests.sh: slurm is not installed and cannot be (needs root and apt-get); the slurm tests skip"
    return
  fi
  echo "run_tests.sh: installing slurm-wlm and munge for the slurm tests"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurm-wlm munge >/dev/null; } || echo "run_tests.sh: installing slurm failed; the slurm tests skip"
}

bash tools/install.sh
install_slurm
exec "${PYTHON:-python3}" -m pytest tests "$@"
