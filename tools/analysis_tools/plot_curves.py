# Copyright (c) mmsmlp contributors. All rights reserved.
"""Plot loss and metric curves of a training run to an image.

Reads the scalars mmengine logs during training
(``<work_dir>/<timestamp>/vis_data/scalars.json``; all runs of a work dir,
so a resumed run continues the curves of the interrupted one) and draws one
panel per key::

    python tools/analysis_tools/plot_curves.py work_dirs/my_run \\
        --keys loss accuracy/top1 --out curves.png
"""
import argparse
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')  # draw to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from log_utils import read_json_lines, scalar_logs  # noqa: E402


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


def load_records(log: str) -> List[dict]:
    """The scalar records of a work dir (all its runs) or of one file."""
    if osp.isdir(log):
        files = scalar_logs(log)
    elif osp.isfile(log):
        files = [log]
    else:
        raise FileNotFoundError(f'No work dir or json log at {log!r}')
    return [record for path in files for record in read_json_lines(path)]


def collect_curves(records: List[dict],
                   keys: List[str]) -> Dict[str, List[Tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` sorted by step. A step logged twice
    (a resumed run repeating iterations) keeps its latest value."""
    curves = defaultdict(dict)
    for record in records:
        for key in keys:
            if key in record:
                curves[key][record['step']] = record[key]
    missing = [key for key in keys if key not in curves]
    if missing:
        available = sorted({key
                            for record in records
                            for key in record} - {'step', 'epoch', 'iter'})
        raise KeyError(f'{missing} not in the log; it has: {available}')
    return {key: sorted(points.items()) for key, points in curves.items()}


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
        records = load_records(args.log)
        curves = collect_curves(records, args.keys)
    except (FileNotFoundError, KeyError) as error:
        sys.exit(f'plot_curves: {error}')
    plot(curves, records, args.out, args.title)
    print(f'Wrote {", ".join(args.keys)} curves to {args.out}')


if __name__ == '__main__':
    main()
