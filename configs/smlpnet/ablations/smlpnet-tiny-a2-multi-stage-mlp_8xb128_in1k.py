# "Multi-stage MLP": the tiny alpha-2 pyramid with MLP-Mixer token mixing (one
# dense linear layer over all tokens) in stages 2-4 and the depthwise conv
# only in stage 1, where a dense 3136 x 3136 token MLP would not be affordable
# (paper: 77.8%). The dense layers are sized for 224 x 224 inputs: the model
# accepts no other input size.
_base_ = ['./smlpnet-tiny-a2_8xb128_in1k.py']

model = dict(backbone=dict(token_mixing=('dwconv', 'mlp', 'mlp', 'mlp')))
