# Train Mask R-CNN with an ImageNet-1k sMLPNet-S on your own instance masks
# in COCO format (mmdet's CocoDataset):
#   data/my_coco/annotations/instances_{train,val}.json
#   data/my_coco/{train,val}/*.png|jpg
# See docs/detection.md, "Train on your own data".
_base_ = '../mask_rcnn/mask-rcnn_smlpnet-s_fpn_1x_coco.py'

data_root = 'data/my_coco/'
# The category names of your annotation files, in their order there (mmdet
# numbers the labels in the order of the files' categories).
classes = ('disc', 'square', 'triangle')
# Images are resized to fit into this (width, height), keeping their aspect
# ratio (COCO: (1333, 800)).
image_scale = (320, 320)

model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=len(classes)),
        mask_head=dict(num_classes=len(classes))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
