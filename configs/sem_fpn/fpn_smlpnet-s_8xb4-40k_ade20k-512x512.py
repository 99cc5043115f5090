_base_ = './fpn_smlpnet-t_8xb4-40k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/smlpnet-small_in1k.pth'  # a placeholder
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
