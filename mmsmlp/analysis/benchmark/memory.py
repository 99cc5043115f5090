# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Peak memory of one benchmark step on top of the model and its input
(docs/benchmark.md, "Peak memory"). On the CPU each measurement runs in a
fresh process, :mod:`mmsmlp.analysis.benchmark.memory_probe`."""
import json
import os
import subprocess
import sys
from typing import List

import torch

from mmsmlp.analysis.timing import synchronize
from .steps import Entry, step


def cuda_peak_bytes(entry, inputs, mode, amp_dtype) -> int:
    step(entry, inputs, mode, amp_dtype)  # warm-up (and compilation)
    synchronize(inputs.device)
    torch.cuda.reset_peak_memory_stats(inputs.device)
    before = torch.cuda.memory_allocated(inputs.device)
    step(entry, inputs, mode, amp_dtype)
    synchronize(inputs.device)
    return torch.cuda.max_memory_allocated(inputs.device) - before


def _status_kib(field_name: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field_name + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field_name}.')


def cpu_peak_bytes_here(entry, inputs, mode, amp_dtype) -> int:
    """Peak RSS growth of one step (run in a fresh process; see the module
    docstring)."""
    step(entry, inputs, mode, amp_dtype)  # warm-up (and compilation)
    before = _status_kib('VmRSS')
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')  # reset VmHWM to the current RSS
    step(entry, inputs, mode, amp_dtype)
    return (_status_kib('VmHWM') - before) * 1024


def cpu_peak_bytes(args, name: str, variant: str, shape, mode: str) -> int:
    """Measure one step's peak memory in a fresh process
    (:mod:`~.memory_probe`)."""
    command = [
        sys.executable, '-m', 'mmsmlp.analysis.benchmark.memory_probe',
        variant, name, '--shapes', f'{shape[0]}x{shape[1]}', '--batch-size',
        str(args.batch_size), '--modes', mode, '--amp-dtype', args.amp_dtype
    ] + (['--whole-model'] if args.whole_model else
         []) + (['--threads', str(args.threads)] if args.threads else
                []) + (['--channels-last'] if args.channels_last else [])
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'Memory probe {" ".join(command)} failed:\n'
                           f'{result.stderr[-3000:]}')
    return json.loads(result.stdout.strip().splitlines()[-1])['peak_bytes']


def measure_memory(args, entries: List[Entry], inputs, mode, shape):
    for entry in entries:
        if args.device.type == 'cuda':
            peak = cuda_peak_bytes(entry, inputs, mode, args.autocast_dtype)
        else:
            peak = cpu_peak_bytes(args, entry.name, entry.variant, shape, mode)
        entry.peak_bytes[mode] = peak
