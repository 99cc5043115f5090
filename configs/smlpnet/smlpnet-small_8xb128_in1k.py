# sMLPNet-S: C=96, depths (2, 10, 24, 2), official drop path 0.2.
_base_ = './smlpnet-tiny_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.2),
    head=dict(in_channels=768))
