# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .optimizers import LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor']
