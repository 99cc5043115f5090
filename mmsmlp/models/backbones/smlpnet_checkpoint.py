# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What :class:`~mmsmlp.models.SMLPNet` does to a state dict before loading
it (its load-state-dict pre-hook calls :func:`adapt_state_dict`).

In order:

1. An official SPACH state dict, or the SPACH trainer's dict, is converted
   to this layout with the converter's key mapping (logged).
2. A checkpoint of another width, depth or ``in_channels`` is refused.
3. A dense (``token_mixing='mlp'``) token mixing of another grid is refused.
4. Weights of the stages this backbone does not build are skipped (logged).
5. Size-tied sMLP weights of another ``img_size`` are resampled in
   ``'resize'`` mode (logged) and refused in ``'window'`` mode.
6. A checkpoint that would leave any backbone tensor at its initial value is
   refused, naming the missing tensors and the likely cause, unless the
   backbone was built with ``allow_partial_load=True``.

Each step raises ``ValueError`` with the fix, because mmengine's non-strict
loading would only log what did not fit and train a random backbone.
"""
import math
import re
from typing import Dict, List

import torch.nn as nn
from mmengine.logging import print_log

from mmsmlp.converters import (convert_state_dict, is_official_checkpoint,
                               select_weights)
from .smlpnet_layers import (AxialLinear, TokenMLP, resize_axial_weight,
                             stage_stride)

#: A key every SMLPNet state dict has, whatever its arch and out_indices.
STEM_KEY = 'stages.0.downsample.weight'


def adapt_state_dict(backbone, state_dict: dict, prefix: str) -> None:
    """Adapt ``state_dict`` in place for ``backbone`` (whose keys in it start
    with ``prefix``), or raise ``ValueError`` saying why it does not fit."""
    convert_official_layout(state_dict, prefix)
    if not _holds_smlpnet(state_dict, prefix):
        # Nothing to compare archs with: say what is there instead.
        check_complete(backbone, state_dict, prefix)
        return
    check_arch(backbone, state_dict, prefix)
    check_dense_token_mixing(backbone, state_dict, prefix)
    skip_unbuilt_layers(backbone, state_dict, prefix)
    match_grids(backbone, state_dict, prefix)
    check_complete(backbone, state_dict, prefix)


def _own_keys(state_dict: dict, prefix: str) -> List[str]:
    return [key for key in state_dict if key.startswith(prefix)]


def _holds_smlpnet(state_dict: dict, prefix: str) -> bool:
    """Whether the state dict has, under ``prefix``, a tensor only an
    SMLPNet has: the stem, or a block's channel MLP (a checkpoint of a
    backbone whose first stages are frozen and left out still has those).
    Swin's ``stages.*.blocks.*`` keys, say, have neither."""
    block_key = re.compile(
        re.escape(prefix) + r'stages\.\d+\.blocks\.\d+'
        r'\.channel_mixing\.fc1\.weight$')
    return prefix + STEM_KEY in state_dict or any(
        block_key.match(key) for key in state_dict)


# ------------------------------------------------------------- layout
def convert_official_layout(state_dict: dict, prefix: str) -> None:
    """Replace an official checkpoint under ``prefix`` (a bare official
    state dict, or the trainer's dict whose ``model`` entry is taken) by its
    backbone weights in this layout; its classifier head is left out."""
    own = {
        key[len(prefix):]: state_dict[key]
        for key in _own_keys(state_dict, prefix)
    }
    if not is_official_checkpoint(own):
        return
    weights, entry = select_weights(own, use_ema=False)
    backbone_weights, head_weights, arch = convert_state_dict(weights)
    for key in own:
        del state_dict[prefix + key]
    for key, value in backbone_weights.items():
        state_dict[prefix + key] = value
    source = ('a bare official state dict' if entry == 'state_dict' else
              f"the '{entry}' weights of an official training "
              "checkpoint (its EMA weights: load its 'model_ema' entry, or "
              "give the file as 'PATH#model_ema' to a Pretrained init_cfg "
              'or load_from)')
    print_log(
        f'SMLPNet: converted {source} to mmsmlp\'s layout (embed_dims='
        f"{arch['embed_dims']}, depths={arch['depths']}, img_size="
        f"{arch['img_size']}), leaving out {len(head_weights)} classifier "
        'tensors.',
        logger='current')


