# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Train an mmpretrain, mmdet or mmseg model from a config.

The toolkit is picked by the config's ``default_scope``. Examples::

    python tools/train.py configs/smlpnet/smlpnet-demo_1xb32_shapes.py
    python tools/train.py CONFIG --resume            # latest in work dir
    bash tools/dist_train.sh CONFIG 8                # 8 processes
"""
import argparse

from mmsmlp.apis import (add_common_args, build_runner, enable_amp,
                         enable_auto_scale_lr, export_local_rank, load_config,
                         set_resume, use_atomic_checkpoints,
                         use_seeded_training)
from mmsmlp.engine import configure_distributed, shut_down_distributed
from mmsmlp.utils import tune_malloc


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train an mmpretrain / mmdet / mmseg model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a value, from '
        'the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training (mmengine\'s '
        'AmpOptimWrapper: needs a GPU)')
    parser.add_argument(
        '--amp-dtype',
        choices=('float16', 'bfloat16'),
        help='autocast dtype of --amp (default: mmengine\'s, float16 on '
        'CUDA)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the total batch size, relative to '
        'the config\'s auto_scale_lr.base_batch_size')
    add_common_args(parser)
    args = parser.parse_args()
    if args.amp_dtype and not args.amp:
        parser.error('--amp-dtype needs --amp')
    export_local_rank(args)
    return args


def main():
    tune_malloc()
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.launcher,
                      args.work_dir)
    configure_distributed(cfg, args.cfg_options or {})
    if args.amp:
        enable_amp(cfg, args.amp_dtype)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    set_resume(cfg, args.resume)
    use_atomic_checkpoints(cfg)
    use_seeded_training(cfg)

    runner = build_runner(cfg)
    runner.train()
    shut_down_distributed()


if __name__ == '__main__':
    main()
