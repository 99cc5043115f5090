_base_ = './retinanet_smlpnet-t_fpn_1x_coco.py'

pretrained = 'checkpoints/smlpnet-base_in1k.pth'  # a placeholder

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,  # the official ImageNet value for sMLPNet-B
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
