# Your own grayscale images smaller than 32 pixels (here 28 x 28, as MNIST),
# in the class folders of smlpnet-small_custom-cls.py. sMLPNet downsamples
# 32 times, so images are resized to 32 px; the stem takes one channel, so
# the model trains from scratch (the ImageNet stem has three).
# See docs/classification.md, "Train on your own data".
_base_ = './smlpnet-small_custom-cls.py'

img_size = 32

model = dict(backbone=dict(in_channels=1, img_size=img_size, init_cfg=None))
data_preprocessor = dict(mean=[127.5], std=[127.5])

train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=img_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
