# sMLPNet-B: C=112, depths (2, 10, 24, 2), official drop path 0.3.
_base_ = './smlpnet-tiny_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.3), head=dict(in_channels=896))
