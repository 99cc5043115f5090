# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .distributed import (CPUDistributedDataParallel, GlooSyncBatchNorm,
                          configure_distributed)
from .optimizers import LayerDecayOptimWrapperConstructor

__all__ = [
    'CPUDistributedDataParallel', 'GlooSyncBatchNorm', 'configure_distributed',
    'LayerDecayOptimWrapperConstructor'
]
