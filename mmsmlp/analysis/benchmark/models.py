# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The benchmark's catalogue: named backbones (every one with its four stage
outputs, drop path off) and config files, each a builder of the model for an
input size."""
import os.path as osp
from typing import Callable, Tuple

import torch.nn as nn
from mmengine.config import Config

from mmsmlp.apis import build_model, tensor_forward
from mmsmlp.testing import OfficialSMLPNet

Builder = Callable[[Tuple[int, int]], nn.Module]
SMLPNET_ARCHS = dict(t='tiny', s='small', b='base')


class ShapeNotSupported(ValueError):
    """The model cannot run at this input size."""


def smlpnet(arch: str, gemm_linear: bool = False, **kwargs) -> Builder:

    def build(shape):
        from mmsmlp.models import SMLPNet
        model = SMLPNet(arch, img_size=224, **kwargs)
        return as_blas_linear(model) if gemm_linear else model

    return build


def as_blas_linear(model: nn.Module) -> nn.Module:
    """``model`` with every ``PointwiseLinear`` replaced by an ``nn.Linear``
    holding the same parameters: the same function computed by the BLAS
    GEMM instead of a oneDNN 1x1 convolution, to compare the two
    formulations on one machine."""
    from mmsmlp.models.backbones.smlpnet_layers import PointwiseLinear
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, PointwiseLinear):
                linear = nn.Linear(
                    child.in_features,
                    child.out_features,
                    bias=child.bias is not None)
                linear.weight, linear.bias = child.weight, child.bias
                setattr(parent, name, linear)
    return model


def official_smlpnet(arch: str) -> Builder:

    def build(shape):
        from mmsmlp.models import SMLPNet
        if shape[0] != shape[1]:
            raise ShapeNotSupported('the official code is square-only')
        variant = SMLPNet.arch_zoo[arch]
        return OfficialSMLPNet(
            variant['embed_dims'],
            variant['depths'],
            variant['alpha'],
            image_size=shape[0])

    return build


def swin_t(shape):
    # mmdet's Swin (Mask R-CNN Swin-T configs), which pads any input size.
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(
        embed_dims=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=7,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3))


def swin_t_mmpretrain(shape):
    # mmpretrain's Swin-T, the ImageNet classifier's backbone; maps smaller
    # than a window are padded (no effect at 224).
    from mmpretrain.models.backbones import SwinTransformer
    return SwinTransformer(
        arch='tiny',
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True)


def resnet50(shape):
    from mmdet.models.backbones import ResNet
    return ResNet(depth=50, out_indices=(0, 1, 2, 3))


def convnext_t(shape):
    from mmpretrain.models.backbones import ConvNeXt
    return ConvNeXt(
        arch='tiny', out_indices=(0, 1, 2, 3), gap_before_final_norm=False)


# Backbones with all four stage outputs, drop path off (it does not change
# inference and barely the cost of training). sMLPNet: smlpnet-{t,s,b}
# ('resize' mixing), with -window ('window' mixing) and/or -cp (with_cp:
# activation checkpointing), all with img_size 224; smlpnet-{t,s,b}-linear
# computes the channel MLP and fusion with nn.Linear (see as_blas_linear).
NAMED_MODELS = {
    **{
        f'smlpnet-{v}{window}{cp}':
        smlpnet(
            arch,
            mixing_mode='window' if window else 'resize',
            with_cp=bool(cp))
        for v, arch in SMLPNET_ARCHS.items()
        for window in ('', '-window')
        for cp in ('', '-cp')
    },
    **{
        f'smlpnet-{v}-linear': smlpnet(arch, gemm_linear=True)
        for v, arch in SMLPNET_ARCHS.items()
    },
    **{
        f'official-smlpnet-{v}': official_smlpnet(arch)
        for v, arch in SMLPNET_ARCHS.items()
    },
    'swin-t': swin_t,
    'swin-t-mmpretrain': swin_t_mmpretrain,
    'resnet-50': resnet50,
    'convnext-t': convnext_t,
}


def config_model(path: str, whole_model: bool) -> Builder:
    """A builder of a config's backbone, or of its whole model."""

    def build(shape):
        model = build_model(Config.fromfile(path))
        return model if whole_model else model.backbone

    return build


def model_builder(name: str, whole_model: bool):
    if name in NAMED_MODELS:
        return NAMED_MODELS[name]
    if name.endswith('.py'):
        if not osp.isfile(name):
            raise FileNotFoundError(f'Config file not found: {name!r}.')
        return config_model(name, whole_model)
    raise ValueError(f'Unknown model {name!r}: pass a config file (.py) or '
                     f'one of {", ".join(NAMED_MODELS)}.')


# ------------------------------------------------------------------ runs
def model_call(name: str, whole_model: bool, model: nn.Module):
    """How to call the model: a backbone on images, or a whole model's
    ``mode='tensor'`` forward."""
    if whole_model and name.endswith('.py'):
        scope = Config.fromfile(name).default_scope
        return lambda module, inputs: tensor_forward(module, scope, inputs)()
    return lambda module, inputs: module(inputs)
