# sMLPNet-T on ImageNet-1k with the official (DeiT-style) recipe of SPACH:
# 8 GPUs x 128 images, AdamW lr 5e-4 * 1024 / 512, weight decay 0.05 without
# decay on norms, biases and other 1-D parameters, 300 epochs (20 of linear
# warm-up, then cosine to 1e-5), RandAugment m9 mstd0.5, random erasing 0.25,
# mixup 0.8 / cutmix 1.0, label smoothing 0.1, repeated augmentation and EMA.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmsmlp'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SMLPNet', arch='tiny', img_size=224, drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=640,
        # PyTorch's default nn.Linear initialisation, as the official model.
        init_cfg=None,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        # Mixup/CutMix targets are soft; top-1 on them is meaningless.
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

# Repeated augmentation: an epoch draws about a third of the images, each 3
# times, the copies on different GPUs (docs/classification.md).
train_dataloader = dict(batch_size=128, sampler=dict(type='RepeatAugSampler'))

# The official EMA decay 0.99996 per iteration, over weights and BN buffers
# (timm's ModelEma averages the whole state dict).
custom_hooks = [
    dict(
        type='EMAHook',
        momentum=4e-5,
        update_buffers=True,
        priority='ABOVE_NORMAL')
]
