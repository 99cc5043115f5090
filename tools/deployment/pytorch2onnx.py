# Copyright (c) mmsmlp contributors. All rights reserved.
"""Export the backbone (or, for mmpretrain configs, the classifier) of a
config to ONNX, and check it against PyTorch in onnxruntime.

    python tools/deployment/pytorch2onnx.py \\
        configs/smlpnet/smlpnet-tiny_8xb128_in1k.py CHECKPOINT \\
        --shape 224 224 --out smlpnet-t.onnx --verify

The graph is traced at one input size and is fixed to it: the sMLP weights
are applied as matrices sized to the token grid (``resize`` mode resamples
the stored weights to that grid inside the graph; ``window`` mode bakes in
the padding and window layout), so export once per input size. The batch
dimension can be left free with ``--dynamic-batch``.

Outputs: ``stage0`` ... ``stage3`` for a backbone (its ``out_indices``),
``logits`` for a classifier.
"""
import argparse
import os.path as osp
import sys

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'analysis_tools'))
from get_flops import build_model  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a backbone or classifier to ONNX')
    parser.add_argument('config', help='an mmpretrain, mmdet or mmseg config')
    parser.add_argument(
        'checkpoint', nargs='?',
        help='weights to export (default: the initialisation)')
    parser.add_argument(
        '--shape', type=int, nargs=2, metavar=('H', 'W'), required=True,
        help='the input size the graph is built for')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--classifier', action='store_true',
        help='export the whole classifier (mmpretrain configs), with logits '
        'as output, instead of the backbone')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='batch of the traced input')
    parser.add_argument(
        '--dynamic-batch', action='store_true',
        help='leave the batch dimension of the graph free')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--verify', action='store_true',
        help='run the graph in onnxruntime and compare with PyTorch')
    parser.add_argument(
        '--tolerance', type=float, default=1e-4,
        help='--verify fails when max |onnx - torch| / max |torch| exceeds '
        'this (default: 1e-4)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


class ClassifierLogits(nn.Module):
    """An mmpretrain classifier as images -> logits."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(inputs, mode='tensor')


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


def export(module: nn.Module, inputs: torch.Tensor, args) -> list:
    """Trace ``module`` to ``args.out``; returns the output names."""
    with torch.no_grad():
        outputs = module(inputs)
    output_names = (['logits'] if isinstance(outputs, torch.Tensor) else
                    [f'stage{i}' for i in range(len(outputs))])
    dynamic_axes = ({name: {0: 'batch'}
                     for name in ['inputs'] + output_names}
                    if args.dynamic_batch else None)
    # The TorchScript-based exporter: the dynamo one needs onnxscript.
    torch.onnx.export(
        module, (inputs, ), args.out, input_names=['inputs'],
        output_names=output_names, dynamic_axes=dynamic_axes,
        opset_version=args.opset, dynamo=False)
    return output_names


def verify(module: nn.Module, path: str, inputs: torch.Tensor,
           tolerance: float) -> float:
    """Largest relative deviation of onnxruntime's outputs from PyTorch's;
    raises if it exceeds ``tolerance``."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    with torch.no_grad():
        expected = module(inputs)
    if isinstance(expected, torch.Tensor):
        expected = (expected, )
    actual = session.run(None, {'inputs': inputs.numpy()})
    worst = 0.
    for name, ours, theirs in zip(
        [o.name for o in session.get_outputs()], expected, actual):
        ours = ours.numpy()
        if ours.shape != theirs.shape:
            raise AssertionError(f'{name}: onnxruntime gives shape '
                                 f'{theirs.shape}, PyTorch {ours.shape}.')
        deviation = np.abs(ours - theirs).max() / np.abs(ours).max()
        print(f'{name} {tuple(ours.shape)}: max |onnx - torch| / max |torch|'
              f' = {deviation:.2e}')
        worst = max(worst, deviation)
    if worst > tolerance:
        raise AssertionError(f'onnxruntime deviates from PyTorch by '
                             f'{worst:.2e} > --tolerance {tolerance:.0e}.')
    return worst


def main(argv=None):
    args = parse_args(argv)
    if min(args.shape) <= 0 or args.batch_size <= 0:
        raise ValueError('--shape and --batch-size must be positive.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    module = exported_module(cfg, args.checkpoint, args.classifier)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(args.batch_size, 3, *args.shape, generator=generator)
    output_names = export(module, inputs, args)
    print(f'Exported {type(module).__name__} for inputs '
          f'{"N" if args.dynamic_batch else args.batch_size}x3x'
          f'{args.shape[0]}x{args.shape[1]} to {args.out} (outputs: '
          f'{", ".join(output_names)})')
    if args.verify:
        if args.dynamic_batch:  # check that the free batch really is free
            inputs = torch.randn(args.batch_size + 1, 3, *args.shape,
                                 generator=generator)
        verify(module, args.out, inputs, args.tolerance)
        print('onnxruntime matches PyTorch.')


if __name__ == '__main__':
    main()
