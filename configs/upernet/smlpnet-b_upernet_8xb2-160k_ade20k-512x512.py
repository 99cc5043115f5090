_base_ = './smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py'

# SPACH's ImageNet weights, converted as they load (docs/model_zoo.md).
checkpoint_file = 'https://github.com/microsoft/SPACH/releases/download/v1.0/smlp_b.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[112, 224, 448, 896]),
    auxiliary_head=dict(in_channels=448))
