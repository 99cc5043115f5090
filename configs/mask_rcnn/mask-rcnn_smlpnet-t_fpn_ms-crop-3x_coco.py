_base_ = [
    './_base_/mask-rcnn_smlpnet-t_fpn.py',
    '../_base_/coco-instance_adamw_ms-crop-3x.py'
]
