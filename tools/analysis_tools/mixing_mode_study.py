# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Train and test the detection and segmentation CPU demos with each sMLP
mixing mode over several seeds, and tabulate the test metrics.

    python tools/data/make_demo_det.py --seed 0
    python tools/data/make_demo_seg.py --seed 0
    OMP_NUM_THREADS=1 python tools/analysis_tools/mixing_mode_study.py \\
        [--tasks detection segmentation] [--modes window resize] \\
        [--seeds 0 1 2] [--test-scales 1 1.5] [--work-dir DIR] \\
        [--cfg-options model.backbone.img_size=64]

Every run is a plain ``tools/train.py`` / ``tools/test.py`` command on the
demo config of the task, with ``--cfg-options`` setting the mixing mode
(``model.backbone.mixing_mode``), the seed (``randomness.seed``) and, for
testing, the scale of the test pipeline's ``Resize`` (the config's scale
times each ``--test-scales`` factor); the commands are printed as they run.
Models are tested in the mode they were trained in. Training skips the
validation (the tests evaluate). Runs whose checkpoint or test metrics are
already in the work dir are not repeated, so an interrupted study resumes.
The results, one record per test and the summary (mean and sample standard
deviation over the seeds), go to ``<work-dir>/results.json``.
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
from pathlib import Path
from typing import List

from mmengine.config import Config, DictAction

from mmsmlp.analysis.logs import test_metrics

REPO = Path(__file__).resolve().parents[2]
# task: (demo config, headline metrics of its evaluator, data generator)
TASKS = dict(
    detection=('configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py',
               ('coco/bbox_mAP',
                'coco/segm_mAP'), 'tools/data/make_demo_det.py'),
    segmentation=('configs/upernet/smlpnet-demo_upernet_shapes.py', ('mIoU', ),
                  'tools/data/make_demo_seg.py'))
MODES = ('window', 'resize')
NO_VALIDATION = ('val_cfg=None', 'val_dataloader=None', 'val_evaluator=None')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Compare the sMLP mixing modes on the CPU demos')
    parser.add_argument(
        '--tasks', nargs='+', choices=tuple(TASKS), default=tuple(TASKS))
    parser.add_argument('--modes', nargs='+', choices=MODES, default=MODES)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument(
        '--test-scales',
        nargs='+',
        type=float,
        default=[1.0, 1.5],
        help='test image sizes, as factors of the training size')
    parser.add_argument('--work-dir', default='work_dirs/mixing_mode_study')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='more settings for every train and test run, e.g. '
        'model.backbone.img_size=64')
    args = parser.parse_args(argv)
    if min(args.test_scales) <= 0:
        parser.error('--test-scales must be positive')
    # The runs start in the repository root.
    args.work_dir = osp.abspath(args.work_dir)
    return args


def merged_config(config: str, options: List[str]) -> Config:
    """The config with the study's ``--cfg-options`` merged, as the train
    and test runs see it."""
    parsed = argparse.Namespace()
    DictAction(option_strings=[], dest='options')(None, parsed, options)
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict(parsed.options)
    return cfg


def check_data(task: str, cfg: Config) -> None:
    generator = TASKS[task][2]
    data_root = cfg.train_dataloader.dataset.data_root
    if not (REPO / data_root).is_dir():
        sys.exit(f'{task}: no demo data at {REPO / data_root}; draw it with '
                 f'`python {generator} --seed 0` in {REPO}')


def resize_option(cfg: Config, factor: float) -> str:
    """The cfg option that scales the test pipeline's Resize by ``factor``."""
    pipeline = cfg.test_dataloader.dataset.pipeline
    steps = [i for i, step in enumerate(pipeline) if step.type == 'Resize']
    if len(steps) != 1:
        raise ValueError(f'{cfg.filename}: expected one Resize in the test '
                         f'pipeline to scale, found {len(steps)}')
    height, width = pipeline[steps[0]].scale
    scale = f'({round(height * factor)},{round(width * factor)})'
    return f'test_dataloader.dataset.pipeline.{steps[0]}.scale={scale}'


def run(command):
    print('+ ' + ' '.join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def train(config, work_dir, options):
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        return
    run([
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', *options, *NO_VALIDATION
    ])


def test(config, train_dir, test_dir, options):
    try:
        return test_metrics(test_dir)
    except FileNotFoundError:
        pass
    with open(osp.join(train_dir, 'last_checkpoint')) as file:
        checkpoint = file.read().strip()
    run([
        sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
        test_dir, '--cfg-options', *options
    ])
    return test_metrics(test_dir)


def study(args):
    """One record per task, mode, seed and test scale."""
    records = []
    for task in args.tasks:
        config, metrics, _ = TASKS[task]
        cfg = merged_config(config, args.cfg_options)
        check_data(task, cfg)
        for mode in args.modes:
            for seed in args.seeds:
                options = [
                    f'model.backbone.mixing_mode={mode}',
                    f'randomness.seed={seed}', *args.cfg_options
                ]
                train_dir = osp.join(args.work_dir, task, mode, f'seed{seed}')
                train(config, train_dir, options)
                for factor in args.test_scales:
                    test_dir = osp.join(train_dir, f'test_x{factor:g}')
                    logged = test(config, train_dir, test_dir,
                                  options + [resize_option(cfg, factor)])
                    records.append(
                        dict(
                            task=task,
                            mode=mode,
                            seed=seed,
                            test_scale=factor,
                            metrics={name: logged[name]
                                     for name in metrics}))
    return records


def summarise(records):
    """Mean and sample standard deviation over the seeds of each metric, per
    task, mode and test scale."""
    groups = {}
    for record in records:
        key = (record['task'], record['mode'], record['test_scale'])
        groups.setdefault(key, []).append(record['metrics'])
    summary = []
    for (task, mode, scale), runs in groups.items():
        row = dict(task=task, mode=mode, test_scale=scale, seeds=len(runs))
        for name in runs[0]:
            values = [metrics[name] for metrics in runs]
            row[name] = dict(
                mean=statistics.mean(values),
                std=statistics.stdev(values) if len(values) > 1 else 0.,
                values=values)
        summary.append(row)
    return summary


def format_table(summary) -> str:
    lines = [
        '| task | mode | test scale | seeds | metric | mean | std | '
        'per seed |', '|---|---|---|---|---|---|---|---|'
    ]
    for row in summary:
        for name, value in row.items():
            if not isinstance(value, dict):
                continue
            seeds = ', '.join(f'{v:.3f}' for v in value['values'])
            lines.append(
                f'| {row["task"]} | {row["mode"]} | {row["test_scale"]:g}x | '
                f'{row["seeds"]} | {name} | {value["mean"]:.3f} | '
                f'{value["std"]:.3f} | {seeds} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    records = study(args)
    summary = summarise(records)
    out = osp.join(args.work_dir, 'results.json')
    with open(out, 'w') as file:
        json.dump(
            dict(cfg_options=args.cfg_options, runs=records, summary=summary),
            file,
            indent=2)
    print(format_table(summary))
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
