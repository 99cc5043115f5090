# UperNet with an sMLPNet-T backbone: mmseg's _base_/models/upernet_swin.py
# with the backbone replaced by SMLPNet. The dataset configs set its reference
# grid (img_size) to their training crop, the number of classes and the test
# mode; the S and B configs change the variant, its drop path and checkpoint.
_base_ = 'mmseg::_base_/models/upernet_swin.py'

custom_imports = dict(imports=['mmsmlp'], allow_failed_imports=False)

# ImageNet-1k weights trained at 224 (converted official ones, or trained with
# configs/smlpnet/). The backbone interpolates the size-tied sMLP weights to
# its img_size grid when it loads them. Replace this placeholder, e.g. with
# --cfg-options model.backbone.init_cfg.checkpoint=/path/to/weights.pth;
# building the model and testing a trained checkpoint do not need the file.
checkpoint_file = 'checkpoints/smlpnet-tiny_in1k.pth'
# sMLPNet normalises with BatchNorm, and 2 images per GPU are too few for
# per-GPU statistics, so the backbone uses SyncBN like the heads of the base
# file (as mmseg's ResNet configs do); a single-process run reverts it to BN.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='SMLPNet',
        arch='tiny',
        mixing_mode='resize',
        # Swin-T raises its ImageNet drop path for UperNet; sMLPNet-T is
        # pretrained without it, so it gets a mild 0.1 here.
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
