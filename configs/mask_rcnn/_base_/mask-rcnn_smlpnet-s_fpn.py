# Mask R-CNN with an sMLPNet-S backbone; see mask-rcnn_smlpnet-t_fpn.py.
_base_ = './mask-rcnn_smlpnet-t_fpn.py'

# A placeholder path, see mask-rcnn_smlpnet-t_fpn.py.
pretrained = 'checkpoints/smlpnet-small_in1k.pth'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,  # the official ImageNet value for sMLPNet-S
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
