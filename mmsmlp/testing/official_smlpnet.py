# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet computed the way the official code (microsoft/SPACH,
``models/smlp.py``) computes it: the baseline of the speed benchmarks and the
source model of the converter tests.

Features stay NCHW; every sMLP module permutes its input so that the mixed
axis becomes the channel axis of a ``Conv2d(N, N, 1)`` (``proj_h`` mixes W,
``proh_w`` mixes H, the official names), permutes back (each permute feeds a
copy), concatenates identity, W- and H-mixed features and fuses them with a
``Conv2d(3C, C, 1)``; the channel MLP rearranges to channels-last and back.
Only the square input size the model is built for is supported, as in the
official code. Stage outputs are returned like ``SMLPNet``'s, so the two can
be timed and compared as backbones.

:func:`copy_weights_from_smlpnet` loads the weights of an mmsmlp
``SMLPNet`` (at its reference ``img_size``), so outputs can be checked to
match in the same run.

This is this project's own re-implementation, written from the official
code's key layout and semantics (see ``docs/benchmark.md``), not the official
code itself: tests against it check that our model, our converter and it
agree, which catches a wrong key mapping or axis but not a misreading of the
official code shared by both.
"""
import argparse
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from mmsmlp.converters import OFFICIAL_WEIGHTS
from mmsmlp.models import SMLPNet
from .norms import randomize_batch_norms


class DWConv(nn.Module):
    """BN, GELU, depthwise 3x3 convolution (official ``conv_merge``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.BN = nn.BatchNorm2d(channels)
        self.act = nn.GELU()
        self.Conv = nn.Conv2d(
            channels, channels, 3, padding=1, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Conv(self.act(self.BN(x)))


class DWConvBlock(nn.Module):

    def __init__(self, channels: int):
        super().__init__()
        self.conv_merge = DWConv(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_merge(x)


class SMLPBlock(nn.Module):
    """The official sMLP module on NCHW features of a square N x N grid."""

    def __init__(self, grid: int, channels: int):
        super().__init__()
        self.BN = nn.BatchNorm2d(channels)
        self.activation = nn.GELU()
        self.proj_h = nn.Conv2d(grid, grid, 1)
        self.proh_w = nn.Conv2d(grid, grid, 1)
        self.fuse = nn.Conv2d(3 * channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.BN(x))
        # (B, C, H, W) -> (B, W, C, H): W becomes the conv's channels.
        x_h = self.proj_h(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        # (B, C, H, W) -> (B, H, C, W): H becomes the conv's channels.
        x_w = self.proh_w(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        return self.fuse(torch.cat([x, x_h, x_w], dim=1))


class ToChannelsLast(nn.Module):
    """einops ``Rearrange('b c h w -> b h w c')``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class ToChannelsFirst(nn.Module):
    """einops ``Rearrange('b h w c -> b c h w')``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


class FeedForward(nn.Module):

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(0.),
            nn.Linear(hidden_dim, dim), nn.Dropout(0.))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class OfficialSMLPNet(nn.Module):
    """The official ``sMLPNet`` (without drop path; the benchmarks use rate
    0), returning the four stage outputs, the last after ``batch_norm``.

    Args:
        dim (int): Channels of the first stage (80/96/112 for T/S/B).
        depths (tuple[int]): Blocks per stage.
        alpha (int): Channel MLP expansion.
        image_size (int): The (square) input size.
        num_classes (int): Classes of ``mlp_head`` (used by
            :meth:`classify`).
    """

    def __init__(self,
                 dim: int = 80,
                 depths=(2, 8, 14, 2),
                 alpha: int = 3,
                 image_size: int = 224,
                 num_classes: int = 1000):
        super().__init__()
        self.depths = tuple(depths)
        self.image_size = image_size
        self.to_patch_embedding = nn.ModuleList()
        self.token_mix = nn.ModuleList()
        self.channel_mix = nn.ModuleList()
        for i, depth in enumerate(self.depths):
            channels = dim * 2**i
            grid = image_size // 4 // 2**i
            in_channels = 3 if i == 0 else channels // 2
            patch = 4 if i == 0 else 2
            self.to_patch_embedding.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, channels, patch, patch,
                              bias=False)))
            for _ in range(depth):
                self.token_mix.append(
                    nn.Sequential(
                        DWConvBlock(channels), SMLPBlock(grid, channels)))
                self.channel_mix.append(
                    nn.Sequential(ToChannelsLast(), nn.LayerNorm(channels),
                                  FeedForward(channels, alpha * channels),
                                  ToChannelsFirst()))
        self.batch_norm = nn.BatchNorm2d(dim * 2**(len(self.depths) - 1))
        self.mlp_head = nn.Sequential(
            nn.Linear(dim * 2**(len(self.depths) - 1), num_classes))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f'The official sMLPNet only runs at its image_size '
                f'{self.image_size}x{self.image_size}, got '
                f'{tuple(x.shape[-2:])}.')
        outs = []
        block = 0
        for i, depth in enumerate(self.depths):
            x = self.to_patch_embedding[i](x)
            for _ in range(depth):
                x = x + self.token_mix[block](x)
                x = x + self.channel_mix[block](x)
                block += 1
            outs.append(x)
        outs[-1] = self.batch_norm(x)
        return tuple(outs)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The official classifier output: global average pool, then
        ``mlp_head``."""
        return self.mlp_head(self(x)[-1].mean(dim=(2, 3)))


def official_from_smlpnet(backbone: nn.Module) -> OfficialSMLPNet:
    """An :class:`OfficialSMLPNet` of the same variant as an mmsmlp
    ``SMLPNet`` (the paper's block structure), holding its weights."""
    img_size = backbone.img_size
    if img_size[0] != img_size[1]:
        raise ValueError(f'The official sMLPNet is square-only; the backbone '
                         f'has img_size {img_size}.')
    official = OfficialSMLPNet(backbone.embed_dims, backbone.depths,
                               backbone.alpha, img_size[0])
    copy_weights_from_smlpnet(backbone, official)
    return official


@torch.no_grad()
def copy_weights_from_smlpnet(backbone: nn.Module,
                              official: OfficialSMLPNet) -> None:
    """Copy an mmsmlp ``SMLPNet``'s parameters and BN buffers into
    ``official`` (same variant; ``final_norm`` and all four stages)."""
    block = 0
    for i, stage in enumerate(backbone.stages):
        official.to_patch_embedding[i][0].weight.copy_(stage.downsample.weight)
        for ours in stage.blocks:
            local = official.token_mix[block][0].conv_merge
            _copy_bn(ours.local_mixing.norm, local.BN)
            local.Conv.weight.copy_(ours.local_mixing.conv.weight)

            smlp = official.token_mix[block][1]
            mixing = ours.global_mixing
            _copy_bn(mixing.norm, smlp.BN)
            # proj_h mixes along W and proh_w along H (official naming).
            for conv, axial in ((smlp.proj_h, mixing.mix_w), (smlp.proh_w,
                                                              mixing.mix_h)):
                conv.weight.copy_(axial.weight[:, :, None, None])
                conv.bias.copy_(axial.bias)
            smlp.fuse.weight.copy_(mixing.fuse.weight[:, :, None, None])

            channel = official.channel_mix[block]
            channel[1].load_state_dict(ours.channel_mixing.norm.state_dict())
            channel[2].net[0].load_state_dict(
                ours.channel_mixing.fc1.state_dict())
            channel[2].net[3].load_state_dict(
                ours.channel_mixing.fc2.state_dict())
            block += 1
    _copy_bn(backbone.final_norm, official.batch_norm)


def _copy_bn(source: nn.Module, target: nn.Module) -> None:
    target.load_state_dict(source.state_dict())


def random_official_model(
        dim: int,
        depths,
        alpha: int = 3,
        image_size: int = 224,
        num_classes: int = 1000,
        seed: int = 0,
        weight_std: Optional[float] = None) -> OfficialSMLPNet:
    """An :class:`OfficialSMLPNet` with random weights (PyTorch's default
    initialisation, or normal with ``weight_std``) and random BatchNorm
    statistics, standing in for trained official weights."""
    torch.manual_seed(seed)
    model = OfficialSMLPNet(dim, depths, alpha, image_size, num_classes)
    with torch.no_grad():
        if weight_std is not None:
            for param in model.parameters():
                param.normal_(0, weight_std)
        randomize_batch_norms(model)
    return model.eval()


def save_as_spach_trainer(path,
                          model: OfficialSMLPNet,
                          ema_model: Optional[OfficialSMLPNet] = None) -> None:
    """Save ``model`` as SPACH's DeiT-style trainer saves its checkpoints:
    the weights under ``model`` (and ``model_ema``), next to the optimizer,
    scheduler and scaler states, the epoch and an ``argparse.Namespace``."""
    checkpoint = dict(
        model=model.state_dict(),
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3).state_dict(),
        lr_scheduler=dict(base_lrs=[1e-3], last_epoch=299),
        scaler=dict(scale=65536.0, growth_factor=2.0),
        epoch=299,
        args=argparse.Namespace(
            model='smlpnet',
            batch_size=128,
            lr=5e-4,
            output_dir='out',
            opt_betas=None,
            model_ema=ema_model is not None))
    if ema_model is not None:
        checkpoint['model_ema'] = ema_model.state_dict()
    torch.save(checkpoint, path)