# --------------------------------------------------------------- arch
def check_arch(backbone, state_dict: dict, prefix: str) -> None:
    """Raise if the checkpoint's widths or depths differ from ours, which
    mmengine's non-strict loading would only log and skip."""
    grid_tied = {
        f'{name}.{param}'
        for name, module in backbone.named_modules()
        for param, _ in _grid_tied_parameters(module)
    }
    mismatched = [
        f'{key}: {tuple(state_dict[prefix + key].shape)} vs '
        f'{tuple(value.shape)}'
        for key, value in backbone.state_dict().items()
        if key not in grid_tied and prefix +
        key in state_dict and state_dict[prefix + key].shape != value.shape
    ]
    depths = _checkpoint_depths(state_dict, prefix)
    other_depths = {
        stage: depth
        for stage, depth in depths.items() if depth != backbone.depths[stage]
    }
    if not mismatched and not other_depths:
        return
    embed_dims = state_dict.get(prefix + STEM_KEY)
    found = dict(
        embed_dims=None if embed_dims is None else embed_dims.shape[0],
        depths=tuple(depths.get(i) for i in range(backbone.num_stages)))
    names = [
        name for name, arch in backbone.arch_zoo.items()
        if all(arch[k] == v for k, v in found.items())
    ]
    raise ValueError(
        f'The checkpoint does not fit SMLPNet(embed_dims='
        f'{backbone.embed_dims}, depths={backbone.depths}, alpha='
        f'{backbone.alpha}, in_channels={backbone.in_channels}): it holds '
        f'{found} ({", ".join(mismatched[:3]) or "other depths"}). Build the '
        f'backbone with the checkpoint\'s arch'
        f'{f" (arch={names[0]!r})" if names else ""} or load a '
        f'checkpoint of this one.')


def check_dense_token_mixing(backbone, state_dict: dict, prefix: str) -> None:
    """Raise if a dense token-mixing weight (``token_mixing='mlp'``) was
    saved for another grid: it mixes every token with every other, so there
    is no resampling that keeps its meaning."""
    for name, module in backbone.named_modules():
        if not isinstance(module, TokenMLP):
            continue
        weight = state_dict.get(f'{prefix}{name}.mix.weight')
        if weight is None or weight.shape == module.mix.weight.shape:
            continue
        stride = _stride(name)
        side = math.isqrt(weight.shape[0])
        square = (f' (img_size={side * stride} if it was square)' if side *
                  side == weight.shape[0] else '')
        raise ValueError(
            f"The checkpoint's dense token mixing {name} "
            f"(token_mixing='mlp') was trained on {weight.shape[0]} "
            f'tokens, this model has {module.grid_size[0]}x'
            f'{module.grid_size[1]} tokens there (img_size='
            f'{backbone.img_size}): dense token-mixing weights cannot be '
            f'resized to another img_size. Build the backbone with the '
            f"checkpoint's img_size{square}.")


# ------------------------------------------------------------- stages
def skip_unbuilt_layers(backbone, state_dict: dict, prefix: str) -> None:
    """Remove the checkpoint's weights of the stages after the last output
    (and of the final norm when it is not built), which loading would
    otherwise report as unexpected keys."""
    unbuilt = tuple(f'stages.{i}.'
                    for i in range(len(backbone.stages), backbone.num_stages))
    if backbone.final_norm is None:
        unbuilt += ('final_norm.', )
    skipped = [
        key for key in _own_keys(state_dict, prefix)
        if key[len(prefix):].startswith(unbuilt)
    ]
    if not skipped:
        return
    for key in skipped:
        del state_dict[key]
    print_log(
        f'SMLPNet: skipped the checkpoint\'s {len(skipped)} tensors of '
        f'{", ".join(name[:-1] for name in unbuilt)}, which this backbone '
        f'does not build (out_indices={backbone.out_indices}).',
        logger='current')


