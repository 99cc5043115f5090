# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Draw the demo instance-segmentation dataset in COCO format
(``OUT/annotations/instances_{train,val}.json``, ``OUT/{train,val}/*.png``;
see ``mmsmlp.datasets.demo.detection``). The same ``--seed`` always gives the
same files. With ``--box-only`` the annotations have no ``segmentation``, as
box-only COCO data (the images are the same).

Example::

    python tools/data/make_demo_det.py --out data/demo/det --seed 0
    python tools/data/make_demo_det.py --out data/demo/det-box --box-only
"""
import argparse
from pathlib import Path

from mmsmlp.datasets.demo.detection import CLASSES, draw_dataset


def parse_args():
    parser = argparse.ArgumentParser(
        description='Draw a demo instance-segmentation dataset (COCO format)')
    parser.add_argument(
        '--out', default='data/demo/det', help='output dataset root')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--num-train', type=int, default=400, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=50, help='validation images')
    parser.add_argument(
        '--min-size',
        type=int,
        default=112,
        help='smallest image height or width (sides are drawn at random '
        'between --min-size and --max-size)')
    parser.add_argument(
        '--max-size', type=int, default=160, help='largest height or width')
    parser.add_argument(
        '--max-objects', type=int, default=4, help='most objects per image')
    parser.add_argument(
        '--box-only',
        action='store_true',
        help='write annotations without masks (no "segmentation" field)')
    return parser.parse_args()


def main():
    args = parse_args()
    annotations = draw_dataset(args.out, args.seed, args.num_train,
                               args.num_val, args.min_size, args.max_size,
                               args.max_objects, args.box_only)
    for split, coco in annotations.items():
        print(f'{split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} objects')
    print(f'wrote {Path(args.out).resolve()} (classes {CLASSES})')


if __name__ == '__main__':
    main()
