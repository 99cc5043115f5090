# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""tune_malloc: the allocator setting the tools apply at start-up, checked in
fresh processes by where glibc puts a 64 MiB block."""
import ctypes
import json
import subprocess
import sys

import pytest

from mmsmlp.testing import environment_without_allocator_choices
from mmsmlp.utils import allocator
from mmsmlp.utils.allocator import MALLOPT_SETTINGS

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith('linux')
    or not hasattr(ctypes.CDLL(None), 'gnu_get_libc_version'),
    reason='glibc only')

# Tunes the allocator, then allocates 64 MiB (above glibc's largest default
# mmap threshold, 32 MiB) and reports whether the block lies in the heap
# (brk) or got a mapping of its own. The module runs on its own (it needs
# only the standard library), sparing the probe the import of torch.
PROBE = '''
import ctypes, json, runpy, sys
setting = runpy.run_path(sys.argv[1])['tune_malloc']()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
address = libc.malloc(64 << 20)
with open('/proc/self/maps') as maps:
    heap = [line.split()[0] for line in maps if '[heap]' in line]
start, end = (int(bound, 16) for bound in heap[0].split('-'))
print(json.dumps(dict(setting=setting, in_heap=start <= address < end)))
'''


def probe(**env):
    result = subprocess.run([sys.executable, '-c', PROBE, allocator.__file__],
                            env=environment_without_allocator_choices(**env),
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def test_mallopt_keeps_large_blocks_on_the_heap():
    report, stderr = probe()
    expected = ' '.join(f'{name}={value}'
                        for name, _, value in MALLOPT_SETTINGS)
    # Every mallopt call succeeded (a refusal would warn and be listed).
    assert report['setting'] == f'glibc, mallopt {expected}'
    assert 'refused' not in stderr
    assert report['in_heap']


def test_disabled_with_MMSMLP_TUNE_MALLOC_0():
    report, _ = probe(MMSMLP_TUNE_MALLOC='0')
    assert report == dict(
        setting='default (MMSMLP_TUNE_MALLOC=0)', in_heap=False)


def test_users_malloc_variables_are_left_alone():
    # What benchmark.py's CPU memory probe sets for itself.
    report, _ = probe(MALLOC_MMAP_THRESHOLD_='65536')
    assert report == dict(
        setting='glibc, from the environment: MALLOC_MMAP_THRESHOLD_=65536',
        in_heap=False)


def test_bad_switch_is_a_clear_error(monkeypatch):
    from mmsmlp.utils import tune_malloc
    monkeypatch.setenv('MMSMLP_TUNE_MALLOC', 'yes')
    with pytest.raises(ValueError, match='MMSMLP_TUNE_MALLOC'):
        tune_malloc()
