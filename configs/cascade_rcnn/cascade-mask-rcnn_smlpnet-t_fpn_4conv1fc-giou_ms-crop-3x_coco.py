# ConvNeXt's Cascade Mask R-CNN 3x recipe with the AdamW settings of our
# Mask R-CNN configs (Swin's: lr 1e-4, no layer-wise lr decay) and in fp32
# (train with --amp for ConvNeXt's mixed precision).
_base_ = [
    './_base_/cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou.py',
    '../_base_/coco-instance_adamw_ms-crop-3x.py'
]
