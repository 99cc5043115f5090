# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Print a table of the metrics the latest test run of each work dir reached.

    python tools/analysis_tools/print_metrics.py \\
        classification=work_dirs/demo/cls detection=work_dirs/demo/det

Each argument is ``[NAME=]WORK_DIR``; the metrics come from the json log
tools/test.py leaves in ``WORK_DIR/<timestamp>/<timestamp>.json``.
"""
import argparse
import sys

from mmsmlp.analysis.logs import test_metrics

# The headline metrics of the toolkits' evaluators, in table order.
HEADLINE_METRICS = ('accuracy/top1', 'coco/bbox_mAP', 'coco/segm_mAP', 'mIoU')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Print the test metrics of work dirs as a table')
    parser.add_argument(
        'work_dirs', nargs='+', help='[NAME=]WORK_DIR of a tools/test.py run')
    parser.add_argument(
        '--metrics',
        nargs='+',
        default=HEADLINE_METRICS,
        help='metrics to show when a run logged them (default: '
        f'{" ".join(HEADLINE_METRICS)})')
    return parser.parse_args()


def table_rows(named_dirs, metrics):
    """(name, metric, value) for each requested metric each run logged."""
    rows = []
    for name, work_dir in named_dirs:
        logged = test_metrics(work_dir)
        found = [metric for metric in metrics if metric in logged]
        if not found:
            raise KeyError(f'{work_dir}: none of {list(metrics)} in the test '
                           f'log; it has {sorted(logged)}')
        rows += [(name, metric, logged[metric]) for metric in found]
    return rows


def format_table(rows) -> str:
    header = ('run', 'metric', 'value')
    cells = [header] + [(name, metric, f'{value:.3f}')
                        for name, metric, value in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    name_width, metric_width, value_width = widths
    lines = [
        f'{name:<{name_width}}  {metric:<{metric_width}}  '
        f'{value:>{value_width}}' for name, metric, value in cells
    ]
    lines.insert(1, '  '.join('-' * width for width in widths))
    return '\n'.join(lines)


def main():
    args = parse_args()
    named_dirs = [
        item.split('=', 1) if '=' in item else (item, item)
        for item in args.work_dirs
    ]
    try:
        rows = table_rows(named_dirs, args.metrics)
    except (FileNotFoundError, KeyError) as error:
        sys.exit(f'print_metrics: {error}')
    print(format_table(rows))


if __name__ == '__main__':
    main()
