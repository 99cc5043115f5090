# sMLP module design: H mixing then W mixing in series (one branch) instead
# of two parallel branches, with the identity branch kept.
_base_ = ['./smlpnet-tiny-a2_8xb128_in1k.py']

model = dict(backbone=dict(smlp_layout='sequential'))
