# sMLPNet-T Mask R-CNN 1x with 'resize' sMLP mixing instead of 'window'
# (see _base_/mask-rcnn_smlpnet-t_fpn.py for the trade-off).
_base_ = './mask-rcnn_smlpnet-t_fpn_1x_coco.py'

model = dict(backbone=dict(mixing_mode='resize'))
