# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What ``tools/`` needs to run mmpretrain, mmdet and mmseg configs alike."""
from .options import (add_common_args, add_prediction_dump, attach_pickle_dump,
                      enable_amp, enable_amp_test, enable_auto_scale_lr,
                      enable_show_dir, enable_tta, export_local_rank,
                      find_resume_checkpoint, set_resume,
                      use_atomic_checkpoints, use_seeded_training)
from .toolkit import (SUPPORTED_SCOPES, build_model, build_runner, check_file,
                      import_toolkit, load_config, tensor_forward)

__all__ = [
    'SUPPORTED_SCOPES', 'add_common_args', 'add_prediction_dump',
    'attach_pickle_dump', 'build_model', 'build_runner', 'check_file',
    'enable_amp', 'enable_amp_test', 'enable_auto_scale_lr', 'enable_show_dir',
    'enable_tta', 'export_local_rank', 'import_toolkit',
    'find_resume_checkpoint', 'load_config', 'set_resume', 'tensor_forward',
    'use_atomic_checkpoints', 'use_seeded_training'
]
