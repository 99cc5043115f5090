# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .layer_decay_optim_wrapper_constructor import \
    LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor']
