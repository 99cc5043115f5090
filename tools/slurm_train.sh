#!/usr/bin/env bash
# Training on a slurm cluster, one task per GPU (or per CPU process with GPUS_PER_NODE=0):
#   [GPUS=16] [GPUS_PER_NODE=8] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
#   GPUS=2 GPUS_PER_NODE=0 [TASKS_PER_NODE=2] bash tools/slurm_train.sh ...   # CPU nodes: 2 processes, gloo
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
source "$(dirname "$0")/slurm_args.sh"

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p ${PARTITION} --job-name=${JOB_NAME} "${SLURM_TASK_ARGS[@]}" ${SRUN_ARGS} \
    python -u "$(dirname "$0")/train.py" ${CONFIG} --work-dir=${WORK_DIR} --launcher="slurm" "${@:5}"
