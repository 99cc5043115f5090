# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The layers of sMLPNet, from the channels-last helpers to a stage, and the
resampling of the size-tied sMLP weights. :class:`~mmsmlp.models.SMLPNet`
builds on them; nothing here imports the backbone.

The network keeps its features channels-last, ``(B, H, W, C)``, between
layers: the channel MLP and the 1x1 fusion are linear layers over the
channels of that contiguous memory (:class:`PointwiseLinear`), and mixing
along H or W is a batched matmul on a view, with none of the
permute-and-copy of the official implementation.
"""
import contextlib
import math
from typing import Iterator, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from torch.nn.modules.batchnorm import _BatchNorm

# What each token mixing is made of: (a depthwise-conv branch, the global
# mixer). 'dwconv_smlp' is the paper's; the others are its ablations.
TOKEN_MIXING = {
    'dwconv_smlp': (True, 'smlp'),
    'smlp': (False, 'smlp'),
    'dwconv': (True, None),
    'mlp': (False, 'mlp'),
}


def stage_stride(stage: int) -> int:
    """Input pixels per token of stage ``stage`` (0-3): 4, 8, 16, 32."""
    return 4 * 2**stage


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
        # The padded length as num_windows * n, not length plus a remainder:
        # the views below then hold by construction, and torch.compile's
        # shape reasoning need not prove a modulo identity (4x faster
        # tracing, docs/model_zoo.md).
        num_windows = (length + before + n - 1) // n
        after = num_windows * n - length - before
        # F.pad lists (before, after) pairs from the last dimension backwards.
        pad = (0, 0) * (3 - self.axis) + (before, after)
        x = F.pad(x, pad)
        B, H, W, C = x.shape
        if self.axis == 1:  # windows of n rows become batch entries
            windows = x.view(B * num_windows, n, W, C)
        else:  # windows of n columns become rows of the batch
            windows = x.view(B * H * num_windows, 1, n, C)
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
        with_dwconv, global_mixer = TOKEN_MIXING[token_mixing]
        self.local_mixing = (
            DWConvMixing(embed_dims, norm_cfg, act_cfg)
            if with_dwconv else None)
        if global_mixer == 'smlp':
            self.global_mixing = SparseMLP(embed_dims, grid_size, norm_cfg,
                                           act_cfg, **(smlp_cfg or {}))
        elif global_mixer == 'mlp':
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
