# UperNet with an sMLPNet-T backbone on ADE20K, following mmseg's
# swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py.
# The S and B configs inherit this file and change only the variant, its drop
# path rate and checkpoint.
_base_ = [
    './_base_/upernet_smlpnet-t.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py'
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # Reference grid 128/64/32/16: training crops get the sMLP weights at
    # exactly the size they are learnt at.
    backbone=dict(img_size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    # Sliding-window testing: each 512x512 window runs at the grid the
    # token-mixing weights were trained at. Whole-image testing (mode='whole')
    # also works, but it stretches those weights to every image's own
    # (non-square, up to 2048 px) grid, which training never saw.
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# AdamW without weight decay on normalisation layers and biases (those of
# the sMLP token-mixing layers included).
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
        end=160000,
        by_epoch=False,
    )
]

# By default, models are trained on 8 GPUs with 2 images per GPU
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
