# Train UperNet with an ImageNet-1k sMLPNet-S on your own images and label
# maps (mmseg's BaseSegDataset): one PNG per image, of the same size, whose
# pixel values are class indices (255: ignored).
#   data/my_seg/img_dir/{train,val}/xxx.jpg
#   data/my_seg/ann_dir/{train,val}/xxx.png
# See docs/segmentation.md, "Train on your own data".
_base_ = '../upernet/smlpnet-s_upernet_8xb2-160k_ade20k-512x512.py'

data_root = 'data/my_seg'
# Class i is label value i; the palette colours the visualisations.
classes = ('background', 'disc', 'rectangle', 'triangle')
palette = [[0, 0, 0], [220, 20, 60], [0, 200, 0], [0, 90, 255]]
# Training crop and sliding-window size; the backbone's sMLP weights are
# built for it.
crop_size = (256, 256)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    decode_head=dict(num_classes=len(classes)),
    auxiliary_head=dict(num_classes=len(classes)),
    test_cfg=dict(crop_size=crop_size, stride=(170, 170)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2 * crop_size[1], crop_size[0]),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='Resize', scale=(2 * crop_size[1], crop_size[0]),
        keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# reduce_zero_label=False: label 0 is a class. Set it to True when 0 marks
# unlabelled pixels (as in ADE20K): labels then shift down by one.
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(classes=classes, palette=palette),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline,
        **dataset))
test_dataloader = val_dataloader
# Shorter than ADE20K's 160k iterations, for a smaller dataset.
train_cfg = dict(max_iters=20000, val_interval=2000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=20000,
        by_epoch=False),
]
