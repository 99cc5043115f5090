# Faster R-CNN on box-only COCO data: the Mask R-CNN CPU demo without its mask
# branch, trained and evaluated (box mAP) on the demo shapes written without
# masks by
#   python tools/data/make_demo_det.py --out data/demo/det-box --box-only
# (see docs/detection.md). What changes is what changes for any box-only
# COCO data: the model, the annotations loaded and the metric.
_base_ = '../mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py'

data_root = 'data/demo/det-box/'
image_size = {{_base_.image_size}}

model = dict(
    type='FasterRCNN', roi_head=dict(mask_roi_extractor=None, mask_head=None))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator
