# Copyright (c) mmsmlp contributors. All rights reserved.
from .environment import environment_without_allocator_choices
from .logs import logged_messages
from .norms import randomize_batch_norms
from .official_smlpnet import (OfficialSMLPNet, copy_weights_from_smlpnet,
                               official_from_smlpnet, random_official_model,
                               save_as_spach_trainer)

__all__ = [
    'OfficialSMLPNet', 'copy_weights_from_smlpnet',
    'environment_without_allocator_choices', 'logged_messages',
    'official_from_smlpnet', 'random_official_model', 'randomize_batch_norms',
    'save_as_spach_trainer'
]
