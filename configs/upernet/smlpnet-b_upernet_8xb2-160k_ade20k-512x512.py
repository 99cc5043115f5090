_base_ = './smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py'

# Official sMLPNet-B ImageNet weights, converted (see docs/segmentation.md).
checkpoint_file = 'checkpoints/smlpnet-base_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[112, 224, 448, 896]),
    auxiliary_head=dict(in_channels=448))
