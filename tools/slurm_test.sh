#!/usr/bin/env bash
# Testing on a slurm cluster, one task per GPU (or per CPU process with GPUS_PER_NODE=0):
#   [GPUS=8] [GPUS_PER_NODE=8] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
source "$(dirname "$0")/slurm_args.sh"

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p ${PARTITION} --job-name=${JOB_NAME} "${SLURM_TASK_ARGS[@]}" ${SRUN_ARGS} \
    python -u "$(dirname "$0")/test.py" ${CONFIG} ${CHECKPOINT} --launcher="slurm" "${@:5}"
