# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Draw the demo image-classification dataset in the mmpretrain folder format
(``OUT/{train,val}/<class>/XXXXX.png``; see
``mmsmlp.datasets.demo.classification``). The same ``--seed`` always gives
the same files.

Example::

    python tools/data/make_demo_cls.py --out data/demo/cls --seed 0
"""
import argparse
import os.path as osp

from mmsmlp.datasets.demo.classification import CLASSES, draw_dataset


def parse_args():
    parser = argparse.ArgumentParser(
        description='Draw a demo image-classification dataset')
    parser.add_argument(
        '--out', default='data/demo/cls', help='output dataset root')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--num-train', type=int, default=250, help='training images per class')
    parser.add_argument(
        '--num-val', type=int, default=50, help='validation images per class')
    parser.add_argument(
        '--size', type=int, default=64, help='side of the square images')
    return parser.parse_args()


def main():
    args = parse_args()
    draw_dataset(args.out, args.seed, args.num_train, args.num_val, args.size)
    print(f'wrote {args.num_train} train and {args.num_val} val images per '
          f'class ({args.size}x{args.size}, classes {CLASSES}) to '
          f'{osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
