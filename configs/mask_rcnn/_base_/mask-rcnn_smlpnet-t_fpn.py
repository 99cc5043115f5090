# Mask R-CNN with an sMLPNet-T backbone: mmdet's ResNet-50 FPN model with
# the backbone and the FPN input widths replaced. The S and B model files
# inherit this one and change the variant only.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['mmsmlp'], allow_failed_imports=False)

# An ImageNet-1k sMLPNet-T classifier checkpoint in mmpretrain format (keys
# 'backbone.*'), e.g. one trained with configs/smlpnet/ or converted from the
# official weights. This path is a placeholder: pass your file with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# or train from scratch with --cfg-options model.backbone.init_cfg=None.
pretrained = 'checkpoints/smlpnet-tiny_in1k.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SMLPNet',
        arch='tiny',
        # The sMLP weights are N x N matrices tied to the ImageNet token grid
        # (224 px: 56/28/14/7 tokens), while a 1333x800 COCO image gives up
        # to 200x336 tokens. 'resize' resamples each matrix to the padded
        # length of the batch (global mixing along each axis, as at 224); it
        # beat 'window' (the matrices unchanged within shifted 224-pixel
        # windows) in the mixing-mode study of docs/detection.md.
        # mask-rcnn_smlpnet-t-window_fpn_1x_coco.py is the 'window' variant.
        img_size=224,
        mixing_mode='resize',
        drop_path_rate=0.,  # the official ImageNet value for sMLPNet-T
        out_indices=(0, 1, 2, 3),
        # At 1333x800, sMLPNet-T keeps 1.5-1.6x Swin-T's activations for the
        # backward pass (8 and 14 blocks at strides 8 and 16, against Swin-T's
        # 2 and 6). Recomputing each block in the backward pass brings the
        # training-step peak to 0.24x Swin-T's for about 1.2x the step time
        # (docs/benchmark.md); set with_cp=False when memory is plentiful.
        with_cp=True,
        # Every block normalises with BatchNorm, and Mask R-CNN trains with 2
        # images per GPU, too few for batch statistics. We keep the
        # pretrained ImageNet statistics frozen (norm_eval=True; the affine
        # parameters still train), as mmdet does for ResNet. SyncBN over 8x2
        # images would be the alternative, but mmengine reverts SyncBN to
        # plain BN in a non-distributed run, so results would depend on the
        # launcher and single-GPU runs would normalise over 2 images; frozen
        # statistics give the same model for any number of GPUs.
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[80, 160, 320, 640]))
