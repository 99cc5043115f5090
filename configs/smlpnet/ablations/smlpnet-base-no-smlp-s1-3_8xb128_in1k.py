# sMLP stage study on sMLPNet-B: no sMLP module in stages 1-3, whose blocks
# mix tokens by the depthwise conv only. The paper reports accuracy
# decreasing step by step as sMLP is removed from more stages.
_base_ = ['../smlpnet-base_8xb128_in1k.py']

model = dict(
    backbone=dict(token_mixing=('dwconv', 'dwconv', 'dwconv', 'dwconv_smlp')))
