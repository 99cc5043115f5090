# Ablation baseline of the paper: sMLPNet-T with channel-MLP expansion
# alpha 2 instead of 3 (19.2M parameters, 81.3% top-1). The other tiny
# ablations change one thing of this model.
_base_ = ['../smlpnet-tiny_8xb128_in1k.py']

model = dict(
    backbone=dict(
        # _delete_: the base names the arch by a string, 'tiny'.
        arch=dict(_delete_=True, embed_dims=80, depths=(2, 8, 14,
                                                        2), alpha=2)))
