# sMLP module design: parallel W and H branches as in the paper, but without
# the identity branch (two branches concatenated and fused).
_base_ = ['./smlpnet-tiny-a2_8xb128_in1k.py']

model = dict(backbone=dict(smlp_identity=False))
