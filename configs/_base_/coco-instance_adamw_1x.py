# COCO instance segmentation (boxes and masks), 12 epochs, AdamW.
_base_ = ['mmdet::_base_/datasets/coco_instance.py', './schedule_adamw_1x.py']
