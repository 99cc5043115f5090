# smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py with layer-wise learning-rate
# decay: each backbone layer (stem, 26 blocks, final layer) learns at 0.9x
# the rate of the next, the decode heads at the base rate
# (docs/segmentation.md). mmseg's own LearningRateDecayOptimizerConstructor
# only knows ConvNeXt and BEiT.
_base_ = './smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py'

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9))
