from .allocator import tune_malloc
from .checkpoint import allow_mmengine_checkpoint_globals

__all__ = ['allow_mmengine_checkpoint_globals', 'tune_malloc']
