# CPU demo: the sMLPNet-T UperNet recipe scaled down to a narrow, shallow
# sMLPNet and 128x128 images of discs, rectangles and triangles drawn by
#   python tools/data/make_demo_seg.py --out data/demo/seg
# It trains from scratch in a few minutes on 2 CPU cores.
_base_ = './smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py'

crop_size = (128, 128)
num_classes = 4
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=16, depths=(1, 1, 2, 1), alpha=3),
        img_size=crop_size,
        drop_path_rate=0.,
        init_cfg=None),  # from scratch: there are no ImageNet weights
    decode_head=dict(
        in_channels=[16, 32, 64, 128], channels=32, num_classes=num_classes),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=num_classes),
    # The images have the reference size: a sliding window would be the image.
    test_cfg=dict(mode='whole', _delete_=True))

dataset_type = 'BaseSegDataset'
data_root = 'data/demo/seg'
metainfo = dict(
    classes=('background', 'disc', 'rectangle', 'triangle'),
    palette=[[0, 0, 0], [220, 20, 60], [0, 200, 0], [0, 90, 255]])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # A no-op on the 128 px images; other test sizes set its scale.
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# The generic mmseg dataset, told the classes of tools/data/make_demo_seg.py.
dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline,
        **dataset))
test_dataloader = val_dataloader

# From scratch, so a larger learning rate and a short schedule.
max_iters = 1000
optim_wrapper = dict(optimizer=dict(lr=0.004))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=100,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
randomness = dict(seed=0)  # reproducible demo numbers
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=max_iters))