# -------------------------------------------------------------- grids
def match_grids(backbone, state_dict: dict, prefix: str) -> None:
    """Fit size-tied sMLP weights saved for another ``img_size`` to this
    backbone's grids: resampled in ``'resize'`` mode, refused in
    ``'window'`` mode, where the weights define windows of the checkpoint's
    grid and resampling them would change what the model computes.

    What resampling on load preserves: the loaded model computes exactly
    what the checkpoint's model computes at this backbone's ``img_size``
    (both then resample the checkpoint's weights to the same grids, once).
    At other input sizes the loaded model resamples the already resampled
    weights a second time, which is not the same filter as resampling the
    originals once: a model of img_size 64 loaded at 160 matches the
    original at 160 px only, and was 7-27% off at other sizes
    (docs/model_zoo.md). Build the backbone with the checkpoint's
    ``img_size`` to keep its function at every size."""
    other_grids = []
    for name, module in backbone.named_modules():
        if not isinstance(module, AxialLinear):
            continue
        weight = state_dict.get(f'{prefix}{name}.weight')
        if weight is not None and weight.shape[0] != module.ref_length:
            other_grids.append((name, module))
    if not other_grids:
        return
    if other_grids[0][1].mode == 'window':
        _refuse_other_window(backbone, state_dict, prefix, other_grids)
    resized = []
    for name, module in other_grids:
        key = f'{prefix}{name}.'
        weight, bias = state_dict[key + 'weight'], state_dict[key + 'bias']
        state_dict[key + 'weight'], state_dict[key + 'bias'] = (
            resize_axial_weight(weight.float(), bias.float(),
                                module.ref_length))
        resized.append(f'{name} {weight.shape[0]}->{module.ref_length}')
    print_log(
        f'SMLPNet: resized {len(resized)} size-tied sMLP weights to '
        f'img_size {backbone.img_size}: {", ".join(resized)}',
        logger='current')


def _refuse_other_window(backbone, state_dict, prefix, other_grids) -> None:
    name, module = other_grids[0]
    length = state_dict[f'{prefix}{name}.weight'].shape[0]
    stride = _stride(name)
    axis = 'HW'[module.axis - 1]
    raise ValueError(
        f"In mixing_mode='window' the sMLP weights are windows of the "
        f"checkpoint's token grid, and this checkpoint's {name} mixes "
        f'{length} tokens along {axis} (an img_size {axis} of about '
        f'{length * stride} px), while this backbone was built for img_size='
        f'{backbone.img_size} ({module.ref_length} tokens). Resampling the '
        f'windows would change what the model computes. Build the backbone '
        f"with the checkpoint's img_size (window mode takes inputs of any "
        f"size), or use mixing_mode='resize', which resamples the weights "
        f'and keeps their function.')


# ------------------------------------------------------- completeness
def check_complete(backbone, state_dict: dict, prefix: str) -> None:
    """Raise unless the checkpoint has every tensor of the backbone (the
    BatchNorm batch counters aside), or the backbone allows partial loads."""
    expected = [
        key for key in backbone.state_dict()
        if not key.endswith('num_batches_tracked')
    ]
    missing = [key for key in expected if prefix + key not in state_dict]
    if not missing:
        return
    if backbone.allow_partial_load:
        print_log(
            f'SMLPNet: the checkpoint has no weights for {len(missing)} of '
            f'{len(expected)} tensors ({_summarize(missing)}), which keep '
            'their initial values (allow_partial_load=True).',
            logger='current')
        return
    raise ValueError(
        f'The checkpoint would leave {len(missing)} of the {len(expected)} '
        f'SMLPNet tensors at their initial values: {_summarize(missing)}. '
        f'{_likely_cause(backbone, state_dict, prefix, missing, expected)} '
        'If a partial load is what you want, build the backbone with '
        'allow_partial_load=True.')