def write_official_standins(cache,
                            with_ema: bool = False
                            ) -> Dict[str, OfficialSMLPNet]:
    """SPACH's sMLPNet releases (:data:`~mmsmlp.converters.OFFICIAL_WEIGHTS`,
    S and B) with random weights, saved as SPACH's trainer saves them under
    their release names in ``cache``, torch hub's ``checkpoints`` folder:
    loading the official URLs then reads them as it would read the
    downloads (which our machines cannot make). ``with_ema`` adds other
    random EMA weights to S. Returns the models: ``'small'``, ``'base'``
    and, with EMA, ``'small_ema'``."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    models = {}
    for seed, arch in enumerate(OFFICIAL_WEIGHTS.values()):
        spec = SMLPNet.arch_zoo[arch]
        models[arch] = random_official_model(
            spec['embed_dims'], spec['depths'], spec['alpha'], seed=seed)
    if with_ema:
        spec = SMLPNet.arch_zoo['small']
        models['small_ema'] = random_official_model(
            spec['embed_dims'], spec['depths'], spec['alpha'], seed=2)
    for url, arch in OFFICIAL_WEIGHTS.items():
        save_as_spach_trainer(cache / url.rsplit('/', 1)[1], models[arch],
                              models.get(f'{arch}_ema'))
    return models
