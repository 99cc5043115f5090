# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .smlpnet_official import (OFFICIAL_RELEASES, OFFICIAL_WEIGHTS,
                               TRUSTED_GLOBALS, CheckpointError,
                               convert_official_checkpoint, convert_state_dict,
                               is_official_checkpoint, official_to_mmpretrain,
                               select_weights)

__all__ = [
    'OFFICIAL_RELEASES', 'OFFICIAL_WEIGHTS', 'TRUSTED_GLOBALS',
    'CheckpointError', 'convert_official_checkpoint', 'convert_state_dict',
    'is_official_checkpoint', 'official_to_mmpretrain', 'select_weights'
]
