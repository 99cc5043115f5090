# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Reading the json logs mmengine writes into a work dir.

Every run of the runner gets a directory ``<work_dir>/<timestamp>/``.
Training runs log their scalars (losses, learning rate, validation metrics)
to ``vis_data/scalars.json``; test runs write their metrics to
``<timestamp>.json``. Both hold one json record a line.
``tools/analysis_tools/plot_curves.py`` and ``print_metrics.py`` read them
with these functions.
"""
import json
import os
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Tuple

RUN_DIR_NAME = re.compile(r'^\d{8}_\d{6}$')


def read_json_lines(path: str) -> List[dict]:
    """The records of a json-lines log, in order."""
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def run_dirs(work_dir: str) -> List[str]:
    """The run directories of a work dir, oldest first (their names are
    ``YYYYmmdd_HHMMSS`` timestamps, so name order is time order)."""
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'Work dir not found: {work_dir!r}')
    return sorted(
        osp.join(work_dir, name) for name in os.listdir(work_dir)
        if RUN_DIR_NAME.match(name) and osp.isdir(osp.join(work_dir, name)))


def scalar_logs(work_dir: str) -> List[str]:
    """The training scalar logs of a work dir, oldest run first."""
    logs = [
        osp.join(run, 'vis_data', 'scalars.json') for run in run_dirs(work_dir)
    ]
    logs = [log for log in logs if osp.isfile(log)]
    if not logs:
        raise FileNotFoundError(
            f'{work_dir!r} holds no <timestamp>/vis_data/scalars.json; '
            'is it the work dir of a training run?')
    return logs


def test_metrics(work_dir: str) -> dict:
    """The metrics of the latest test run in a work dir."""
    for run in reversed(run_dirs(work_dir)):
        log = osp.join(run, osp.basename(run) + '.json')
        if osp.isfile(log):
            return read_json_lines(log)[-1]
    raise FileNotFoundError(
        f'{work_dir!r} holds no test metrics (<timestamp>/<timestamp>.json); '
        'run tools/test.py with --work-dir pointing there.')


def load_scalar_records(log: str) -> List[dict]:
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