def _summarize(keys: List[str], limit: int = 4) -> str:
    """The modules of ``keys`` (their stage and block), first few named."""
    modules = list(
        dict.fromkeys(
            re.sub(r'^(stages\.\d+\.(?:blocks\.\d+|downsample)|[^.]+).*',
                   r'\1', key) for key in keys))
    more = f' and {len(modules) - limit} more' if len(modules) > limit else ''
    return ', '.join(modules[:limit]) + more


def _likely_cause(backbone, state_dict, prefix, missing, expected) -> str:
    keys = list(state_dict)
    located = [key[:-len(STEM_KEY)] for key in keys if key.endswith(STEM_KEY)]
    if len(missing) == len(expected) and located:
        where = located[0]
        return (f"Its SMLPNet weights are under '{where}', not "
                f"'{prefix}': set prefix='{where}' in the Pretrained "
                'init_cfg (or pass the state dict under that prefix).')
    if len(missing) == len(expected) and not keys and prefix:
        # mmengine's loader hands a child module only the keys under its
        # prefix, so a backbone-only file given to the whole model arrives
        # here empty.
        return (f"This SMLPNet is the model's '{prefix}' and the checkpoint "
                'has no keys under that prefix. A backbone-only state dict '
                "(keys 'stages.0....', no prefix) loads with the backbone's "
                "init_cfg=dict(type='Pretrained', checkpoint=FILE) instead "
                "of load_from or tools/test.py, or after saving it with its "
                f"keys prefixed by '{prefix}'.")
    if len(missing) == len(expected):
        nested = [key for key in keys if isinstance(state_dict[key], dict)]
        sample = ', '.join(keys[:5]) or 'none'
        return (f"It is not an sMLPNet checkpoint: none of its {len(keys)} "
                f"keys is an SMLPNet tensor under '{prefix}' (the first: "
                f'{sample})' +
                (f', and {nested[:3]} hold nested dicts: a training '
                 'checkpoint whose weights are under one of them?'
                 if nested else '') +
                '. Give a checkpoint of an sMLPNet (official SPACH files '
                'are converted when they are loaded), or check the prefix.')
    parts = sorted({
        '.'.join(key.split('.')[:2])
        if key.startswith('stages.') else key.split('.')[0]
        for key in missing
    })
    return (f'It holds part of this backbone only (it lacks '
            f'{", ".join(parts)}): was it saved by a backbone with fewer '
            'out_indices or final_norm=False, or is the file cut short?')


# ------------------------------------------------------------ helpers
def _stride(module_name: str) -> int:
    """Input pixels per token of the stage that ``stages.I....`` is in."""
    return stage_stride(int(module_name.split('.')[1]))


def _grid_tied_parameters(module: nn.Module):
    """The parameters of ``module`` whose shape follows the token grid."""
    if isinstance(module, AxialLinear):
        return module.named_parameters()
    if isinstance(module, TokenMLP):
        return module.mix.named_parameters(prefix='mix')
    return ()


def _checkpoint_depths(state_dict, prefix: str) -> Dict[int, int]:
    """Blocks per stage in a state dict, for the stages it has."""
    block_key = re.compile(
        re.escape(prefix) + r'stages\.(\d+)\.blocks\.(\d+)\.')
    depths: Dict[int, int] = {}
    for key in state_dict:
        match = block_key.match(key)
        if match:
            stage, block = map(int, match.groups())
            depths[stage] = max(depths.get(stage, 0), block + 1)
    return depths
