# Branch fusion study on sMLPNet-S: the three branches are added with learned
# per-channel weights (paper: 81.8%, against 83.1% with concat).
_base_ = ['../smlpnet-small_8xb128_in1k.py']

model = dict(backbone=dict(smlp_fusion='weighted_sum'))
