# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .allocator import tune_malloc
from .checkpoint import (allow_mmengine_checkpoint_globals,
                         read_checkpoint_meta, register_checkpoint_loaders)

__all__ = [
    'allow_mmengine_checkpoint_globals', 'read_checkpoint_meta',
    'register_checkpoint_loaders', 'tune_malloc'
]
