# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Layer-wise learning-rate decay for detectors and segmentors.

mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` asks the model
for ``get_layer_depth``, which its classifiers forward to the backbone;
mmdet's and mmseg's ``LearningRateDecayOptimizerConstructor`` hard-code the
layer counting of ConvNeXt and BEiT and refuse other backbones. The
constructor here follows mmpretrain's convention for any model whose
backbone has ``get_layer_depth`` (``SMLPNet``, and mmpretrain's backbones),
so it serves mmpretrain, mmdet and mmseg models alike. It is registered in
mmengine's root registry, which the toolkits' registries fall back to.
"""
from functools import partial
from typing import Callable, List, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Scale each parameter's learning rate by its depth in the backbone.

    A parameter in layer ``d`` of ``L`` (``backbone.get_layer_depth``) gets
    ``lr * layer_decay_rate ** (L - d - 1)``: the stem gets the smallest
    rate, the backbone's last layer and everything after it (neck, heads)
    the base rate, as with mmpretrain's constructor. All options of
    :class:`DefaultOptimWrapperConstructor` apply as well (``custom_keys``,
    ``norm_decay_mult``, ``bias_decay_mult``, ...; an ``lr_mult`` multiplies
    the decayed rate).

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='LayerDecayOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     paramwise_cfg=dict(layer_decay_rate=0.9,
        ...                        norm_decay_mult=0., bias_decay_mult=0.))

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config, with
            ``optimizer``.
        paramwise_cfg (dict): ``layer_decay_rate`` (float in (0, 1]) and any
            option of :class:`DefaultOptimWrapperConstructor`.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        rate = self.paramwise_cfg.get('layer_decay_rate')
        if not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(
                f'{type(self).__name__} needs paramwise_cfg.layer_decay_rate '
                f'in (0, 1], got {rate!r}; e.g. paramwise_cfg=dict('
                f'layer_decay_rate=0.9).')
        self.layer_decay_rate = rate

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   **kwargs) -> None:
        super().add_params(params, module, prefix, **kwargs)
        if prefix:  # DefaultOptimWrapperConstructor's recursion
            return
        layer_depth = _layer_depth_function(module)
        names = {id(param): name for name, param in module.named_parameters()}
        scales = {}
        for group in params:
            depth, num_layers = layer_depth(names[id(group['params'][0])])
            scales[depth] = self.layer_decay_rate**(num_layers - depth - 1)
            group['lr'] = group.get('lr', self.base_lr) * scales[depth]
        summary = ', '.join(f'{scales[d]:.3g} (layer {d})'
                            for d in sorted(scales))
        print_log(
            f'Layer-wise lr decay {self.layer_decay_rate}: lr x {summary}',
            logger='current')


LayerDepth = Callable[[str], Tuple[int, int]]


def _layer_depth_function(model: nn.Module) -> LayerDepth:
    """``(depth, number of layers)`` of a parameter of ``model`` by name."""
    if hasattr(model, 'get_layer_depth'):  # mmpretrain's classifiers
        return model.get_layer_depth
    backbone = getattr(model, 'backbone', None)
    if hasattr(backbone, 'get_layer_depth'):
        return partial(backbone.get_layer_depth, prefix='backbone.')
    raise TypeError(
        f'LayerDecayOptimWrapperConstructor needs a model with a '
        f'get_layer_depth method or a backbone with one (e.g. SMLPNet); '
        f'{type(model).__name__} with backbone {type(backbone).__name__} '
        f'has none.')
