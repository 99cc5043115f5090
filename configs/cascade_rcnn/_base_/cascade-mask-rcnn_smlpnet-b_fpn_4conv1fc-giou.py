# Cascade Mask R-CNN with an sMLPNet-B backbone; see the T model file.
_base_ = './cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou.py'

# SPACH's ImageNet weights, converted as they load (docs/model_zoo.md).
pretrained = 'https://github.com/microsoft/SPACH/releases/download/v1.0/smlp_b.pth'  # noqa: E501

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,  # the official ImageNet value for sMLPNet-B
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
