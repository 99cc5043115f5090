# UperNet with an sMLPNet-T backbone on Cityscapes (512x1024 crops, 4 GPUs x 2
# images, 80k iterations), as mmseg's
# upernet_r50_4xb2-80k_cityscapes-512x1024.py but with the AdamW recipe of our
# ADE20K configs instead of SGD, and with sliding-window instead of
# whole-image testing (see docs/segmentation.md).
_base_ = [
    './_base_/upernet_smlpnet-t.py', 'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py'
]

crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # A non-square reference grid, 128x256 tokens at stride 4, so training
    # crops use the sMLP weights at the size they are learnt at; the 56x56
    # weights of 224 ImageNet checkpoints are resized to it on load.
    backbone=dict(img_size=crop_size),
    # Windows of the crop size, half a crop apart: 3x3 windows tile a
    # 1024x2048 image exactly.
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(256, 512)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))

param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=80000,
        by_epoch=False,
    )
]
