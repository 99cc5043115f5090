# "Global only": the tiny alpha-2 baseline without the depthwise-conv branch;
# tokens are mixed by the sMLP module alone (paper: 19.1M, 80.6%).
_base_ = ['./smlpnet-tiny-a2_8xb128_in1k.py']

model = dict(backbone=dict(token_mixing='smlp'))
