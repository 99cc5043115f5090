# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The dress rehearsal of the shipped configs (docs/rehearsal.md): write
datasets in the toolkits' layouts under ROOT, then train, resume and test
each shipped sMLPNet-T config family through tools/dist_train.sh and
tools/dist_test.sh on CPU processes. Examples::

    python tools/rehearsal.py work_dirs/rehearsal            # everything
    python tools/rehearsal.py work_dirs/rehearsal --ci       # the CI subset
    python tools/rehearsal.py work_dirs/rehearsal --only imagenet mask-rcnn-1x
    python tools/rehearsal.py work_dirs/rehearsal --table    # the results
"""
import argparse
import json
from pathlib import Path

from mmsmlp.rehearsal import ALL, BY_NAME, CI, results_table, run


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train, resume and test the shipped configs')
    parser.add_argument('root', help='where the data, work dirs and logs go')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--ci',
        action='store_true',
        help='one config per toolkit on 2 processes (what CI runs)')
    group.add_argument(
        '--only',
        nargs='+',
        choices=sorted(BY_NAME),
        help='these rehearsals, in this order (imagenet first, unless ROOT '
        'already holds its checkpoint)')
    group.add_argument(
        '--table',
        action='store_true',
        help='print the Markdown table of ROOT/results.json; run nothing')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.table:
        results = Path(args.root) / 'results.json'
        print(results_table(json.loads(results.read_text())))
        return
    rehearsals = CI if args.ci else (
        [BY_NAME[name] for name in args.only] if args.only else ALL)
    for row in run(rehearsals, args.root):
        seconds = sum(row['seconds'].values())
        print(f"{row['name']}: {row['world_size']} processes, "
              f"{seconds:.0f} s, peak {row['peak_rss_mib']} MiB a process, "
              f"{row['metrics']}")


if __name__ == '__main__':
    main()
