# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What a fresh large tensor costs on the CPU, next to the work done on it,
under the allocator setting the tools use.

    python tools/analysis_tools/allocation_cost.py [--tokens 100352] \
        [--channels 80] [--alpha 3] [--repeats 7]
    MMSMLP_TUNE_MALLOC=0 python tools/analysis_tools/allocation_cost.py

The defaults are sMLPNet-T's first-stage channel MLP at 224x224, batch 32:
``tokens`` x ``channels`` features and an ``alpha`` times wider hidden layer.
For the hidden layer, the script times (median of ``--repeats``, ms) filling a
newly allocated tensor against filling one allocated once, the fc1 GEMM into
a reused output, and GELU into a new tensor against GELU in place. glibc's
default allocator serves blocks above its mmap threshold (at most 32 MiB)
with a new mapping, which the kernel page-faults in on first touch; the
difference between the first two numbers is that cost. The script tunes the
allocator as ``tools/train.py`` does (``mmsmlp.utils.tune_malloc``) and
prints the setting; ``MMSMLP_TUNE_MALLOC=0`` shows glibc's default.
"""
import argparse

import torch
import torch.nn.functional as F

from mmsmlp.analysis.timing import median_seconds
from mmsmlp.utils import tune_malloc


def main():
    allocator = tune_malloc()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tokens', type=int, default=32 * 56 * 56)
    parser.add_argument('--channels', type=int, default=80)
    parser.add_argument('--alpha', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=7)
    args = parser.parse_args()

    shape = (args.tokens, args.alpha * args.channels)
    features = torch.randn(args.tokens, args.channels)
    weight = torch.randn(shape[1], args.channels)
    bias = torch.randn(shape[1])
    hidden = torch.empty(shape)
    with torch.no_grad():
        rows = [
            ('fill a new tensor', lambda: torch.empty(shape).fill_(1)),
            ('fill a reused tensor', lambda: hidden.fill_(1)),
            ('fc1 GEMM into a reused tensor',
             lambda: torch.addmm(bias, features, weight.t(), out=hidden)),
            ('GELU into a new tensor', lambda: F.gelu(hidden)),
            ('GELU in place', lambda: torch._C._nn.gelu(hidden, out=hidden)),
        ]
        print(f'hidden layer {shape[0]} x {shape[1]} float32 '
              f'({hidden.numel() * 4 / 2**20:.0f} MiB), '
              f'{torch.get_num_threads()} threads, allocator: {allocator}, '
              f'median of {args.repeats}:')
        for name, run in rows:
            ms = median_seconds(run, args.repeats) * 1e3
            print(f'  {name:32s} {ms:7.1f} ms')


if __name__ == '__main__':
    main()
