# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet: "Sparse MLP for Image Recognition: Is Self-Attention Really
Necessary?" (Tang et al., AAAI 2022, https://arxiv.org/abs/2109.05422).

The network keeps its features channels-last, ``(B, H, W, C)``, between
layers: the channel MLP and the 1x1 fusion are linear layers over the
channels of that contiguous memory (:class:`PointwiseLinear`), and mixing
along H or W is a batched matmul on a view, with none of the
permute-and-copy of the official implementation. Outputs are returned as
NCHW tensors, as every OpenMMLab neck and head expects.
"""
import contextlib
import math
import re
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.utils import to_2tuple
from torch.nn.modules.batchnorm import _BatchNorm

from mmsmlp.registry import MODELS

MIN_INPUT_SIZE = 32  # total stride of the network
MIXING_MODES = ('resize', 'window')
TOKEN_MIXERS = ('dwconv_smlp', 'smlp', 'dwconv', 'mlp')
FUSIONS = ('concat', 'sum', 'weighted_sum')
LAYOUTS = ('parallel', 'sequential')


def _nchw(x: torch.Tensor) -> torch.Tensor:
    """A channels-last feature ``(B, H, W, C)`` viewed as NCHW (no copy)."""
    return x.permute(0, 3, 1, 2)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """An NCHW feature as contiguous channels-last ``(B, H, W, C)``; free
    when ``x`` is already in channels_last memory format."""
    return x.permute(0, 2, 3, 1).contiguous()


def _exporting() -> bool:
    """Whether the model is being traced into a graph (``torch.onnx``,
    ``torch.jit.trace``, ``torch.export``, ``torch.compile``): a graph must
    not hold decisions taken on the traced input size (a compiled one would
    be guarded on it and recompiled at the next size), so it takes the
    computation that holds at every size."""
    return (torch.jit.is_tracing() or torch.compiler.is_exporting()
            or torch.compiler.is_compiling())


class PointwiseLinear(nn.Linear):
    """``nn.Linear`` over the channels of channels-last features
    ``(B, H, W, C_in) -> (B, H, W, C_out)``, with its parameters and result,
    computed as a 1x1 convolution of the same memory viewed as channels-last
    NCHW (no copy).

    On the CPU this runs in oneDNN's convolution instead of the BLAS GEMM
    that ``nn.Linear`` calls; on sMLPNet-T's shapes it made the backbone
    about 10% faster in inference and training (docs/benchmark.md).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(_nchw(x), self.weight[:, :, None, None], self.bias)
        return out.permute(0, 2, 3, 1)


def length_as_tensor(length: int, dtype: torch.dtype, device) -> torch.Tensor:
    """``length`` as a one-element tensor, made on ``device`` (no copy from
    the host) by ``torch.arange(length)``; when torch.onnx traces the model,
    ``length`` is the traced size of the input and so is the result, which
    keeps the exported graph's size arithmetic dynamic."""
    return torch.arange(length, dtype=dtype, device=device)[-1:] + 1


def resampling_matrix(length: int,
                      ref_length: int,
                      device=None) -> torch.Tensor:
    """The float32 ``(length, ref_length)`` matrix that resamples
    ``ref_length`` samples of a signal on [0, 1] to ``length`` samples with
    a triangle (linear) filter: linear interpolation between the two
    nearest samples when growing; when shrinking, the filter widens to the
    output spacing, so each output averages the inputs its footprint covers
    (a low-pass filter against aliasing). Rows sum to 1; at
    ``length == ref_length`` it is exactly the identity. This is what
    ``F.interpolate(mode='bilinear', align_corners=False, antialias=True)``
    does along one axis, written as a matrix so that it is a plain matmul
    for every exporter and compiler. Everything that depends on ``length``
    is a tensor operation (see :func:`length_as_tensor`).

    The positions are computed in float32 whatever the model's dtype:
    bfloat16 holds integers exactly only up to 256 and float16 up to 2048,
    so in those dtypes the positions of a long axis (334 tokens at 1333 px)
    round to the wrong samples."""
    dtype = torch.float32
    scale = ref_length / length_as_tensor(length, dtype, device)
    centers = (torch.arange(length, dtype=dtype, device=device) + 0.5) * scale
    positions = torch.arange(ref_length, dtype=dtype, device=device) + 0.5
    distances = (positions - centers[:, None]).abs() / scale.clamp(min=1.)
    weights = (1 - distances).clamp(min=0)
    return weights / weights.sum(1, keepdim=True)


