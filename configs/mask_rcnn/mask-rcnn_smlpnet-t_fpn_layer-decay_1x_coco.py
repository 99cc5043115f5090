# mask-rcnn_smlpnet-t_fpn_1x_coco.py with layer-wise learning-rate decay:
# each backbone layer (stem, 26 blocks, final layer) learns at 0.9x the rate
# of the next, the neck and heads at the base rate (docs/detection.md).
# mmdet's own LearningRateDecayOptimizerConstructor only knows ConvNeXt.
_base_ = './mask-rcnn_smlpnet-t_fpn_1x_coco.py'

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9))
