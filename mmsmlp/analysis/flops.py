# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Parameters and multiply-adds of a model, counted as they run.

:func:`count_flops` runs a callable once under
``torch.utils.flop_counter.FlopCounterMode``, which counts matrix multiplies
and convolutions at the ATen dispatch level, so batched and broadcast
``matmul``/``baddbmm`` calls are counted with their full batch, and records
every operator that ran without a FLOP formula, so nothing is left out
silently. Multiply-adds are FLOPs / 2; normalisations, activations, additions
and other element-wise operators are not counted (as in the sMLPNet, Swin
and ConvNeXt papers). :func:`token_mixing_macs` gives the token-mixing cost
of an sMLPNet variant analytically.
"""
import math
from collections import Counter
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from mmsmlp.models import SMLPNet
from mmsmlp.models.backbones.smlpnet_layers import stage_stride

# Views that the schema does not mark as such (reshape of a contiguous
# tensor, detach).
FREE_OPS = (torch.ops.aten._unsafe_view, torch.ops.aten.detach)
# Two-stage detectors are counted as mmdet 2.x's forward_dummy ran them.
NUM_PROPOSALS = 1000
NUM_MASK_ROIS = 100


class OperatorRecorder(TorchDispatchMode):
    """Records every ATen operator that runs, with its number of calls."""

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[func] += 1
        return func(*args, **(kwargs or {}))


def is_two_stage(model: nn.Module) -> bool:
    return getattr(model, 'with_rpn', False)


class TwoStageForwardDummy(nn.Module):
    """Backbone, neck, RPN head and RoI heads of a two-stage detector on
    ``NUM_PROPOSALS`` fixed boxes in the image, the mask heads on the first
    ``NUM_MASK_ROIS`` of them, as mmdet 2.x's ``forward_dummy``, with which
    the published Swin, ConvNeXt and AS-MLP detection FLOPs were counted
    (mmdet 3's ``mode='tensor'`` runs the RoI heads on however many
    proposals survive the RPN's NMS on a random input). A module, so that
    FlopCounterMode names the detector's modules under it."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, inputs: torch.Tensor) -> None:
        from mmdet.structures.bbox import bbox2roi
        height, width = inputs.shape[-2:]
        corners = torch.rand(
            NUM_PROPOSALS, 2, 2, generator=torch.Generator().manual_seed(0))
        corners = corners * torch.tensor([float(width), float(height)])
        rois = bbox2roi([torch.cat([corners.amin(1), corners.amax(1)], dim=1)])
        roi_head = self.detector.roi_head
        # A cascade's heads take their stage index first.
        stages = [(stage, ) for stage in range(roi_head.num_stages)
                  ] if hasattr(roi_head, 'num_stages') else [()]
        features = self.detector.extract_feat(inputs)
        self.detector.rpn_head(features)
        for stage in stages:
            roi_head._bbox_forward(*stage, features, rois)
            if roi_head.with_mask:
                roi_head._mask_forward(*stage, features, rois[:NUM_MASK_ROIS])


def inplace_addmm_flop(self_shape, a_shape, b_shape, *args, **kwargs) -> int:
    """FLOPs of ``self.addmm_(a, b)``: (m, k) @ (k, n)."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def inplace_baddbmm_flop(self_shape, a_shape, b_shape, *args, **kwargs) -> int:
    """FLOPs of ``self.baddbmm_(a, b)``: (bs, m, k) @ (bs, k, n)."""
    return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]


# FlopCounterMode has formulas for addmm and baddbmm but not for their
# in-place forms, which accumulate a matmul onto an existing tensor.
INPLACE_GEMM_FLOPS = {
    torch.ops.aten.addmm_: inplace_addmm_flop,
    torch.ops.aten.baddbmm_: inplace_baddbmm_flop,
}


def count_flops(run: Callable[[], object]) -> Tuple[FlopCounterMode, Counter]:
    """Run once without gradients, counting FLOPs per module and the calls
    of each operator that was not counted."""
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


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


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


def flops_table(model: nn.Module,
                flop_counts: Dict[str, Dict[object, int]],
                root: Optional[str] = None) -> str:
    """Parameters and multiply-adds per backbone stage, of the backbone, the
    rest and the total.

    ``root`` is the name FlopCounterMode gave ``model``: its class name when
    it was called itself. The rest (necks, heads) is one row, the total
    minus the backbone: mmseg and mmdet call ``decode_head.forward`` and
    ``roi_head.forward`` directly, bypassing the module hooks
    FlopCounterMode attributes FLOPs with, so per-head counts would be
    wrong.
    """
    root = root or type(model).__name__

    def macs(name: str) -> int:
        key = f'{root}.{name}' if name else 'Global'
        return sum(flop_counts.get(key, {}).values()) // 2

    def line(name: str, params: int, num_macs: int) -> str:
        return f'{name:<28}{params:>14,}{num_macs:>18,}'

    lines = [f'{"module":<28}{"params":>14}{"multiply-adds":>18}']
    for name, module in backbone_rows(model):
        if num_params(module) or macs(name):
            lines.append(line(name, num_params(module), macs(name)))
    if hasattr(model, 'backbone'):
        lines.append(
            line('rest (neck, heads)',
                 num_params(model) - num_params(model.backbone),
                 macs('') - macs('backbone')))
    lines.append(line('total', num_params(model), macs('')))
    return '\n'.join(lines)


def token_mixing_macs(arch: str, shape: Tuple[int, int]) -> Tuple[int, int]:
    """Multiply-adds per image of all sMLP token-mixing layers of the
    sMLPNet variant ``arch``, and of dense MLP-Mixer token mixing on the
    same grids.

    On a grid of side ceil(size / stride), sMLP mixes each of the H*W*C
    values along its row and its column, ``HW(H+W)C``; a dense token-mixing
    layer mixes all tokens with each other, ``(HW)^2 C``.
    """
    variant = SMLPNet.arch_zoo[arch]
    smlp = dense = 0
    for i, depth in enumerate(variant['depths']):
        h, w = (math.ceil(s / stage_stride(i)) for s in shape)
        channels = variant['embed_dims'] * 2**i
        smlp += depth * h * w * (h + w) * channels
        dense += depth * (h * w)**2 * channels
    return smlp, dense
