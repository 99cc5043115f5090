# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Export the backbone (or, for mmpretrain configs, the classifier) of a
config to ONNX, and check it against PyTorch in onnxruntime.

    python tools/deployment/pytorch2onnx.py \\
        configs/smlpnet/smlpnet-tiny_8xb128_in1k.py CHECKPOINT \\
        --shape 224 224 --out smlpnet-t.onnx --verify

The batch dimension can be left free with ``--dynamic-batch``, height and
width with ``--dynamic-size`` (then ``--verify`` also checks the graph at a
smaller and a larger size than ``--shape``; why it holds at every size:
``mmsmlp.deployment.onnx_export``).

Outputs: ``stage0`` ... ``stage3`` for a backbone (its ``out_indices``),
``logits`` for a classifier.
"""
import argparse

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint

from mmsmlp.apis import build_model, load_config
from mmsmlp.deployment import ClassifierLogits, export_onnx, verify_onnx


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export a backbone or classifier to ONNX')
    parser.add_argument('config', help='an mmpretrain, mmdet or mmseg config')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='weights to export (default: the initialisation)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        required=True,
        help='the input size the graph is built for')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--classifier',
        action='store_true',
        help='export the whole classifier (mmpretrain configs), with logits '
        'as output, instead of the backbone')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='batch of the traced input')
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='leave the batch dimension of the graph free')
    parser.add_argument(
        '--dynamic-size',
        action='store_true',
        help='leave height and width of the graph free (backbones)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--verify',
        action='store_true',
        help='run the graph in onnxruntime and compare with PyTorch')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='--verify fails when max |onnx - torch| / max |torch| exceeds '
        'this (default: 1e-4)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args()


def exported_module(cfg: Config, checkpoint: str,
                    classifier: bool) -> nn.Module:
    model = build_model(cfg)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    if not classifier:
        return model.backbone.eval()
    if cfg.default_scope != 'mmpretrain':
        raise ValueError(
            f'--classifier exports mmpretrain classifiers; this is a '
            f'{cfg.default_scope} config. Export its backbone (no '
            '--classifier) instead.')
    return ClassifierLogits(model).eval()


def main():
    args = parse_args()
    if min(args.shape) <= 0 or args.batch_size <= 0:
        raise ValueError('--shape and --batch-size must be positive.')
    cfg = load_config(args.config, args.cfg_options)
    module = exported_module(cfg, args.checkpoint, args.classifier)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(args.batch_size, 3, *args.shape, generator=generator)
    output_names = export_onnx(module, inputs, args.out, args.dynamic_batch,
                               args.opset, args.dynamic_size)
    height, width = args.shape
    print(f'Exported {type(module).__name__} for inputs '
          f'{"N" if args.dynamic_batch else args.batch_size}x3x'
          f'{"H" if args.dynamic_size else height}x'
          f'{"W" if args.dynamic_size else width} (traced at {height}x{width})'
          f' to {args.out} (outputs: {", ".join(output_names)})')
    if not args.verify:
        return
    # Check that free axes really are free: another batch, other sizes.
    batch_size = args.batch_size + int(args.dynamic_batch)
    shapes = [(height, width)]
    if args.dynamic_size:
        shapes += [(max(32, height // 2), width * 3 // 2),
                   (height * 3 // 2, max(32, width // 2))]
    for shape in shapes:
        print(f'inputs {batch_size}x3x{shape[0]}x{shape[1]}:')
        inputs = torch.randn(batch_size, 3, *shape, generator=generator)
        verify_onnx(module, args.out, inputs, args.tolerance)
    print('onnxruntime matches PyTorch.')


if __name__ == '__main__':
    main()
