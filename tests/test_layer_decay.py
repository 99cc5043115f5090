# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Layer-wise learning-rate decay with an sMLPNet backbone: mmpretrain's
constructor on a classifier, mmsmlp's on the detection and segmentation
config variants that use it."""
from importlib import import_module
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmsmlp import LayerDecayOptimWrapperConstructor
from mmsmlp.testing import SMALL_ARCH

REPO = Path(__file__).resolve().parents[1]


def learning_rates(model, optim_wrapper_cfg) -> dict:
    """The learning rate each parameter of ``model`` gets, by name."""
    optimizer = build_optim_wrapper(model, optim_wrapper_cfg).optimizer
    names = {id(param): name for name, param in model.named_parameters()}
    return {
        names[id(param)]: group['lr']
        for group in optimizer.param_groups
        for param in group['params']
    }


def small_classifier():
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='SMLPNet', arch=SMALL_ARCH, img_size=64),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=4, in_channels=64)))


def test_mmpretrain_constructor_decays_an_sMLPNet_classifier():
    optimizer = dict(type='AdamW', lr=0.64, weight_decay=0.05)
    paramwise_cfg = dict(layer_decay_rate=0.5)
    model = small_classifier()
    lrs = learning_rates(
        model,
        dict(
            constructor='LearningRateDecayOptimWrapperConstructor',
            optimizer=optimizer,
            paramwise_cfg=paramwise_cfg))
    assert lrs['backbone.stages.0.downsample.weight'] == 0.01  # 0.64 / 2**6
    assert lrs['backbone.stages.1.downsample.weight'] == 0.02
    assert lrs['backbone.stages.2.blocks.0.global_mixing.fuse.weight'] == (
        0.08)
    assert lrs['backbone.final_norm.weight'] == 0.64
    assert lrs['head.fc.weight'] == 0.64
    # mmsmlp's constructor assigns the same rates.
    assert learning_rates(
        model,
        dict(
            constructor='LayerDecayOptimWrapperConstructor',
            optimizer=optimizer,
            paramwise_cfg=paramwise_cfg)) == lrs


@pytest.mark.parametrize('scope,config,head_param', [
    ('mmdet', 'mask_rcnn/mask-rcnn_smlpnet-t_fpn_layer-decay_1x_coco.py',
     'roi_head.bbox_head.fc_cls.weight'),
    ('mmseg', 'upernet/smlpnet-t_upernet_8xb2-layer-decay-160k_ade20k-'
     '512x512.py', 'decode_head.conv_seg.weight'),
])
def test_layer_decay_configs(scope, config, head_param):
    """sMLPNet-T: stem, 26 blocks and final norm are layers 0-27."""
    import_module(f'{scope}.utils').register_all_modules()
    cfg = Config.fromfile(REPO / 'configs' / config)
    cfg.model.backbone.init_cfg = None
    model = import_module(f'{scope}.registry').MODELS.build(cfg.model)
    base_lr = cfg.optim_wrapper.optimizer.lr
    lrs = learning_rates(model, cfg.optim_wrapper)
    neck_param = ('neck.lateral_convs.0.conv.weight' if scope == 'mmdet' else
                  'decode_head.fpn_bottleneck.conv.weight')
    expected = {
        'backbone.stages.0.downsample.weight': 0.9**27,
        'backbone.stages.0.blocks.1.local_mixing.conv.weight': 0.9**25,
        # Block 6 of stage 2 is block 16 of 26: layer 17.
        'backbone.stages.2.blocks.6.global_mixing.fuse.weight': 0.9**10,
        'backbone.stages.3.downsample.weight': 0.9**3,
        'backbone.final_norm.weight': 1,
        neck_param: 1,
        head_param: 1,
    }
    for name, scale in expected.items():
        assert lrs[name] == pytest.approx(base_lr * scale), name
    # The config's other paramwise options still apply.
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    final_norm = model.backbone.final_norm.weight
    assert [
        g['weight_decay'] for g in groups.param_groups
        if g['params'][0] is final_norm
    ] == [0.]


def test_constructor_refuses_models_without_layer_depths():
    constructor = LayerDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='SGD', lr=0.1)), dict(layer_decay_rate=0.9))
    with pytest.raises(TypeError, match='get_layer_depth'):
        constructor(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match='layer_decay_rate'):
        LayerDecayOptimWrapperConstructor(
            dict(optimizer=dict(type='SGD', lr=0.1)), dict())
