# Cascade Mask R-CNN with an sMLPNet-S backbone; see the T model file.
_base_ = './cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou.py'

# SPACH's ImageNet weights, converted as they load (docs/model_zoo.md).
pretrained = 'https://github.com/microsoft/SPACH/releases/download/v1.0/smlp_s.pth'  # noqa: E501

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,  # the official ImageNet value for sMLPNet-S
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
