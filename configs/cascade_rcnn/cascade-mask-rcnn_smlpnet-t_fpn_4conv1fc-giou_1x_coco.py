# The 3x model on mmdet's 1x single-scale schedule, with AdamW.
_base_ = [
    './_base_/cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou.py',
    '../_base_/coco-instance_adamw_1x.py'
]
