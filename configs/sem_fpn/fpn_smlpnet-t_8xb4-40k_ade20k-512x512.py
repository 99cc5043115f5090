# Semantic FPN with an sMLPNet-T backbone on ADE20K (512x512 crops, 8 GPUs x 4
# images, 40k iterations), as mmseg's
# fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py: its AdamW + poly schedule,
# with mmseg's own FPN model and ADE20K data, in fp32 (--amp for PoolFormer's
# mixed precision), without weight decay on norms and biases (as all our
# configs) and with sliding-window testing (as our UperNet configs).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py'
]

custom_imports = dict(imports=['mmsmlp'], allow_failed_imports=False)

# A placeholder, see ../upernet/_base_/upernet_smlpnet-t.py.
checkpoint_file = 'checkpoints/smlpnet-tiny_in1k.pth'
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    # The backbone of our UperNet configs (see there), its reference grid
    # the training crop.
    backbone=dict(
        _delete_=True,
        type='SMLPNet',
        arch='tiny',
        img_size=crop_size,
        mixing_mode='resize',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    neck=dict(in_channels=[80, 160, 320, 640]),
    decode_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        begin=0,
        end=40000,
        eta_min=0.0,
        by_epoch=False)
]

train_dataloader = dict(batch_size=4)
