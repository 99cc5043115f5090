# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Tell glibc's allocator to keep large blocks, for the tools' processes.

By default glibc serves every block above its mmap threshold (128 KiB,
adapting up to 32 MiB) with a fresh ``mmap``, unmaps it on ``free`` and
returns free memory at the top of its heap to the system beyond twice that
threshold. A network's activations are such blocks, so each layer's output
is page-faulted in anew in every step; on the CPU that costs a good part of
the time of the arithmetic (see ``docs/tools.md``). :func:`tune_malloc`
raises these limits with ``mallopt`` so that freed activations stay mapped
and are reused. The entry points call it (``tools/train.py``,
``tools/test.py``, ``tools/analysis_tools/benchmark.py``), never the model.
Library users set the equivalent ``MALLOC_*_`` environment variables or
preload jemalloc or tcmalloc.
"""
import ctypes
import os
import sys
import warnings

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

# Blocks under 1 GiB come from the heap, which keeps up to 2 GiB of free
# memory at its top instead of returning it, and grows by 512 MiB more than
# each request. (The environment form, MALLOC_TRIM_THRESHOLD_, can say 4 GiB;
# mallopt takes an int, so 2 GiB - 1 is the largest bound it accepts.)
MALLOPT_SETTINGS = (
    ('M_MMAP_THRESHOLD', M_MMAP_THRESHOLD, 1 << 30),
    ('M_TRIM_THRESHOLD', M_TRIM_THRESHOLD, (1 << 31) - 1),
    ('M_TOP_PAD', M_TOP_PAD, 512 << 20),
)
# LD_PRELOAD libraries that replace malloc; glibc's mallopt would not apply.
OTHER_ALLOCATORS = ('jemalloc', 'tcmalloc', 'mimalloc')


def _glibc():
    """The C library of this process if it is glibc, else None."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, 'gnu_get_libc_version') or not hasattr(
            libc, 'mallopt'):
        return None
    return libc


def _user_setting():
    """How the user already chose the allocator's behaviour, if they did."""
    preloaded = [
        name for name in OTHER_ALLOCATORS
        if name in os.environ.get('LD_PRELOAD', '')
    ]
    if preloaded:
        return f'{preloaded[0]} (LD_PRELOAD)'
    malloc_vars = sorted(f'{key}={value}' for key, value in os.environ.items()
                         if key.startswith('MALLOC_') and key.endswith('_'))
    if malloc_vars:
        return f'glibc, from the environment: {" ".join(malloc_vars)}'
    if 'glibc.malloc.' in os.environ.get('GLIBC_TUNABLES', ''):
        return 'glibc, from GLIBC_TUNABLES'
    return None


def tune_malloc() -> str:
    """Apply :data:`MALLOPT_SETTINGS` to glibc's allocator, unless the user
    chose the allocator's behaviour (``MALLOC_*_`` variables,
    ``GLIBC_TUNABLES``, jemalloc/tcmalloc in ``LD_PRELOAD``) or set
    ``MMSMLP_TUNE_MALLOC=0``, or the C library is not glibc.

    Call it at the start of a process: it affects the blocks allocated after
    it, in this process and in the processes it forks.

    Returns:
        str: the allocator setting in effect, for logs.
    """
    enabled = os.environ.get('MMSMLP_TUNE_MALLOC', '1')
    if enabled not in ('0', '1'):
        raise ValueError(f'MMSMLP_TUNE_MALLOC={enabled!r}: set it to 1 '
                         '(default: tune glibc malloc) or 0 (leave it).')
    user_setting = _user_setting()
    if user_setting is not None:
        return user_setting
    if enabled == '0':
        return 'default (MMSMLP_TUNE_MALLOC=0)'
    libc = _glibc()
    if libc is None:
        return 'default (not glibc)'
    applied, refused = [], []
    for name, param, value in MALLOPT_SETTINGS:
        ok = libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1
        (applied if ok else refused).append(f'{name}={value}')
    if refused:
        warnings.warn(f'glibc mallopt refused {", ".join(refused)}; large '
                      'blocks may still be mapped and unmapped per use.')
    return 'glibc, mallopt ' + ' '.join(applied) + (
        f' (refused: {" ".join(refused)})' if refused else '')
