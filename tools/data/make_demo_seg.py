# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Draw the demo semantic-segmentation dataset in the standard mmseg layout
(``OUT/img_dir/{train,val}/*.jpg``, ``OUT/ann_dir/{train,val}/*.png``; see
``mmsmlp.datasets.demo.segmentation``). The same ``--seed`` always gives the
same files.

Example::

    python tools/data/make_demo_seg.py --out data/demo/seg --seed 0
"""
import argparse
import os.path as osp

from mmsmlp.datasets.demo.segmentation import CLASSES, draw_dataset


def parse_args():
    parser = argparse.ArgumentParser(
        description='Draw a demo semantic-segmentation dataset')
    parser.add_argument(
        '--out', default='data/demo/seg', help='output dataset root')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--num-train', type=int, default=240, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=40, help='validation images')
    parser.add_argument(
        '--size', type=int, default=128, help='side of the square images')
    parser.add_argument(
        '--max-shapes', type=int, default=4, help='most shapes per image')
    return parser.parse_args()


def main():
    args = parse_args()
    draw_dataset(args.out, args.seed, args.num_train, args.num_val, args.size,
                 args.max_shapes)
    print(f'wrote {args.num_train} train and {args.num_val} val images '
          f'({args.size}x{args.size}, classes {CLASSES}) to '
          f'{osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
