# Faster R-CNN for box-only COCO data, as mmdet's
# faster-rcnn_r50_fpn_1x_coco.py: our sMLPNet-B Mask R-CNN model without its
# mask branch, trained with AdamW.
_base_ = [
    '../mask_rcnn/_base_/mask-rcnn_smlpnet-b_fpn.py',
    '../_base_/coco-detection_adamw_1x.py'
]

model = dict(
    type='FasterRCNN', roi_head=dict(mask_roi_extractor=None, mask_head=None))
