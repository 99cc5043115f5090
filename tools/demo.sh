#!/usr/bin/env bash
# The whole project on one machine: install (or reuse) the environment,
# draw the demo datasets, train sMLPNet classification, Mask R-CNN detection,
# Faster R-CNN box-only detection and UperNet segmentation demo models, test
# them and print the metrics they reached. Training and testing run on the
# GPU when torch sees one (mmengine's Runner picks it), else on the CPU.
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

# name  config  data generator [its options]
DEMOS=(
  "classification configs/smlpnet/smlpnet-demo_1xb32_shapes.py make_demo_cls"
  "detection configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py make_demo_det"
  "box-detection configs/faster_rcnn/faster-rcnn_smlpnet-demo_fpn_shapes.py make_demo_det --out data/demo/det-box --box-only"
  "segmentation configs/upernet/smlpnet-demo_upernet_shapes.py make_demo_seg"
)

for demo in "${DEMOS[@]}"; do
  read -r name config generator options <<<"$demo"
  log "drawing the $name dataset"
  # shellcheck disable=SC2086  # the options are separate words
  "$PYTHON" "tools/data/$generator.py" --seed 0 $options
done

summary=()
for demo in "${DEMOS[@]}"; do
  read -r name config _ <<<"$demo"
  run_dir="$WORK_DIR/$name"
  log "training $name: $config"
  "$PYTHON" tools/train.py "$config" --work-dir "$run_dir"
  log "testing $name"
  "$PYTHON" tools/test.py "$config" "$(cat "$run_dir/last_checkpoint")" --work-dir "$run_dir"
  summary+=("$name=$run_dir")
done

log "metrics reached on the $device (accuracy/top1 and mIoU in %, COCO mAP in [0, 1])"
"$PYTHON" tools/analysis_tools/print_metrics.py "${summary[@]}"
