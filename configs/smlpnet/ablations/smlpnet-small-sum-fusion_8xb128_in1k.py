# Branch fusion study on sMLPNet-S: the identity, W-mixed and H-mixed branches
# are added instead of concatenated and projected by a 1x1 layer
# (paper: 81.5%, against 83.1% with concat).
_base_ = ['../smlpnet-small_8xb128_in1k.py']

model = dict(backbone=dict(smlp_fusion='sum'))
