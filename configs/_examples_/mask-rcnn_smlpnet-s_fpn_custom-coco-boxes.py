# Boxes only: your COCO annotation files have no "segmentation" masks. The
# config of mask-rcnn_smlpnet-s_fpn_custom-coco.py without its mask branch
# (a Faster R-CNN), trained and evaluated on boxes.
# See docs/detection.md, "Train on your own data".
_base_ = './mask-rcnn_smlpnet-s_fpn_custom-coco.py'

model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale={{_base_.image_scale}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale={{_base_.image_scale}}, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
