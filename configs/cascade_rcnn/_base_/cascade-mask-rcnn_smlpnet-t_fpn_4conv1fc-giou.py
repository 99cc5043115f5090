# Cascade Mask R-CNN with an sMLPNet-T backbone, as mmdet's
# cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py:
# mmdet's ResNet-50 model with the backbone replaced and, in each of the three
# stages, a box head of 4 convolutions + 1 fc trained with the GIoU loss. The
# backbone is the one of ../../mask_rcnn/_base_/mask-rcnn_smlpnet-t_fpn.py
# (its comments give the reasons); it keeps the ImageNet drop path (ConvNeXt
# raises it to 0.4). The S and B model files inherit this one.
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['mmsmlp'], allow_failed_imports=False)

# A placeholder: see ../../mask_rcnn/_base_/mask-rcnn_smlpnet-t_fpn.py.
pretrained = 'checkpoints/smlpnet-tiny_in1k.pth'

# Per cascade stage: the box-delta normalisation of mmdet's cascade heads.
stage_target_stds = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1,
                                            0.1], [0.033, 0.033, 0.067, 0.067])

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
    neck=dict(in_channels=[80, 160, 320, 640]),
    roi_head=dict(bbox_head=[
        dict(
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=target_stds),
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        for target_stds in stage_target_stds
    ]))