def resize_axial_weight(weight: torch.Tensor, bias: torch.Tensor,
                        length: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Resize an N x N token-mixing weight and its N bias to ``length`` L.

    The weight is treated as samples of a continuous kernel k(s, t) on the
    unit square and resampled along both axes with the L x N matrix R of
    :func:`resampling_matrix` (interpolated when L > N, low-pass filtered
    when L < N, so a pattern finer than the new grid averages out instead
    of aliasing into a coarse one): R W R^T * N / L. The factor N / L makes
    summing over L inputs approximate the same integral as summing over N
    did (a weight that averages its inputs keeps averaging). The bias
    becomes R b. At L == N, R is the identity and the weight and bias come
    out unchanged, bit for bit. The resampling runs in float32 and the
    results are cast back to the weight's dtype.
    """
    ref_length = weight.shape[0]
    resample = resampling_matrix(length, ref_length, weight.device)
    resized = resample @ weight.float() @ resample.T * (
        ref_length / length_as_tensor(length, torch.float32, weight.device))
    resized_bias = resample @ bias.float()
    return resized.to(weight.dtype), resized_bias.to(bias.dtype)


class AxialLinear(nn.Module):
    """A linear layer along one spatial axis, shared by all channels and by
    all positions on the other axis (one branch of the sMLP module).

    Args:
        ref_length (int): Length N of the axis at the reference input size;
            the weight is N x N and the bias N.
        axis (int): 1 to mix along H, 2 to mix along W of a ``(B, H, W, C)``
            input.
        mode (str): How to apply the weight when the axis length L differs
            from N. ``'resize'``: resample the weight to L x L at every call
            (see :func:`resize_axial_weight`: interpolated when L > N,
            low-pass filtered when L < N), so mixing stays global.
            ``'window'``: apply the N x N weight within windows of N
            positions, zero-padding the axis to a multiple of N.
        shift (bool): In ``'window'`` mode with L > N, offset the windows by
            N // 2 so that neighbouring windows of consecutive blocks
            overlap. Unused otherwise.
    """

    def __init__(self,
                 ref_length: int,
                 axis: int,
                 mode: str = 'resize',
                 shift: bool = False):
        super().__init__()
        self.ref_length = ref_length
        self.axis = axis
        self.mode = mode
        self.shift = shift
        # nn.Conv2d(N, N, 1)'s default initialisation, as in the official code.
        bound = 1 / math.sqrt(ref_length)
        self.weight = nn.Parameter(
            torch.empty(ref_length, ref_length).uniform_(-bound, bound))
        self.bias = nn.Parameter(
            torch.empty(ref_length).uniform_(-bound, bound))

    def extra_repr(self) -> str:
        return (f'ref_length={self.ref_length}, axis={"HW"[self.axis - 1]}, '
                f'mode={self.mode}, shift={self.shift}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[self.axis]
        if not _exporting() and length == self.ref_length:
            # Both modes reduce to this at L == N, bit for bit; skipping
            # their size arithmetic saves ~10% at batch 1 in eager mode.
            return self._mix(x, self.weight, self.bias)
        if self.mode == 'resize':
            return self._mix(
                x, *resize_axial_weight(self.weight, self.bias, length))
        return self._mix_in_windows(x)

    def _mix(self, x: torch.Tensor, weight: torch.Tensor,
             bias: torch.Tensor) -> torch.Tensor:
        """out[..., i, ...] = sum_j weight[i, j] x[..., j, ...] + bias[i]."""
        B, H, W, C = x.shape
        # The mixed axis becomes the rows of a batched matmul on a view:
        # (B, H, W*C) for H, (B*H, W, C) for W. An explicit baddbmm, unlike
        # torch.matmul's broadcasting, neither copies nor transposes x, and
        # adds the bias in the same pass.
        x = x.reshape(B, H, W *
                      C) if self.axis == 1 else x.reshape(B * H, W, C)
        out = torch.baddbmm(
            bias.view(-1, 1), weight.expand(x.shape[0], -1, -1), x)
        return out.view(B, H, W, C)

    def _mix_in_windows(self, x: torch.Tensor) -> torch.Tensor:
        n = self.ref_length
        length = x.shape[self.axis]
        # A product, not a conditional: traced, it follows the input size.
        before = (length > n) * (n // 2) if self.shift else 0
        after = -(length + before) % n
        # F.pad lists (before, after) pairs from the last dimension backwards.
        pad = (0, 0) * (3 - self.axis) + (before, after)
        x = F.pad(x, pad)
        B, H, W, C = x.shape
        if self.axis == 1:  # windows of n rows become batch entries
            windows = x.view(B * (H // n), n, W, C)
        else:  # windows of n columns become rows of the batch
            windows = x.view(B, H * (W // n), n, C)
            windows = windows.view(B * H * (W // n), 1, n, C)
        out = self._mix(windows, self.weight, self.bias).view(B, H, W, C)
        return out.narrow(self.axis, before, length)


class DWConvMixing(nn.Module):
    """Local token mixing: BN, activation, depthwise 3x3 convolution."""

    def __init__(self, embed_dims: int, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.act = build_activation_layer(act_cfg)
        self.conv = nn.Conv2d(
            embed_dims,
            embed_dims,
            3,
            padding=1,
            groups=embed_dims,
            bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _nchw(x)  # channels_last NCHW: BN and the conv run in place
        return _nhwc(self.conv(self.act(self.norm(x))))


class SparseMLP(nn.Module):
    """The sMLP module: BN, activation, then an identity branch, a linear
    layer along W and one along H, fused into ``embed_dims`` channels.

    Args:
        embed_dims (int): Channels C.
        grid_size (tuple[int, int]): Token grid (H, W) at the reference size.
        norm_cfg (dict): Config of the BatchNorm layer.
        act_cfg (dict): Config of the activation.
        mixing_mode (str): ``'resize'`` or ``'window'``; see
            :class:`AxialLinear`.
        shift (bool): Shift the windows in ``'window'`` mode.
        fusion (str): ``'concat'``: concatenate the branches (identity,
            W-mixed, H-mixed, the official order) and project them to C
            channels with ``fuse``, a 1x1 projection (the paper's choice).
            ``'sum'``: add them. ``'weighted_sum'``: add them with learned
            per-channel weights.
        layout (str): ``'parallel'``: W and H mixing as two branches of the
            input (the paper). ``'sequential'``: one branch, H mixing then W
            mixing.
        identity (bool): Include the identity branch.
    """

    def __init__(self,
                 embed_dims: int,
                 grid_size: Tuple[int, int],
                 norm_cfg: dict,
                 act_cfg: dict,
                 mixing_mode: str = 'resize',
                 shift: bool = False,
                 fusion: str = 'concat',
                 layout: str = 'parallel',
                 identity: bool = True):
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.act = build_activation_layer(act_cfg)
        self.mix_h = AxialLinear(grid_size[0], 1, mixing_mode, shift)
        self.mix_w = AxialLinear(grid_size[1], 2, mixing_mode, shift)
        self.layout = layout
        self.identity = identity
        self.fusion = fusion
        num_branches = int(identity) + (2 if layout == 'parallel' else 1)
        if fusion == 'concat':
            self.fuse = PointwiseLinear(
                num_branches * embed_dims, embed_dims, bias=False)
        elif fusion == 'weighted_sum':
            self.branch_weights = nn.Parameter(
                torch.ones(num_branches, embed_dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _nhwc(self.act(self.norm(_nchw(x))))
        if self.layout == 'parallel':
            branches = [self.mix_w(x), self.mix_h(x)]
        else:
            branches = [self.mix_w(self.mix_h(x))]
        if self.identity:
            branches.insert(0, x)
        if self.fusion == 'concat':
            return self.fuse(torch.cat(branches, dim=-1))
        if self.fusion == 'weighted_sum':
            branches = [w * b for w, b in zip(self.branch_weights, branches)]
        return torch.stack(branches).sum(0)


class TokenMLP(nn.Module):
    """Dense token mixing over all H*W tokens, as in MLP-Mixer: BN,
    activation, one (H*W) x (H*W) linear layer. Only defined at the
    reference grid; for the paper's "multi-stage MLP" ablation."""

    def __init__(self, embed_dims: int, grid_size: Tuple[int, int],
                 norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.grid_size = tuple(grid_size)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.act = build_activation_layer(act_cfg)
        self.mix = nn.Linear(grid_size[0] * grid_size[1],
                             grid_size[0] * grid_size[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        if (H, W) != self.grid_size:
            raise ValueError(
                f"token_mixing='mlp' has weights for a {self.grid_size} token "
                f'grid and cannot mix a {(H, W)} grid: feed inputs of exactly '
                f'the img_size the model was built for.')
        x = self.act(self.norm(_nchw(x)))
        # The tokens become the last axis, the one nn.Linear mixes.
        out = self.mix(x.reshape(B, C, H * W))
        return _nhwc(out.view(B, C, H, W))


class ChannelMLP(nn.Module):
    """Channel mixing: LayerNorm, Linear(C, alpha C), activation,
    Linear(alpha C, C), on channels-last features ``(B, H, W, C)``."""

    def __init__(self, embed_dims: int, alpha: int, act_cfg: dict):
        super().__init__()
        self.norm = nn.LayerNorm(embed_dims)
        self.fc1 = PointwiseLinear(embed_dims, alpha * embed_dims)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = PointwiseLinear(alpha * embed_dims, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


@contextlib.contextmanager
def _bn_statistics_kept(module: nn.Module) -> Iterator[None]:
    """Within the context the BatchNorm layers of ``module`` work on copies
    of their running statistics and ``num_batches_tracked``, dropped on exit:
    they normalise exactly as they did before (batch statistics in training,
    the same running ones in eval; torch's BatchNorm and SyncBatchNorm alike)
    and save the same tensors for the backward pass, but the statistics the
    module keeps are left as they were."""
    kept = [(norm, name, getattr(norm, name)) for norm in module.modules()
            if isinstance(norm, _BatchNorm)
            for name in ('running_mean', 'running_var', 'num_batches_tracked')
            if getattr(norm, name) is not None]
    for norm, name, statistic in kept:
        setattr(norm, name, statistic.clone())
    try:
        yield
    finally:
        for norm, name, statistic in kept:
            setattr(norm, name, statistic)


class SMLPBlock(nn.Module):
    """One sMLPNet block on ``(B, H, W, C)`` features::

        x = x + DropPath(token_mixing(x))
        x = x + DropPath(channel_mixing(x))

    where token mixing is the depthwise-conv branch followed by the sMLP
    module (``token_mixing='dwconv_smlp'``), or one of the ablations
    ``'smlp'``, ``'dwconv'`` and ``'mlp'`` (see :class:`SMLPNet`, which
    also describes the arguments not listed here).

    Args:
        smlp_cfg (dict, optional): Keyword arguments of :class:`SparseMLP`
            (``mixing_mode``, ``shift``, ``fusion``, ``layout``,
            ``identity``), for the token mixings with an sMLP module.
        with_cp (bool): Recompute the block in the backward pass instead of
            keeping its activations. The recomputation normalises with the
            same batch statistics but does not update the BatchNorm running
            statistics a second time.
    """

    def __init__(self,
                 embed_dims: int,
                 grid_size: Tuple[int, int],
                 alpha: int = 3,
                 token_mixing: str = 'dwconv_smlp',
                 smlp_cfg: Optional[dict] = None,
                 drop_path: float = 0.,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU')):
        super().__init__()
        self.with_cp = with_cp
        self.local_mixing = (
            DWConvMixing(embed_dims, norm_cfg, act_cfg)
            if 'dwconv' in token_mixing else None)
        if 'smlp' in token_mixing:
            self.global_mixing = SparseMLP(embed_dims, grid_size, norm_cfg,
                                           act_cfg, **(smlp_cfg or {}))
        elif token_mixing == 'mlp':
            self.global_mixing = TokenMLP(embed_dims, grid_size, norm_cfg,
                                          act_cfg)
        else:
            self.global_mixing = None
        self.channel_mixing = ChannelMLP(embed_dims, alpha, act_cfg)
        self.drop_path = (
            DropPath(drop_path) if drop_path > 0 else nn.Identity())

    def token_mixing(self, x: torch.Tensor) -> torch.Tensor:
        if self.local_mixing is not None:
            x = self.local_mixing(x)
        if self.global_mixing is not None:
            x = self.global_mixing(x)
        return x

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.token_mixing(x))
        return x + self.drop_path(self.channel_mixing(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.with_cp and torch.is_grad_enabled()):
            return self._forward(x)
        if torch.compiler.is_compiling():
            # A compiled graph recomputes values only, not the BatchNorm
            # statistics updates, and accepts no recomputation context of
            # its own.
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return cp.checkpoint(
            self._forward,
            x,
            use_reentrant=False,
            context_fn=self._checkpoint_contexts)

    def _checkpoint_contexts(self):
        """Contexts of the forward pass and of its recomputation."""
        return contextlib.nullcontext(), _bn_statistics_kept(self)


class SMLPStage(nn.Module):
    """A downsampling convolution (4x4 patch embedding for the first stage,
    2x2 patch merging after) followed by ``depth`` blocks.

    Inputs whose size is not a multiple of the patch size are zero-padded
    at the bottom and right, so a stage maps H to ceil(H / patch_size).
    In window mode (``shift_windows``) every second block shifts its sMLP
    windows, as Swin does.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: int,
                 depth: int,
                 drop_paths: Sequence[float],
                 smlp_cfg: Optional[dict] = None,
                 shift_windows: bool = False,
                 **block_kwargs):
        super().__init__()
        self.patch_size = patch_size
        self.downsample = nn.Conv2d(
            in_channels, embed_dims, patch_size, stride=patch_size, bias=False)
        self.blocks = nn.ModuleList(
            SMLPBlock(
                embed_dims,
                drop_path=drop_paths[i],
                smlp_cfg=None if smlp_cfg is
                None else dict(smlp_cfg, shift=shift_windows and i % 2 == 1),
                **block_kwargs) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: NCHW (any memory format) -> ``(B, H', W', C)``."""
        H, W = x.shape[-2:]
        x = F.pad(x, (0, -W % self.patch_size, 0, -H % self.patch_size))
        x = _nhwc(self.downsample(x))
        for block in self.blocks:
            x = block(x)
        return x


@MODELS.register_module()
class SMLPNet(BaseModule):
    """sMLPNet backbone.

    A four-stage pyramid of strides 4, 8, 16 and 32 with C, 2C, 4C and 8C
    channels. Stage 1 embeds 4x4 patches, later stages merge 2x2 patches,
    each by a linear layer (a strided convolution). Every block mixes tokens
    with a depthwise 3x3 convolution then the sMLP module (identity, a
    linear layer along H and one along W, concatenated and fused by a 1x1
    projection), and mixes channels with an MLP.

    **Input sizes.** The H and W mixing weights are tied to the token grid
    of a reference input size ``img_size`` (at 224: 56, 28, 14 and 7). Any
    input of at least 32 x 32 is accepted, square or not; ``mixing_mode``
    says how the weights apply to another grid, and at ``img_size`` both
    modes compute exactly the paper's function. ``'resize'`` resamples each
    N x N weight to the actual length L at every forward pass: bilinear
    interpolation when L > N, and when L < N an antialiased (low-pass
    filtered) resampling, so learned patterns finer than the new grid
    average out rather than alias (:func:`resize_axial_weight`). A state
    dict saved for another ``img_size`` is resized on load by the same rule
    (logged), which keeps its function. In ``'window'`` mode the weights are
    windows of the checkpoint's grid, so loading one of another
    ``img_size`` is refused: build the backbone with the checkpoint's
    ``img_size``, which then applies its windows at any input size.
    ``'window'`` is worse far from the size a model was trained
    at: on the segmentation demo, a model trained on crops of ``img_size``
    and tested on 1.5x larger images lost 17 mIoU points in ``'window'``
    mode and none in ``'resize'`` mode (docs/detection.md, mixing-mode
    study).

    **Padding.** A stage zero-pads an input whose size is not a multiple of
    its stride at the bottom and right, and detectors pad a batch to its
    largest image. Padded tokens do not stay zero: a BatchNorm maps zero to
    ``bias - weight * running_mean / sqrt(running_var)``, and the biases of
    the sMLP and the channel MLP make them non-zero after the first block.
    So an image's features depend on how far it was padded: in ``'resize'``
    mode everywhere, as every row and column mixes with its padded part
    through weights resampled to the padded length; in ``'window'`` mode
    mostly near the padding, which reaches the tokens that share its
    windows and, through the depthwise convolutions and the shifted windows
    of later blocks, their neighbours. docs/detection.md measures both.

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

    #: The paper's variants: width C of stage 0, blocks per stage, and the
    #: channel MLP's expansion alpha.
    arch_zoo = {
        'tiny': dict(embed_dims=80, depths=(2, 8, 14, 2), alpha=3),
        'small': dict(embed_dims=96, depths=(2, 10, 24, 2), alpha=3),
        'base': dict(embed_dims=112, depths=(2, 10, 24, 2), alpha=3),
    }
    num_stages = 4

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
        arch = self._parse_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depths = tuple(arch['depths'])
        self.alpha = arch['alpha']
        self.img_size = tuple(to_2tuple(img_size))
        self.in_channels = in_channels
        self.out_indices = self._parse_out_indices(out_indices)
        self.frozen_stages = self._parse_frozen_stages(frozen_stages)
        self.norm_eval = norm_eval
        self.allow_partial_load = allow_partial_load
        token_mixing = self._parse_token_mixing(token_mixing)
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
        self.channels = [self.embed_dims * 2**i for i in range(4)]
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
                    smlp_cfg=smlp_cfg if 'smlp' in token_mixing[i] else None,
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

    # ----------------------------------------------------------- arguments
    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(f'Unknown arch {arch!r}: choose one of '
                                 f'{sorted(cls.arch_zoo)} or pass a dict with '
                                 f"'embed_dims', 'depths' and 'alpha'.")
            return dict(cls.arch_zoo[arch])
        if not isinstance(arch, dict):
            raise ValueError(f'arch must be one of {sorted(cls.arch_zoo)} or '
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
                f'{sorted(cls.arch_zoo)}.')
        depths = arch['depths']
        if (not isinstance(depths, Sequence) or len(depths) != cls.num_stages
                or not all(isinstance(d, int) and d > 0 for d in depths)):
            raise ValueError(f'arch depths must be {cls.num_stages} positive '
                             f'ints, got {depths!r}.')
        for key in ('embed_dims', 'alpha'):
            if not isinstance(arch[key], int) or arch[key] <= 0:
                raise ValueError(f'arch {key} must be a positive int, got '
                                 f'{arch[key]!r}.')
        return arch

    @classmethod
    def _parse_out_indices(cls, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        parsed = []
        for index in out_indices:
            if not -cls.num_stages <= index < cls.num_stages:
                raise ValueError(
                    f'out_indices {tuple(out_indices)} has {index}, but '
                    f'sMLPNet has stages 0-{cls.num_stages - 1} '
                    f'(or -4 to -1).')
            parsed.append(index % cls.num_stages)
        if not parsed:
            raise ValueError(
                'out_indices is empty: list at least one stage (0-3) whose '
                'output the backbone returns, e.g. out_indices=(3, ) for a '
                'classifier or (0, 1, 2, 3) for an FPN.')
        return tuple(sorted(set(parsed)))

    @classmethod
    def _parse_frozen_stages(cls, frozen_stages: int) -> int:
        if not -1 <= frozen_stages <= cls.num_stages:
            raise ValueError(
                f'frozen_stages must be in [-1, {cls.num_stages}] (the number '
                f'of leading stages to freeze), got {frozen_stages}.')
        return max(frozen_stages, 0)

    @classmethod
    def _parse_token_mixing(cls, token_mixing) -> Tuple[str, ...]:
        if isinstance(token_mixing, str):
            token_mixing = (token_mixing, ) * cls.num_stages
        if len(token_mixing) != cls.num_stages:
            raise ValueError(f'token_mixing needs one value or '
                             f'{cls.num_stages}, got {token_mixing!r}.')
        for choice in token_mixing:
            _check_choice('token_mixing', choice, TOKEN_MIXERS)
        return tuple(token_mixing)

    def grid_size(self, stage: int) -> Tuple[int, int]:
        """Token grid of ``stage`` at the reference input size."""
        stride = 4 * 2**stage
        return tuple(math.ceil(s / stride) for s in self.img_size)

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
        # Imported here: the adaptation module builds on this one's classes.
        from .smlpnet_checkpoint import adapt_state_dict
        adapt_state_dict(self, state_dict, prefix)


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'{name}={value!r} is not supported; choose one of '
                         f'{list(choices)}.')
