# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The sMLPNet backbone's achieved FLOP/s against the best rate this
machine's libraries reach on the backbone's own GEMM shapes (BLAS GEMM and
oneDNN 1x1 convolution, each shape timed alone), in one process::

    python tools/analysis_tools/gemm_limit.py tiny --shape 224 \\
        --batch-size 16 --dtypes float32 bfloat16

The measurement code is :mod:`mmsmlp.analysis.gemm_limit`; the process
tunes glibc's allocator as ``benchmark.py`` does (``MMSMLP_TUNE_MALLOC=0``
keeps the default).
"""
import argparse

import torch

from mmsmlp.analysis.gemm_limit import (format_report, gemm_limit,
                                        supported_dtypes)
from mmsmlp.models import SMLPNet
from mmsmlp.utils import tune_malloc


def parse_args():
    parser = argparse.ArgumentParser(
        description='Achieved FLOP/s against the best GEMM rates')
    parser.add_argument('arch', choices=sorted(SMLPNet.arch_zoo))
    parser.add_argument(
        '--shape', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument(
        '--dtypes',
        nargs='+',
        default=['float32'],
        choices=['float32', 'bfloat16'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    return parser.parse_args()


def main():
    args = parse_args()
    dtypes = supported_dtypes(args.dtypes)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SMLPNet(arch=args.arch, img_size=tuple(args.shape)).eval()
    inputs = torch.randn(args.batch_size, 3, *args.shape)
    print(f'sMLPNet-{args.arch}, {args.shape[0]}x{args.shape[1]}, batch '
          f'{args.batch_size}, {torch.get_num_threads()} threads, torch '
          f'{torch.__version__}, allocator: {tune_malloc()}')
    for dtype in dtypes:
        print(
            format_report(
                gemm_limit(model, inputs, dtype, args.repeats), dtype))


if __name__ == '__main__':
    main()
