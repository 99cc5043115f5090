_base_ = './smlpnet-t_upernet_4xb2-80k_cityscapes-512x1024.py'

checkpoint_file = 'checkpoints/smlpnet-base_in1k.pth'  # a placeholder
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[112, 224, 448, 896]),
    auxiliary_head=dict(in_channels=448))
