# mmdet's 12-epoch schedule with the AdamW recipe of its Swin Mask R-CNN
# configs (batch 2 x 8 GPUs, lr 1e-4, weight decay 0.05, 1000 warm-up
# iterations, lr x 0.1 after epochs 8 and 11), for every detector here.
_base_ = [
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]

optim_wrapper = dict(
    type='OptimWrapper',
    # No weight decay on normalisation layers and biases, the sMLP biases
    # included, as in the ImageNet recipe (which skips all 1-D parameters).
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=0.0001,
        betas=(0.9, 0.999),
        weight_decay=0.05))

# The lr above is for 16 images per iteration (the inherited batch_size=2
# per GPU x 8 GPUs); the inherited auto_scale_lr (base_batch_size=16) scales
# it linearly to the actual total batch when training with --auto-scale-lr.
