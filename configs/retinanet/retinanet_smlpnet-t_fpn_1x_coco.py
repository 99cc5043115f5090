# RetinaNet with an sMLPNet-T backbone, as mmdet's
# retinanet_swin-t-p4-w7_fpn_1x_coco.py: mmdet's ResNet-50 RetinaNet with the
# backbone of ../mask_rcnn/_base_/mask-rcnn_smlpnet-t_fpn.py (its comments
# give the reasons). Unlike that config (SGD, lr 0.01), it trains with the
# AdamW recipe of the Swin paper's RetinaNet and of our Mask R-CNN configs.
# The FPN starts at stage 1 (stride 8), as for ResNet-50.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/coco-detection_adamw_1x.py'
]

custom_imports = dict(imports=['mmsmlp'], allow_failed_imports=False)

# A placeholder: see ../mask_rcnn/_base_/mask-rcnn_smlpnet-t_fpn.py.
pretrained = 'checkpoints/smlpnet-tiny_in1k.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SMLPNet',
        arch='tiny',
        img_size=224,
        mixing_mode='resize',
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        with_cp=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[80, 160, 320, 640]))
