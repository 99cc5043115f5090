# sMLPNet-T Mask R-CNN 1x with 'window' sMLP mixing instead of 'resize': the
# 224 weights applied unchanged within 224-pixel windows, shifted by half a
# window in every second block (see docs/detection.md for the comparison).
_base_ = './mask-rcnn_smlpnet-t_fpn_1x_coco.py'

model = dict(backbone=dict(mixing_mode='window'))
