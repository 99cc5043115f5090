# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Time a model deployed by tools/deployment/deploy.py against PyTorch on
one image: the median of ``--runs`` interleaved ``test_step`` calls
(preprocessing, network, post-processing) of each, in one process.

    python tools/deployment/benchmark_deployed.py \\
        configs/deploy/mmdet/instance-seg/instance-seg_onnxruntime_dynamic.py\\
        configs/mask_rcnn/mask-rcnn_smlpnet-t_fpn_1x_coco.py CHECKPOINT \\
        work_dirs/deploy/end2end.onnx demo.jpg --runs 5

PyTorch runs with ``torch.get_num_threads()`` threads, onnxruntime with its
default (one per physical core); both are printed.
"""
import argparse
import os

import onnxruntime
import torch
from mmengine.config import Config, DictAction

from mmsmlp.apis import check_file, load_config
from mmsmlp.deployment.deploy import time_deployed


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time a deployed model against PyTorch')
    parser.add_argument('deploy_cfg', help='deploy config (configs/deploy)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='weights of the model')
    parser.add_argument('backend_file', help='the deployed model')
    parser.add_argument('img', help='image to time on')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the model config, as key=value pairs')
    return parser.parse_args()


def main():
    args = parse_args()
    for path, what in [(args.deploy_cfg, 'Deploy config'),
                       (args.checkpoint, 'Checkpoint'),
                       (args.backend_file, 'Deployed model'),
                       (args.img, 'Image')]:
        check_file(path, what)
    seconds = time_deployed(
        Config.fromfile(args.deploy_cfg),
        load_config(args.model_cfg, args.cfg_options), args.checkpoint,
        [args.backend_file], args.img, args.runs, args.device)
    print(f'torch {torch.__version__} with {torch.get_num_threads()} threads'
          f', onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs')
    for name, value in seconds.items():
        print(f'{name}: {value * 1000:.0f} ms (median of {args.runs})')
    ratio = seconds['pytorch'] / seconds['deployed']
    print(f'pytorch / deployed: {ratio:.2f}')


if __name__ == '__main__':
    main()
