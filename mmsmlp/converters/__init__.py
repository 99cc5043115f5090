# Copyright (c) mmsmlp contributors. All rights reserved.
from .smlpnet_official import (OFFICIAL_RELEASES, OFFICIAL_WEIGHTS,
                               TRUSTED_GLOBALS, CheckpointError,
                               convert_official_checkpoint,
                               is_official_checkpoint, official_to_mmpretrain)

__all__ = [
    'OFFICIAL_RELEASES', 'OFFICIAL_WEIGHTS', 'TRUSTED_GLOBALS',
    'CheckpointError', 'convert_official_checkpoint', 'is_official_checkpoint',
    'official_to_mmpretrain'
]
