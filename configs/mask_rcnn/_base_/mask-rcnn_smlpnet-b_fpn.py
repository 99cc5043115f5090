# Mask R-CNN with an sMLPNet-B backbone; see mask-rcnn_smlpnet-t_fpn.py.
_base_ = './mask-rcnn_smlpnet-t_fpn.py'

# A placeholder path, see mask-rcnn_smlpnet-t_fpn.py.
pretrained = 'checkpoints/smlpnet-base_in1k.pth'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,  # the official ImageNet value for sMLPNet-B
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[112, 224, 448, 896]))
