# sMLP module design: H mixing then W mixing in series, without the identity
# branch.
_base_ = ['./smlpnet-tiny-a2_8xb128_in1k.py']

model = dict(backbone=dict(smlp_layout='sequential', smlp_identity=False))
