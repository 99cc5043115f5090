# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet: "Sparse MLP for Image Recognition: Is Self-Attention Really
Necessary?" (Tang et al., AAAI 2022, https://arxiv.org/abs/2109.05422).

The backbone; its layers are in :mod:`.smlpnet_layers`, what it does to a
state dict before loading in :mod:`.smlpnet_checkpoint`. Outputs are NCHW
tensors, as every OpenMMLab neck and head expects.
"""
import math
import re
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.utils import to_2tuple
from torch.nn.modules.batchnorm import _BatchNorm

from mmsmlp.registry import MODELS
from .smlpnet_checkpoint import adapt_state_dict
from .smlpnet_layers import TOKEN_MIXING, SMLPStage, _nchw, stage_stride

MIN_INPUT_SIZE = 32  # total stride of the network
MIXING_MODES = ('resize', 'window')
FUSIONS = ('concat', 'sum', 'weighted_sum')
LAYOUTS = ('parallel', 'sequential')

# The paper's variants: width C of stage 0, blocks per stage, and the
# channel MLP's expansion alpha.
ARCH_ZOO = {
    'tiny': dict(embed_dims=80, depths=(2, 8, 14, 2), alpha=3),
    'small': dict(embed_dims=96, depths=(2, 10, 24, 2), alpha=3),
    'base': dict(embed_dims=112, depths=(2, 10, 24, 2), alpha=3),
}
NUM_STAGES = 4


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'{name}={value!r} is not supported; choose one of '
                         f'{list(choices)}.')


def _parse_arch(arch: Union[str, dict]) -> dict:
    if isinstance(arch, str):
        if arch not in ARCH_ZOO:
            raise ValueError(f'Unknown arch {arch!r}: choose one of '
                             f'{sorted(ARCH_ZOO)} or pass a dict with '
                             f"'embed_dims', 'depths' and 'alpha'.")
        return dict(ARCH_ZOO[arch])
    if not isinstance(arch, dict):
        raise ValueError(f'arch must be one of {sorted(ARCH_ZOO)} or '
                         f'a dict, got {type(arch).__name__}.')
    arch = {'alpha': 3, **arch}
    unknown = set(arch) - {'embed_dims', 'depths', 'alpha'}
    missing = {'embed_dims', 'depths'} - set(arch)
    if unknown or missing:
        raise ValueError(
            f'A custom arch needs the keys embed_dims (int), depths (4 '
            f'ints) and optionally alpha (int); missing '
            f'{sorted(missing)}, '
            f'unknown {sorted(unknown)}. Named archs: '
            f'{sorted(ARCH_ZOO)}.')
    depths = arch['depths']
    if (not isinstance(depths, Sequence) or len(depths) != NUM_STAGES
            or not all(isinstance(d, int) and d > 0 for d in depths)):
        raise ValueError(f'arch depths must be {NUM_STAGES} positive '
                         f'ints, got {depths!r}.')
    for key in ('embed_dims', 'alpha'):
        if not isinstance(arch[key], int) or arch[key] <= 0:
            raise ValueError(f'arch {key} must be a positive int, got '
                             f'{arch[key]!r}.')
    return arch


def _parse_out_indices(out_indices) -> Tuple[int, ...]:
    if isinstance(out_indices, int):
        out_indices = [out_indices]
    parsed = []
    for index in out_indices:
        if not -NUM_STAGES <= index < NUM_STAGES:
            raise ValueError(
                f'out_indices {tuple(out_indices)} has {index}, but '
                f'sMLPNet has stages 0-{NUM_STAGES - 1} '
                f'(or -4 to -1).')
        parsed.append(index % NUM_STAGES)
    if not parsed:
        raise ValueError(
            'out_indices is empty: list at least one stage (0-3) whose '
            'output the backbone returns, e.g. out_indices=(3, ) for a '
            'classifier or (0, 1, 2, 3) for an FPN.')
    return tuple(sorted(set(parsed)))


def _parse_frozen_stages(frozen_stages: int) -> int:
    if not -1 <= frozen_stages <= NUM_STAGES:
        raise ValueError(
            f'frozen_stages must be in [-1, {NUM_STAGES}] (the number '
            f'of leading stages to freeze), got {frozen_stages}.')
    return max(frozen_stages, 0)


def _parse_token_mixing(token_mixing) -> Tuple[str, ...]:
    if isinstance(token_mixing, str):
        token_mixing = (token_mixing, ) * NUM_STAGES
    if len(token_mixing) != NUM_STAGES:
        raise ValueError(f'token_mixing needs one value or '
                         f'{NUM_STAGES}, got {token_mixing!r}.')
    for choice in token_mixing:
        _check_choice('token_mixing', choice, TOKEN_MIXING)
    return tuple(token_mixing)


@MODELS.register_module()
class SMLPNet(BaseModule):
    """sMLPNet backbone.

    A four-stage pyramid of strides 4, 8, 16 and 32 with C, 2C, 4C and 8C
    channels. Stage 1 embeds 4x4 patches, later stages merge 2x2 patches,
    each by a linear layer (a strided convolution). Every block mixes tokens
    with a depthwise 3x3 convolution then the sMLP module (identity, a
    linear layer along H and one along W, concatenated and fused by a 1x1
    projection), and mixes channels with an MLP.

    The H and W mixing weights are tied to the token grid of ``img_size``;
    inputs of any size of at least 32 x 32 go through ``mixing_mode``.
    docs/backbone.md explains the input sizes, the two mixing modes, the
    resize-on-load of checkpoints and how padding reaches the features.

    Args:
        arch (str | dict): ``'tiny'``, ``'small'``, ``'base'`` (see
            :attr:`arch_zoo`) or a dict with keys ``embed_dims`` (int C),
            ``depths`` (4 ints) and optionally ``alpha`` (int, the channel
            MLP's expansion, default 3).
        img_size (int | tuple[int, int]): Reference input size (H, W) the
            sMLP weights are built for. Defaults to 224.
        in_channels (int): Input channels. Defaults to 3.
        mixing_mode (str): How H/W mixing applies to a grid other than the
            reference: ``'resize'`` resamples the weights to the actual
            length (global mixing at any size); ``'window'`` applies the
            reference weights in windows of the reference length, zero
            padding the axis to whole windows. Defaults to ``'resize'``.
        shift_windows (bool): In ``'window'`` mode, shift windows by half a
            window in every second block so information crosses windows.
            Defaults to True.
        drop_path_rate (float): Stochastic depth rate of the last block,
            decaying linearly to 0 at the first. Defaults to 0.
        out_indices (Sequence[int] | int): Stages (0-3) whose outputs are
            returned. The stages after the last one listed are not built
            (every parameter then gets a gradient, as DDP requires), and
            their weights in a checkpoint are skipped on load (logged).
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): Freeze the parameters and BatchNorm statistics
            of the first ``frozen_stages`` stages (with ``4``, also
            ``final_norm``). 0 or -1 freezes nothing. Defaults to 0.
        norm_eval (bool): Keep every BatchNorm layer in eval mode during
            training (frozen statistics). Defaults to False.
        with_cp (bool): Checkpoint each block: keep only its input and
            recompute it in the backward pass, saving memory at the cost of
            a second forward pass. The recomputation leaves BatchNorm
            running statistics alone, so they are updated once per step,
            as without checkpointing. Defaults to False.
        norm_cfg (dict): Config of the BatchNorm layers (token mixing and
            ``final_norm``), e.g. ``dict(type='SyncBN')``.
            Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        final_norm (bool): Apply a BatchNorm to the last stage's output, as
            the official classifier does before pooling; built only when
            stage 3 is in ``out_indices``. Defaults to True.
        token_mixing (str | Sequence[str]): Token mixing of each stage (one
            value for all or four): ``'dwconv_smlp'`` (the paper's model),
            ``'smlp'`` (no depthwise conv: "global only"), ``'dwconv'`` (no
            sMLP: "local only", and the stage-removal study), ``'mlp'`` (a
            dense MLP-Mixer token mixing over all tokens, valid only at
            ``img_size``, and its weights load only from a checkpoint of the
            same ``img_size``). Defaults to ``'dwconv_smlp'``.
        smlp_fusion (str): ``'concat'`` (concat + 1x1 projection, the
            paper), ``'sum'`` or ``'weighted_sum'``. Defaults to ``'concat'``.
        smlp_layout (str): ``'parallel'`` H and W branches (the paper) or
            ``'sequential'`` H then W mixing. Defaults to ``'parallel'``.
        smlp_identity (bool): Keep the identity branch. Defaults to True.
        allow_partial_load (bool): Let a checkpoint that lacks some of the
            backbone's tensors load, the others keeping their initial
            values (logged). By default such a load raises an error that
            names the missing tensors, since a backbone left partly random
            still trains, silently worse. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``,
            where ``checkpoint`` may also be an official SPACH file or URL
            (converted when loaded; ``'URL#model_ema'`` takes its EMA
            weights). Without one, layers keep PyTorch's default
            initialisation, as in the official code.

    Shapes:
        - Input: ``(N, in_channels, H, W)`` with H, W >= 32.
        - Output: a tuple with, for each ``i`` in ``out_indices``, an NCHW
          tensor ``(N, C * 2**i, ceil(H / 2**(i+2)), ceil(W / 2**(i+2)))``.

    Example:
        >>> import torch
        >>> from mmsmlp.models import SMLPNet
        >>> model = SMLPNet('tiny').eval()
        >>> outs = model(torch.rand(1, 3, 200, 300))
        >>> [tuple(o.shape) for o in outs]
        [(1, 80, 50, 75), (1, 160, 25, 38), (1, 320, 13, 19), (1, 640, 7, 10)]
    """

    #: The paper's variants (:data:`ARCH_ZOO`).
    arch_zoo = ARCH_ZOO
    num_stages = NUM_STAGES

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 img_size: Union[int, Sequence[int]] = 224,
                 in_channels: int = 3,
                 mixing_mode: str = 'resize',
                 shift_windows: bool = True,
                 drop_path_rate: float = 0.,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = 0,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 final_norm: bool = True,
                 token_mixing: Union[str, Sequence[str]] = 'dwconv_smlp',
                 smlp_fusion: str = 'concat',
                 smlp_layout: str = 'parallel',
                 smlp_identity: bool = True,
                 allow_partial_load: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        arch = _parse_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depths = tuple(arch['depths'])
        self.alpha = arch['alpha']
        self.img_size = tuple(to_2tuple(img_size))
        self.in_channels = in_channels
        self.out_indices = _parse_out_indices(out_indices)
        self.frozen_stages = _parse_frozen_stages(frozen_stages)
        self.norm_eval = norm_eval
        self.allow_partial_load = allow_partial_load
        token_mixing = _parse_token_mixing(token_mixing)
        _check_choice('mixing_mode', mixing_mode, MIXING_MODES)
        _check_choice('smlp_fusion', smlp_fusion, FUSIONS)
        _check_choice('smlp_layout', smlp_layout, LAYOUTS)
        if min(self.img_size) < MIN_INPUT_SIZE:
            raise ValueError(f'img_size {self.img_size} must be at least '
                             f'{MIN_INPUT_SIZE} on each side.')

        # The rates of the whole network, also when the last stages are not
        # built; on the CPU even under a `torch.device('meta')` context.
        drop_paths = torch.linspace(
            0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        smlp_cfg = dict(
            mixing_mode=mixing_mode,
            fusion=smlp_fusion,
            layout=smlp_layout,
            identity=smlp_identity)
        self.channels = [
            self.embed_dims * 2**i for i in range(self.num_stages)
        ]
        self.stages = nn.ModuleList()
        for i in range(self.out_indices[-1] + 1):
            first = sum(self.depths[:i])
            self.stages.append(
                SMLPStage(
                    in_channels=in_channels if i == 0 else self.channels[i -
                                                                         1],
                    embed_dims=self.channels[i],
                    patch_size=4 if i == 0 else 2,
                    depth=self.depths[i],
                    drop_paths=drop_paths[first:first + self.depths[i]],
                    smlp_cfg=(smlp_cfg if TOKEN_MIXING[token_mixing[i]][1]
                              == 'smlp' else None),
                    shift_windows=shift_windows and mixing_mode == 'window',
                    grid_size=self.grid_size(i),
                    alpha=self.alpha,
                    token_mixing=token_mixing[i],
                    with_cp=with_cp,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
        self.final_norm = (
            build_norm_layer(norm_cfg, self.channels[-1])[1]
            if final_norm and 3 in self.out_indices else None)

        self._register_load_state_dict_pre_hook(self._adapt_state_dict)
        self._freeze_stages()

    def grid_size(self, stage: int) -> Tuple[int, int]:
        """Token grid of ``stage`` at the reference input size."""
        return tuple(math.ceil(s / stage_stride(stage)) for s in self.img_size)

    # ------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self._check_input(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = _nchw(stage(x))
            if i == self.num_stages - 1 and self.final_norm is not None:
                x = self.final_norm(x)
            if i in self.out_indices:
                outs.append(x.contiguous())
        return tuple(outs)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'SMLPNet expects (N, {self.in_channels}, H, W) images, got '
                f'shape {tuple(x.shape)}; set in_channels to match the data.')
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(
                f'Input of {tuple(x.shape[-2:])} pixels is smaller than '
                f'{MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}, the total stride of '
                f'sMLPNet; resize or pad the images to at least that.')
        weight = self.stages[0].downsample.weight
        if (x.dtype != weight.dtype
                and not torch.is_autocast_enabled(x.device.type)):
            raise TypeError(
                f'SMLPNet got {x.dtype} images but its weights are '
                f'{weight.dtype}: convert one to the other (e.g. '
                f'model.to({x.dtype}) or images.to({weight.dtype})), or run '
                'mixed precision under torch.autocast.')

    # ---------------------------------------------------- training options
    def _freeze_stages(self) -> None:
        frozen = list(self.stages[:self.frozen_stages])
        if (self.frozen_stages == self.num_stages
                and self.final_norm is not None):
            frozen.append(self.final_norm)
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = '') -> Tuple[int, int]:
        """The layer depth of a parameter, for layer-wise learning-rate decay
        (mmpretrain's ``LearningRateDecayOptimWrapperConstructor``, or
        mmsmlp's ``LayerDecayOptimWrapperConstructor`` for mmdet and mmseg
        models).

        Layers are counted from the input: the stem (stage 0's patch
        embedding) is layer 0, block j of stage i is layer
        ``sum(depths[:i]) + j + 1``, and the final norm is the last layer,
        ``num_layers - 1`` with ``num_layers`` = the number of blocks built
        + 2. The patch merging that opens stage i > 0 shares the layer of
        the block it follows (the last of stage i - 1), as Swin counts its
        patch merging with the stage before it. Parameters outside the
        backbone (names without ``prefix``: neck, heads) are in the last
        layer too, as in mmpretrain's backbones.

        Args:
            param_name (str): The parameter's name, e.g.
                ``'backbone.stages.1.blocks.0.channel_mixing.fc1.weight'``.
            prefix (str): The backbone's prefix in ``param_name``, e.g.
                ``'backbone.'``.

        Returns:
            tuple[int, int]: The layer depth and the number of layers.
        """
        depths = [len(stage.blocks) for stage in self.stages]
        num_layers = sum(depths) + 2
        match = re.match(
            re.escape(prefix) + r'stages\.(\d+)\.(?:blocks\.(\d+)\.)?',
            param_name)
        if match is None:  # final norm, or outside the backbone
            return num_layers - 1, num_layers
        stage, block = match.groups()
        depth = sum(depths[:int(stage)])
        if block is not None:
            depth += int(block) + 1
        return depth, num_layers

    # ------------------------------------------------------ checkpoints
    def _adapt_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Before loading: convert the official layout, refuse what does not
        fit, skip unbuilt stages, fit size-tied weights to our grids."""
        adapt_state_dict(self, state_dict, prefix)
