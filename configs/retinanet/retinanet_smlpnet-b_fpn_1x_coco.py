_base_ = './retinanet_smlpnet-t_fpn_1x_coco.py'

# SPACH's ImageNet weights, converted as they load (docs/model_zoo.md).
pretrained = 'https://github.com/microsoft/SPACH/releases/download/v1.0/smlp_b.pth'  # noqa: E501

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,  # the official ImageNet value for sMLPNet-B
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
