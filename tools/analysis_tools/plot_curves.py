# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Plot loss and metric curves of a training run to an image.

Reads the scalars mmengine logs during training
(``<work_dir>/<timestamp>/vis_data/scalars.json``; all runs of a work dir,
so a resumed run continues the curves of the interrupted one) and draws one
panel per key::

    python tools/analysis_tools/plot_curves.py work_dirs/my_run \\
        --keys loss accuracy/top1 --out curves.png
"""
import argparse
import sys
from typing import List

import matplotlib

matplotlib.use('Agg')  # draw to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mmsmlp.analysis.logs import collect_curves  # noqa: E402
from mmsmlp.analysis.logs import load_scalar_records  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Plot loss / metric curves from an mmengine json log')
    parser.add_argument(
        'log',
        help='a work dir, or one scalars json file '
        '(<work_dir>/<timestamp>/vis_data/scalars.json)')
    parser.add_argument(
        '--keys',
        nargs='+',
        default=['loss'],
        help='logged scalars to plot, e.g. loss lr accuracy/top1 '
        'coco/bbox_mAP mIoU (default: loss)')
    parser.add_argument(
        '--out', default='curves.png', help='image file to write (png, pdf)')
    parser.add_argument('--title', help='title of the figure')
    return parser.parse_args()


def step_unit(records: List[dict], key: str) -> str:
    """Training scalars are logged per iteration. Validation metrics are
    logged per epoch when training is epoch based (train records then carry
    an ``epoch``), else per iteration."""
    train_records = [record for record in records if 'iter' in record]
    if any(key in record for record in train_records):
        return 'iteration'
    if any('epoch' in record for record in train_records):
        return 'epoch'
    return 'iteration'


def plot(curves, records, out: str, title: str = None) -> None:
    figure, axes = plt.subplots(
        len(curves), 1, figsize=(7, 3 * len(curves)), squeeze=False)
    for ax, (key, points) in zip(axes[:, 0], curves.items()):
        steps, values = zip(*points)
        ax.plot(steps, values, marker='.' if len(points) < 50 else None)
        ax.set_xlabel(step_unit(records, key))
        if len(steps) <= 10:
            ax.set_xticks(steps)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def main():
    args = parse_args()
    try:
        records = load_scalar_records(args.log)
        curves = collect_curves(records, args.keys)
    except (FileNotFoundError, KeyError) as error:
        sys.exit(f'plot_curves: {error}')
    plot(curves, records, args.out, args.title)
    print(f'Wrote {", ".join(args.keys)} curves to {args.out}')


if __name__ == '__main__':
    main()
