# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""mmsmlp registers its modules in mmengine's root ``MODELS`` registry.

The registries of mmpretrain, mmdet and mmseg are children of that root and
fall back to it for names they do not define, so ``type='SMLPNet'`` builds
in configs of all three toolkits without a scope prefix.
"""
from mmengine.registry import MODELS

__all__ = ['MODELS']
