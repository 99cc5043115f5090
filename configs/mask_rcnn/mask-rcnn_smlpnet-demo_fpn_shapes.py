# Mask R-CNN with a reduced sMLPNet, trained from scratch on the procedurally
# drawn shapes of tools/data/make_demo_det.py: the COCO configs' model,
# dataset class, metric and optimizer at a scale that trains on a CPU in a
# few minutes. Make the data with
#   python tools/data/make_demo_det.py --out data/demo/det
# then train and test with tools/train.py and tools/test.py as usual (see
# docs/detection.md for the commands and the result).
_base_ = [
    './_base_/mask-rcnn_smlpnet-t_fpn.py',
    '../_base_/coco-instance_adamw_1x.py'
]

data_root = 'data/demo/det/'
metainfo = dict(classes=('disc', 'square', 'triangle'))
num_classes = 3
image_size = 160  # the generator's largest side (--max-size)
width = 64  # of the FPN and the RoI heads (256/1024 in the COCO model)

model = dict(
    backbone=dict(
        # replaces arch='tiny' of the base (a str cannot merge with a dict)
        arch=dict(_delete_=True, embed_dims=32, depths=(1, 1, 2, 1)),
        img_size=image_size,
        # Trained from scratch there are no pretrained statistics to keep
        # frozen, so BatchNorm learns them from the batches of 8 images.
        norm_eval=False,
        # 160-px images need no activation checkpointing.
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=width),
    rpn_head=dict(
        in_channels=width,
        feat_channels=width,
        # Anchors of 16-256 px instead of 32-512 px for objects of 20-70 px.
        anchor_generator=dict(scales=[4])),
    # RoIAlign with 2x2 samples per bin instead of adaptive sampling, as in
    # Detectron2: a third faster on the CPU.
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=width),
        bbox_head=dict(
            in_channels=width, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=width),
        mask_head=dict(
            in_channels=width,
            conv_out_channels=width,
            num_classes=num_classes)),
    # Fewer proposals and sampled RoIs: images hold at most 4 objects.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# Images have different sizes; the data preprocessor pads each batch to a
# multiple of 32, in training and in evaluation.
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 5  # 250 iterations
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[4],
        gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))

default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
randomness = dict(seed=0)
