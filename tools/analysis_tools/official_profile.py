# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The official code itself (microsoft/SPACH ``models/smlp.py``), the
project's official-style baseline and sMLPNet, on the same weights, in one
process: logits, step times and an operator-by-operator profile::

    pip install timm einops   # what SPACH's file imports
    python tools/analysis_tools/official_profile.py SPACH/models/smlp.py \\
        --arch tiny --batch-size 16

The comparison code is :mod:`mmsmlp.analysis.official_profile`; the process
tunes glibc's allocator as ``benchmark.py`` does (``MMSMLP_TUNE_MALLOC=0``
keeps the default).
"""
import argparse

import torch

from mmsmlp.analysis.benchmark.report import cpu_model
from mmsmlp.analysis.official_profile import compare, load_spach_smlpnet
from mmsmlp.models import SMLPNet
from mmsmlp.testing import randomize_batch_norms
from mmsmlp.utils import tune_malloc


def parse_args():
    parser = argparse.ArgumentParser(
        description='SPACH sMLPNet vs the official-style baseline and ours')
    parser.add_argument('spach_smlp', help="SPACH's models/smlp.py")
    parser.add_argument(
        '--arch', default='tiny', choices=sorted(SMLPNet.arch_zoo))
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    return parser.parse_args()


def main():
    allocator = tune_malloc()
    args = parse_args()
    spach_class = load_spach_smlpnet(args.spach_smlp)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone = SMLPNet(arch=args.arch, img_size=args.img_size)
    with torch.no_grad():
        randomize_batch_norms(backbone)
    inputs = torch.randn(args.batch_size, 3, args.img_size, args.img_size)
    print(f'sMLPNet-{args.arch}, {args.img_size}x{args.img_size}, batch '
          f'{args.batch_size}, inference, fp32, {cpu_model()}, '
          f'{torch.get_num_threads()} threads, torch {torch.__version__}, '
          f'allocator: {allocator}')
    for section in compare(backbone, spach_class, inputs, args.repeats):
        print('\n' + section)


if __name__ == '__main__':
    main()
