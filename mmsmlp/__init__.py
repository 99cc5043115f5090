# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet as an OpenMMLab backbone.

Importing mmsmlp registers ``SMLPNet`` and the
``LayerDecayOptimWrapperConstructor`` for mmpretrain, mmdet and mmseg
configs, lets torch's ``weights_only`` loading read the checkpoints that
mmengine writes (so ``--resume`` works on torch >= 2.6) and SPACH's
official checkpoints, converts official checkpoints wherever mmengine loads
one (``mmsmlp.utils.checkpoint``), and adds mmsmlp's
classifiers to mmpretrain's model names (``mmpretrain.get_model``) once
mmpretrain is imported, without importing it.
"""
from .engine import LayerDecayOptimWrapperConstructor
from .model_index import (get_config_path, register_model_index,
                          register_when_mmpretrain_loads)
from .models import SMLPNet
from .utils import (allow_mmengine_checkpoint_globals,
                    register_checkpoint_loaders)
from .version import __version__

__all__ = [
    'LayerDecayOptimWrapperConstructor', 'SMLPNet', 'get_config_path',
    'register_model_index', '__version__'
]

allow_mmengine_checkpoint_globals()
register_checkpoint_loaders()
register_when_mmpretrain_loads()
