# Cascade Mask R-CNN with an sMLPNet-B backbone; see the T model file.
_base_ = './cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou.py'

pretrained = 'checkpoints/smlpnet-base_in1k.pth'  # a placeholder

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,  # the official ImageNet value for sMLPNet-B
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
