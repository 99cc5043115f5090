# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .distributed import (CPUDistributedDataParallel, GlooSyncBatchNorm,
                          configure_distributed, free_port,
                          shut_down_distributed)
from .hooks import AtomicCheckpointHook, IterationSeedHook
from .optimizers import LayerDecayOptimWrapperConstructor

__all__ = [
    'AtomicCheckpointHook', 'CPUDistributedDataParallel', 'GlooSyncBatchNorm',
    'IterationSeedHook', 'configure_distributed', 'free_port',
    'LayerDecayOptimWrapperConstructor', 'shut_down_distributed'
]
