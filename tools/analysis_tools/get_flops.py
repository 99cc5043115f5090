# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Count the parameters and multiply-adds of the model a config builds.

    python tools/analysis_tools/get_flops.py \\
        configs/smlpnet/smlpnet-tiny_8xb128_in1k.py [--shape 224 224]

Works for mmpretrain, mmdet and mmseg configs (picked by ``default_scope``).
The model runs once, in eval mode, on a ``1 x 3 x H x W`` input under
``torch.utils.flop_counter.FlopCounterMode``, which counts matrix multiplies
and convolutions at the ATen dispatch level, so batched and broadcast
``matmul``/``baddbmm`` calls are counted with their full batch. What runs:

- mmpretrain: ``model(inputs, mode='tensor')``: backbone, neck and head;
- mmseg: ``model(inputs, mode='tensor')``: backbone, neck and decode head
  (auxiliary heads only train);
- mmdet single-stage detectors: ``model(inputs, data_samples,
  mode='tensor')``: backbone, neck and head;
- mmdet two-stage detectors: backbone, neck, RPN head and the RoI heads on
  1000 fixed proposals, their mask heads on the first 100 (each stage of a
  cascade): what mmdet 2.x's ``forward_dummy`` ran, with which the published
  Swin, ConvNeXt and AS-MLP detection FLOPs were counted. (mmdet 3's
  ``mode='tensor'`` runs the RoI heads on however many proposals survive the
  RPN's NMS on the random input, and a cascade's mask heads on all of them.)

Multiply-adds are FLOPs / 2 of the counted operators. Normalisations,
activations, additions and other element-wise operators are not counted (as
in the sMLPNet, Swin and ConvNeXt papers); the script lists every operator
that ran without being counted, so nothing is left out silently (see
``mmsmlp.analysis.flops``).
"""
import argparse
from typing import List, Tuple

import torch
from mmengine.config import DictAction

from mmsmlp.analysis import (TwoStageForwardDummy, count_flops, flops_table,
                             is_two_stage, num_params)
from mmsmlp.analysis.flops import NUM_MASK_ROIS, NUM_PROPOSALS
from mmsmlp.apis import build_model, load_config, tensor_forward

# Input size when --shape is not given: each toolkit's usual test size.
DEFAULT_SHAPES = dict(
    mmpretrain=(224, 224), mmseg=(512, 512), mmdet=(800, 1333))
COUNTED_PARTS = dict(
    mmpretrain="model(inputs, mode='tensor'): backbone + neck + head",
    mmseg="model(inputs, mode='tensor'): backbone + neck + decode head",
    mmdet="model(inputs, data_samples, mode='tensor'): backbone + neck + "
    'head',
    two_stage=f'backbone + neck + RPN head + RoI heads on {NUM_PROPOSALS} '
    f'fixed proposals (mask heads on {NUM_MASK_ROIS})')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Parameters and multiply-adds of a model, per backbone '
        'stage and in total')
    parser.add_argument('config', help='an mmpretrain, mmdet or mmseg config')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input size: H W, or one number for a square (default: 224 '
        'for mmpretrain, 512 for mmseg, 800 1333 for mmdet)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args()


def input_shape(shape: List[int], scope: str) -> Tuple[int, int]:
    if shape is None:
        return DEFAULT_SHAPES[scope]
    if len(shape) not in (1, 2) or min(shape) <= 0:
        raise ValueError(f'--shape takes H W or one size, got {shape}.')
    return (shape[0], shape[0]) if len(shape) == 1 else tuple(shape)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg)
    scope = cfg.default_scope
    shape = input_shape(args.shape, scope)
    inputs = torch.randn(
        1, 3, *shape, generator=torch.Generator().manual_seed(0))
    if is_two_stage(model):
        counted, root = 'two_stage', 'TwoStageForwardDummy.detector'
        dummy = TwoStageForwardDummy(model)
        flop_counter, uncounted = count_flops(lambda: dummy(inputs))
    else:
        counted, root = scope, None
        flop_counter, uncounted = count_flops(
            tensor_forward(model, scope, inputs))
    total_macs = flop_counter.get_total_flops() // 2

    print(f'Config: {args.config}')
    print(f'Model: {type(model).__name__} ({scope}), input 1x3x'
          f'{shape[0]}x{shape[1]}')
    print(f'Counted: {COUNTED_PARTS[counted]}')
    print('Multiply-adds: FLOPs / 2 of ' + ', '.join(
        sorted(str(op) for op in flop_counter.get_flop_counts()['Global'])))
    print()
    print(flops_table(model, flop_counter.get_flop_counts(), root))
    print()
    print(f'Params: {num_params(model) / 1e6:.1f}M   '
          f'Multiply-adds: {total_macs / 1e9:.1f}G')
    print('Not counted (ran without a FLOP formula; calls): ' +
          ', '.join(f'{op} x{calls}'
                    for op, calls in sorted(uncounted.items())))


if __name__ == '__main__':
    main()
