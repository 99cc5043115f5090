# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
import os

# What a user sets to choose the allocator's behaviour, which
# mmsmlp.utils.tune_malloc then leaves alone.
ALLOCATOR_VARIABLES = ('MMSMLP_TUNE_MALLOC', 'LD_PRELOAD', 'GLIBC_TUNABLES')


def environment_without_allocator_choices(**overrides: str) -> dict:
    """This process's environment without the variables that choose the
    memory allocator's behaviour (``MALLOC_*``, ``LD_PRELOAD``,
    ``GLIBC_TUNABLES``, ``MMSMLP_TUNE_MALLOC``), plus ``overrides``: for a
    child process whose allocator setting a test decides."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith('MALLOC_') and key not in ALLOCATOR_VARIABLES
    }
    env.update(overrides)
    return env
