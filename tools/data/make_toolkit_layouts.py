# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Write small COCO 2017, ADE20K, Cityscapes and ImageNet datasets in the
toolkits' real layouts under ROOT/data (see mmsmlp.datasets.layouts), so
that the shipped configs run unchanged from ROOT. Example::

    python tools/data/make_toolkit_layouts.py work_dirs/layouts --num-train 8
"""
import argparse

from mmsmlp.datasets.layouts import LAYOUTS, write_layouts


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write datasets in the toolkits\' on-disk layouts')
    parser.add_argument('root', help='the directory to run the configs from')
    parser.add_argument(
        '--datasets',
        nargs='+',
        choices=sorted(LAYOUTS),
        default=sorted(LAYOUTS),
        help='which layouts to write')
    parser.add_argument(
        '--num-train',
        type=int,
        default=8,
        help='training images (ImageNet: per class)')
    parser.add_argument(
        '--num-val',
        type=int,
        default=2,
        help='validation images (ImageNet: per class)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    return parser.parse_args()


def main():
    args = parse_args()
    counts = {name: (args.num_train, args.num_val) for name in args.datasets}
    for name, path in write_layouts(args.root, counts, args.seed).items():
        print(f'{name}: {path}')


if __name__ == '__main__':
    main()
