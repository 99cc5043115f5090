# COCO object detection (boxes only: masks are neither loaded nor needed),
# 12 epochs, AdamW.
_base_ = ['mmdet::_base_/datasets/coco_detection.py', './schedule_adamw_1x.py']
