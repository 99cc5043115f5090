# "Local only": the tiny alpha-2 baseline without the sMLP module; tokens are
# mixed by the depthwise 3x3 convolution alone (paper: 80.7%).
_base_ = ['./smlpnet-tiny-a2_8xb128_in1k.py']

model = dict(backbone=dict(token_mixing='dwconv'))
