# Copyright (c) mmsmlp contributors. All rights reserved.
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
that ran without being counted, so nothing is left out silently.
"""
import argparse
import os.path as osp
import sys
from collections import Counter
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _toolkit import check_file, import_toolkit  # noqa: E402

# Input size when --shape is not given: each toolkit's usual test size.
DEFAULT_SHAPES = dict(
    mmpretrain=(224, 224), mmseg=(512, 512), mmdet=(800, 1333))
# Views that the schema does not mark as such (reshape of a contiguous
# tensor, detach).
FREE_OPS = (torch.ops.aten._unsafe_view, torch.ops.aten.detach)
# Two-stage detectors are counted as mmdet 2.x's forward_dummy ran them.
NUM_PROPOSALS = 1000
NUM_MASK_ROIS = 100
COUNTED_PARTS = dict(
    mmpretrain="model(inputs, mode='tensor'): backbone + neck + head",
    mmseg="model(inputs, mode='tensor'): backbone + neck + decode head",
    mmdet="model(inputs, data_samples, mode='tensor'): backbone + neck + "
    'head',
    two_stage=f'backbone + neck + RPN head + RoI heads on {NUM_PROPOSALS} '
    f'fixed proposals (mask heads on {NUM_MASK_ROIS})')


def parse_args(argv=None):
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
    return parser.parse_args(argv)


class OperatorRecorder(TorchDispatchMode):
    """Records every ATen operator that runs, with its number of calls."""

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[func] += 1
        return func(*args, **(kwargs or {}))


def input_shape(shape: List[int], scope: str) -> Tuple[int, int]:
    if shape is None:
        return DEFAULT_SHAPES[scope]
    if len(shape) not in (1, 2) or min(shape) <= 0:
        raise ValueError(f'--shape takes H W or one size, got {shape}.')
    return (shape[0], shape[0]) if len(shape) == 1 else tuple(shape)


def build_model(cfg: Config) -> nn.Module:
    """The model of the config, built by its toolkit's registry."""
    import_toolkit(cfg, cfg.filename)
    init_default_scope(cfg.default_scope)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    return model.eval()


def tensor_forward(model: nn.Module, scope: str,
                   inputs: torch.Tensor) -> Callable[[], object]:
    """A call of the model's ``mode='tensor'`` forward on ``inputs``."""
    if scope != 'mmdet':
        return lambda: model(inputs, mode='tensor')
    from mmdet.structures import DetDataSample
    shape = tuple(inputs.shape[-2:])
    samples = [
        DetDataSample(
            metainfo=dict(
                img_shape=shape,
                ori_shape=shape,
                pad_shape=shape,
                batch_input_shape=shape,
                scale_factor=(1., 1.))) for _ in range(len(inputs))
    ]
    return lambda: model(inputs, samples, mode='tensor')


def is_two_stage(model: nn.Module) -> bool:
    return getattr(model, 'with_rpn', False)


class TwoStageForwardDummy(nn.Module):
    """Backbone, neck, RPN head and RoI heads of a two-stage detector on
    ``NUM_PROPOSALS`` fixed boxes in the image, the mask heads on the first
    ``NUM_MASK_ROIS`` of them, as mmdet 2.x's ``forward_dummy``. A module,
    so that FlopCounterMode names the detector's modules under it."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, inputs: torch.Tensor) -> None:
        from mmdet.structures.bbox import bbox2roi
        height, width = inputs.shape[-2:]
        corners = torch.rand(
            NUM_PROPOSALS, 2, 2, generator=torch.Generator().manual_seed(0))
        corners = corners * torch.tensor([float(width), float(height)])
        rois = bbox2roi(
            [torch.cat([corners.amin(1), corners.amax(1)], dim=1)])
        roi_head = self.detector.roi_head
        # A cascade's heads take their stage index first.
        stages = [(stage, ) for stage in range(roi_head.num_stages)
                  ] if hasattr(roi_head, 'num_stages') else [()]
        features = self.detector.extract_feat(inputs)
        self.detector.rpn_head(features)
        for stage in stages:
            roi_head._bbox_forward(*stage, features, rois)
            if roi_head.with_mask:
                roi_head._mask_forward(*stage, features,
                                       rois[:NUM_MASK_ROIS])


def inplace_addmm_flop(self_shape, a_shape, b_shape, *args, **kwargs) -> int:
    """FLOPs of ``self.addmm_(a, b)``: (m, k) @ (k, n)."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def inplace_baddbmm_flop(self_shape, a_shape, b_shape, *args,
                         **kwargs) -> int:
    """FLOPs of ``self.baddbmm_(a, b)``: (bs, m, k) @ (bs, k, n)."""
    return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]


