# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .environment import environment_without_allocator_choices
from .logs import logged_messages
from .norms import randomize_batch_norms
from .official_smlpnet import (OfficialSMLPNet, copy_weights_from_smlpnet,
                               official_from_smlpnet, random_official_model,
                               save_as_spach_trainer, write_official_standins)
from .small import SMALL_ARCH, run_demo_generator, small_smlpnet

__all__ = [
    'OfficialSMLPNet', 'copy_weights_from_smlpnet',
    'environment_without_allocator_choices', 'logged_messages',
    'official_from_smlpnet', 'random_official_model', 'randomize_batch_norms',
    'run_demo_generator', 'save_as_spach_trainer', 'SMALL_ARCH',
    'small_smlpnet', 'write_official_standins'
]
