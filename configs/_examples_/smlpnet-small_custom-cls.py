# Fine-tune an ImageNet-1k sMLPNet-S on your own images, sorted into one
# folder per class (mmpretrain's CustomDataset):
#   data/my_cls/train/<class>/*.png|jpg
#   data/my_cls/val/<class>/*.png|jpg
# See docs/classification.md, "Train on your own data".
_base_ = '../smlpnet/smlpnet-small_8xb128_in1k.py'

data_root = 'data/my_cls'
# The folder names; CustomDataset numbers the classes in sorted order.
classes = ('checkerboard', 'disc', 'ring', 'square', 'stripes', 'triangle')
# Training crop. The size-tied sMLP weights of the 224 checkpoint are
# resampled to this size when they load.
img_size = 64

model = dict(
    backbone=dict(
        img_size=img_size,
        # SPACH's official sMLPNet-S weights, converted as they load.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/microsoft/SPACH/releases/download/'
            'v1.0/smlp_s.pth',
            prefix='backbone.')),
    head=dict(num_classes=len(classes)))
data_preprocessor = dict(num_classes=len(classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
dataset = dict(type='CustomDataset', data_root=data_root, classes=classes)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True, data_prefix='train', pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True, data_prefix='val', pipeline=test_pipeline, **dataset))
test_dataloader = val_dataloader

# 30 epochs, 2 of them warm-up, then cosine decay.
train_cfg = dict(max_epochs=30)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=2,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2),
]
# The ImageNet recipe's EMA (decay 0.99996 per iteration) would barely move
# from the initial weights in a short fine-tuning run.
custom_hooks = []
