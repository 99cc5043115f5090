# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint of an mmpretrain, mmdet or mmseg model.

The toolkit is picked by the config's ``default_scope``. The metrics are
logged and written to ``<work dir>/<timestamp>/<timestamp>.json``.
Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --tta --show-dir vis
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse

from mmsmlp.apis import (add_common_args, add_prediction_dump,
                         attach_pickle_dump, build_runner, check_file,
                         enable_amp_test, enable_show_dir, enable_tta,
                         export_local_rank, load_config)
from mmsmlp.engine import configure_distributed, shut_down_distributed
from mmsmlp.utils import tune_malloc


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an mmpretrain / mmdet / mmseg model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='keep the predictions: a .pkl file for mmpretrain and mmdet '
        'configs, a directory of PNG label maps for mmseg configs')
    parser.add_argument(
        '--show-dir',
        help='save images painted with the predictions in this directory '
        '(mmseg configs: in its vis_data/vis_image/)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_model and '
        'tta_pipeline, or horizontal flips when it has none')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='test under autocast: bfloat16 on the CPU, float16 on CUDA '
        '(mmengine\'s TestLoop fp16 option)')
    add_common_args(parser)
    args = parser.parse_args()
    export_local_rank(args)
    return args


def main():
    tune_malloc()
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir)
    configure_distributed(cfg, args.cfg_options or {})
    check_file(args.checkpoint, 'Checkpoint')
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_show_dir(cfg, args.show_dir)
    if args.tta:
        enable_tta(cfg)
    if args.amp:
        enable_amp_test(cfg)
    if args.out:
        add_prediction_dump(cfg, args.out)

    runner = build_runner(cfg)
    if args.out:
        attach_pickle_dump(runner, cfg, args.out)
    runner.test()
    shut_down_distributed()


if __name__ == '__main__':
    main()
