_base_ = './retinanet_smlpnet-t_fpn_1x_coco.py'

pretrained = 'checkpoints/smlpnet-small_in1k.pth'  # a placeholder

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,  # the official ImageNet value for sMLPNet-S
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
