#!/usr/bin/env bash
# The whole project on one machine: install (or reuse) the environment,
# draw the three demo datasets, train sMLPNet classification, Mask R-CNN
# detection and UperNet segmentation demo models, test them and print the
# metrics they reached. Training and testing run on the GPU when torch sees
# one (mmengine's Runner picks it), else on the CPU.
#
#   bash tools/demo.sh     # PYTHON=python3, WORK_DIR=work_dirs/demo by default
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PYTHON=${PYTHON:-python3}
WORK_DIR=${WORK_DIR:-work_dirs/demo}

log() { printf '\n[demo %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

log "installing (or reusing) the environment"
bash tools/install.sh
device=$("$PYTHON" -c 'import torch; print(f"GPU ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "CPU")')
log "training and testing on the $device"

# name  data generator  config
DEMOS=(
  "classification make_demo_cls configs/smlpnet/smlpnet-demo_1xb32_shapes.py"
  "detection make_demo_det configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py"
  "segmentation make_demo_seg configs/upernet/smlpnet-demo_upernet_shapes.py"
)

for demo in "${DEMOS[@]}"; do
  read -r name generator config <<<"$demo"
  log "drawing the $name dataset"
  "$PYTHON" "tools/data/$generator.py" --seed 0
done

summary=()
for demo in "${DEMOS[@]}"; do
  read -r name generator config <<<"$demo"
  run_dir="$WORK_DIR/$name"
  log "training $name: $config"
  "$PYTHON" tools/train.py "$config" --work-dir "$run_dir"
  log "testing $name"
  "$PYTHON" tools/test.py "$config" "$(cat "$run_dir/last_checkpoint")" --work-dir "$run_dir"
  summary+=("$name=$run_dir")
done

log "metrics reached on the $device (accuracy/top1 and mIoU in %, COCO mAP in [0, 1])"
"$PYTHON" tools/analysis_tools/print_metrics.py "${summary[@]}"
