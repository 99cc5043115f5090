# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet as an OpenMMLab backbone.

Importing mmsmlp registers ``SMLPNet``, the
``LayerDecayOptimWrapperConstructor`` and the seeded-training sampler,
dataset and hook for mmpretrain, mmdet and mmseg configs, lets torch's
``weights_only`` loading read the checkpoints that mmengine writes (so
``--resume`` works on torch >= 2.6) and SPACH's official checkpoints,
converts official sMLPNet checkpoints (SPACH's release URLs and such files
on disk) as mmengine loads them (``mmsmlp.utils.checkpoint``), and adds
mmsmlp's classifiers to mmpretrain's model names (``mmpretrain.get_model``)
once mmpretrain is imported, without importing it.
"""
from .datasets import SeededDataset, SeededSampler
from .engine import IterationSeedHook, LayerDecayOptimWrapperConstructor
from .model_index import (get_config_path, register_model_index,
                          register_when_mmpretrain_loads)
from .models import SMLPNet
from .utils import (allow_mmengine_checkpoint_globals,
                    register_checkpoint_loaders)
from .version import __version__

__all__ = [
    'IterationSeedHook', 'LayerDecayOptimWrapperConstructor', 'SMLPNet',
    'SeededDataset', 'SeededSampler', 'get_config_path',
    'register_model_index', '__version__'
]

allow_mmengine_checkpoint_globals()
register_checkpoint_loaders()
register_when_mmpretrain_loads()
