# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet as an OpenMMLab backbone.

Importing mmsmlp registers ``SMLPNet`` and the
``LayerDecayOptimWrapperConstructor`` for mmpretrain, mmdet and mmseg
configs and lets torch's ``weights_only`` loading read the checkpoints that
mmengine writes (so ``--resume`` works on torch >= 2.6).
"""
from .engine import LayerDecayOptimWrapperConstructor
from .models import SMLPNet
from .utils import allow_mmengine_checkpoint_globals

__version__ = '0.1.0'
__all__ = ['LayerDecayOptimWrapperConstructor', 'SMLPNet', '__version__']

allow_mmengine_checkpoint_globals()