# FlopCounterMode has formulas for addmm and baddbmm but not for their
# in-place forms, which accumulate a matmul onto an existing tensor.
INPLACE_GEMM_FLOPS = {
    torch.ops.aten.addmm_: inplace_addmm_flop,
    torch.ops.aten.baddbmm_: inplace_baddbmm_flop,
}


def count(run: Callable[[], object]) -> Tuple[FlopCounterMode, Counter]:
    """Run once, counting FLOPs per module and the operators not counted."""
    flop_counter = FlopCounterMode(
        display=False, custom_mapping=INPLACE_GEMM_FLOPS)
    recorder = OperatorRecorder()
    with torch.no_grad(), flop_counter, recorder:
        run()
    uncounted = Counter()
    for op, calls in recorder.calls.items():
        # Views only reinterpret memory; they have no arithmetic to count.
        if (op.is_view or op.overloadpacket in FREE_OPS
                or op.overloadpacket in flop_counter.flop_registry):
            continue
        uncounted[str(op.overloadpacket)] += calls
    return flop_counter, uncounted


def backbone_rows(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """Each stage (child) of the backbone, then the whole backbone."""
    if not hasattr(model, 'backbone'):
        return []
    rows = []
    for name, child in model.backbone.named_children():
        # Stages are usually held in a ModuleList, which never runs itself:
        # list its members.
        members = (
            child.named_children()
            if isinstance(child, nn.ModuleList) else [('', child)])
        for member_name, member in members:
            rows.append(
                ('.'.join(filter(None,
                                 ['backbone', name, member_name])), member))
    return rows + [('backbone', model.backbone)]


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def format_table(model: nn.Module,
                 flop_counts: Dict[str, Dict[object, int]],
                 root: Optional[str] = None) -> str:
    """Per backbone stage, the backbone, the rest and the total.

    ``root`` is the name FlopCounterMode gave ``model``: its class name when
    it was called itself. The rest (necks, heads) is one row, the total
    minus the backbone: mmseg and mmdet call ``decode_head.forward`` and
    ``roi_head.forward`` directly, bypassing the module hooks FlopCounterMode
    attributes FLOPs with, so per-head counts would be wrong.
    """
    root = root or type(model).__name__

    def macs(name: str) -> int:
        key = f'{root}.{name}' if name else 'Global'
        return sum(flop_counts.get(key, {}).values()) // 2

    def line(name: str, num_params: int, num_macs: int) -> str:
        return f'{name:<28}{num_params:>14,}{num_macs:>18,}'

    lines = [f'{"module":<28}{"params":>14}{"multiply-adds":>18}']
    for name, module in backbone_rows(model):
        if params(module) or macs(name):
            lines.append(line(name, params(module), macs(name)))
    if hasattr(model, 'backbone'):
        lines.append(
            line('rest (neck, heads)',
                 params(model) - params(model.backbone),
                 macs('') - macs('backbone')))
    lines.append(line('total', params(model), macs('')))
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    check_file(args.config, 'Config file')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)
    scope = cfg.default_scope
    shape = input_shape(args.shape, scope)
    inputs = torch.randn(
        1, 3, *shape, generator=torch.Generator().manual_seed(0))
    if is_two_stage(model):
        counted, root = 'two_stage', 'TwoStageForwardDummy.detector'
        dummy = TwoStageForwardDummy(model)
        flop_counter, uncounted = count(lambda: dummy(inputs))
    else:
        counted, root = scope, None
        flop_counter, uncounted = count(tensor_forward(model, scope, inputs))
    total_macs = flop_counter.get_total_flops() // 2

    print(f'Config: {args.config}')
    print(f'Model: {type(model).__name__} ({scope}), input 1x3x'
          f'{shape[0]}x{shape[1]}')
    print(f'Counted: {COUNTED_PARTS[counted]}')
    print('Multiply-adds: FLOPs / 2 of ' + ', '.join(
        sorted(str(op) for op in flop_counter.get_flop_counts()['Global'])))
    print()
    print(format_table(model, flop_counter.get_flop_counts(), root))
    print()
    print(f'Params: {params(model) / 1e6:.1f}M   '
          f'Multiply-adds: {total_macs / 1e9:.1f}G')
    print('Not counted (ran without a FLOP formula; calls): ' +
          ', '.join(f'{op} x{calls}'
                    for op, calls in sorted(uncounted.items())))


if __name__ == '__main__':
    main()
