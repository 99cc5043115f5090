# Copyright (c) mmsmlp contributors. All rights reserved.
from .norms import randomize_batch_norms
from .official_smlpnet import (OfficialSMLPNet, copy_weights_from_smlpnet,
                               official_from_smlpnet)

__all__ = [
    'OfficialSMLPNet', 'copy_weights_from_smlpnet', 'official_from_smlpnet',
    'randomize_batch_norms'
]
