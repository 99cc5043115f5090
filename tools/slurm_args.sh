# The srun task options slurm_train.sh and slurm_test.sh share, from the environment:
#   GPUS            tasks in all, one per GPU or CPU process (default 8)
#   GPUS_PER_NODE   GPUs per node (default 8); 0 on CPU nodes, which reject --gres=gpu
#   TASKS_PER_NODE  tasks per node (default: GPUS_PER_NODE, or GPUS on CPU nodes)
#   CPUS_PER_TASK   CPU cores per task (default 5)
#   SRUN_ARGS       further srun options
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
if [ "${GPUS_PER_NODE}" -gt 0 ]; then
  TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS_PER_NODE}}
else
  TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS}}
fi
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

SLURM_TASK_ARGS=(
  --ntasks="${GPUS}"
  --ntasks-per-node="${TASKS_PER_NODE}"
  --cpus-per-task="${CPUS_PER_TASK}"
  --kill-on-bad-exit=1
)
if [ "${GPUS_PER_NODE}" -gt 0 ]; then
  SLURM_TASK_ARGS+=(--gres=gpu:"${GPUS_PER_NODE}")
fi
