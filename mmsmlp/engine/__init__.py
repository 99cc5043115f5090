# Copyright (c) mmsmlp contributors. All rights reserved.
from .distributed import (CPUDistributedDataParallel, GlooSyncBatchNorm,
                          configure_distributed)

__all__ = [
    'CPUDistributedDataParallel', 'GlooSyncBatchNorm', 'configure_distributed'
]
