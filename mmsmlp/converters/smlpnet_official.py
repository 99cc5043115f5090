# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Convert an official sMLPNet checkpoint (microsoft/SPACH) to mmpretrain.

The official checkpoints are written by a DeiT-style trainer: a dict with the
weights under ``model`` (and the EMA weights under ``model_ema``) next to the
optimizer state and a pickled ``argparse.Namespace``. A bare state dict
(``torch.save(model.state_dict())``) is accepted too. The output is an
mmpretrain checkpoint ``{'state_dict': ..., 'meta': ...}`` with ``backbone.*``
keys for ``SMLPNet`` and ``head.fc.*`` keys for ``LinearClsHead``, usable as
``load_from`` of a classifier or as a backbone ``Pretrained`` init with
``prefix='backbone.'``.

The file is unpickled with ``weights_only=True`` and an explicit allow-list, so
a checkpoint of unknown origin cannot run code while it is read.
:func:`convert_official_checkpoint` does it all; the command line is
``tools/model_converters/smlpnet_official_to_mmpretrain.py``.

:func:`convert_state_dict` (official state dict in; ``SMLPNet`` and
``LinearClsHead`` state dicts out) is the one mapping: this converter,
mmsmlp's checkpoint loaders (:mod:`mmsmlp.utils.checkpoint`) and
``SMLPNet``'s load hook all call it.
"""
import argparse
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch

#: Where SPACH publishes its checkpoints, and the sMLPNet ones it released
#: (file name -> arch); it released none for sMLPNet-T.
OFFICIAL_RELEASES = 'https://github.com/microsoft/SPACH/releases/download/'
OFFICIAL_WEIGHTS = {
    f'{OFFICIAL_RELEASES}v1.0/smlp_s.pth': 'small',
    f'{OFFICIAL_RELEASES}v1.0/smlp_b.pth': 'base',
}

# What a DeiT-style checkpoint pickles besides tensors and builtin containers,
# which torch's weights-only unpickler accepts anyway.
TRUSTED_GLOBALS = [argparse.Namespace]

OFFICIAL_STEM_KEY = re.compile(r'to_patch_embedding\.(\d+)\.0\.weight')
BLOCK_KEY = re.compile(r'(token_mix|channel_mix)\.(\d+)\.(.+)')

# Official block sub-module prefix -> SMLPNet block sub-module prefix.
BLOCK_RENAMES = {
    'token_mix': {
        '0.conv_merge.BN.': 'local_mixing.norm.',
        '0.conv_merge.Conv.': 'local_mixing.conv.',
        '1.BN.': 'global_mixing.norm.',
        # The official names do not match the axes: ``proj_h`` is applied to
        # x.permute(0, 3, 1, 2), whose channel axis is W, so it mixes along W;
        # ``proh_w`` is applied to x.permute(0, 2, 1, 3) and mixes along H.
        '1.proj_h.': 'global_mixing.mix_w.',
        '1.proh_w.': 'global_mixing.mix_h.',
        '1.fuse.': 'global_mixing.fuse.',
    },
    'channel_mix': {
        # Index 0 and 3 are the weightless rearrange layers.
        '1.': 'channel_mixing.norm.',
        '2.net.0.': 'channel_mixing.fc1.',
        '2.net.3.': 'channel_mixing.fc2.',
    },
}
# 1x1 convolutions that SMLPNet implements as plain matrices / Linear layers.
POINTWISE_CONV_WEIGHTS = ('global_mixing.mix_h.weight',
                          'global_mixing.mix_w.weight',
                          'global_mixing.fuse.weight')
# Official top-level prefix -> SMLPNet prefix, and -> LinearClsHead prefix.
BACKBONE_RENAMES = {'batch_norm.': 'final_norm.'}
HEAD_RENAMES = {'mlp_head.0.': 'fc.'}
#: Where mmpretrain's ImageClassifier keeps its backbone and its head.
BACKBONE_PREFIX = 'backbone.'
HEAD_PREFIX = 'head.'


class CheckpointError(ValueError):
    """The source file is not an official sMLPNet checkpoint we can read."""


def load_untrusted(path):
    """``torch.load`` with weights only plus :data:`TRUSTED_GLOBALS`.

    Raises:
        CheckpointError: naming the pickled types that are not allowed.
    """
    # The context removes on exit what it added: only add what is not
    # allowed already (``import mmsmlp`` allows these for good).
    allowed = torch.serialization.get_safe_globals()
    missing = [item for item in TRUSTED_GLOBALS if item not in allowed]
    with torch.serialization.safe_globals(missing):
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as error:
            try:
                offending = ', '.join(
                    sorted(
                        torch.serialization.get_unsafe_globals_in_checkpoint(
                            path)))
            except ValueError:  # legacy (non-zip) files cannot be scanned
                offending = str(error).splitlines()[0]
            raise CheckpointError(
                f'{path} pickles types outside the allow-list of this tool '
                f'(tensors, builtin containers, argparse.Namespace): '
                f'{offending}. Loading it could run arbitrary code, so it '
                'was not loaded. If you trust the file, load it yourself '
                'with torch.load(..., weights_only=False), torch.save() only '
                "its 'model' (or 'model_ema') state dict and convert that "
                'file.') from error


#: The entries of a trainer's checkpoint that hold model weights.
WEIGHT_ENTRIES = ('model', 'model_ema')
#: A key every official sMLPNet state dict has.
OFFICIAL_MARKER_KEY = 'to_patch_embedding.0.0.weight'


def is_official_state_dict(weights) -> bool:
    """Whether ``weights`` is a state dict in the official layout."""
    return isinstance(weights, dict) and OFFICIAL_MARKER_KEY in weights


def is_official_checkpoint(checkpoint) -> bool:
    """Whether ``checkpoint`` is an official sMLPNet checkpoint: the
    trainer's dict (weights under ``model`` / ``model_ema``) or a bare
    official state dict."""
    return is_official_state_dict(checkpoint) or (isinstance(
        checkpoint, dict) and any(
            is_official_state_dict(checkpoint.get(entry))
            for entry in WEIGHT_ENTRIES))


def select_weights(checkpoint, use_ema):
    """The official state dict: ``model``, ``model_ema`` or the file itself."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError('expected a dict (a training checkpoint or a '
                              f'state dict), got {type(checkpoint).__name__}')
    key = WEIGHT_ENTRIES[bool(use_ema)]
    if key in checkpoint:
        return checkpoint[key], key
    if is_official_state_dict(checkpoint) and not use_ema:
        return checkpoint, 'state_dict'
    raise CheckpointError(
        f"no '{key}' weights in the checkpoint (top-level keys: "
        f'{sorted(checkpoint)[:10]}); ' +
        ('drop --ema (or the #model_ema suffix) to convert the plain weights'
         if use_ema else 'is this an official SPACH sMLPNet checkpoint?'))


def stage_depths(weights):
    """Blocks per stage, from the widths of the stems and of the blocks.

    The official model numbers its blocks over all stages; block ``k``
    belongs to the stage whose stem has the same width, in order.
    """
    stem_widths = [
        weights[f'to_patch_embedding.{i}.0.weight'].shape[0] for i in range(
            sum(bool(OFFICIAL_STEM_KEY.fullmatch(k)) for k in weights))
    ]
    block_widths = []
    while f'channel_mix.{len(block_widths)}.1.weight' in weights:
        block_widths.append(
            weights[f'channel_mix.{len(block_widths)}.1.weight'].shape[0])
    depths = []
    for width in stem_widths:
        start = sum(depths)
        depth = 0
        while (start + depth < len(block_widths)
               and block_widths[start + depth] == width):
            depth += 1
        depths.append(depth)
    if not stem_widths or sum(depths) != len(block_widths) or 0 in depths:
        raise CheckpointError(
            f'cannot split blocks of widths {block_widths} into stages of '
            f'widths {stem_widths}; not an official sMLPNet state dict')
    return tuple(depths)


def block_positions(depths):
    """(stage, block in stage) of each official block index."""
    return [(stage, block) for stage, depth in enumerate(depths)
            for block in range(depth)]


def convert_key(key, positions):
    """Where one official key goes: ``('backbone', SMLPNet key)``,
    ``('head', LinearClsHead key)``, or None if it is unknown."""
    stem = OFFICIAL_STEM_KEY.fullmatch(key)
    if stem:
        return 'backbone', f'stages.{stem.group(1)}.downsample.weight'
    for part, renames in (('backbone', BACKBONE_RENAMES), ('head',
                                                           HEAD_RENAMES)):
        for official, ours in renames.items():
            if key.startswith(official):
                return part, ours + key[len(official):]
    block = BLOCK_KEY.fullmatch(key)
    if block and int(block.group(2)) < len(positions):
        branch, index, rest = block.groups()
        stage, position = positions[int(index)]
        for official, ours in BLOCK_RENAMES[branch].items():
            if rest.startswith(official):
                return 'backbone', (f'stages.{stage}.blocks.{position}.'
                                    f'{ours}{rest[len(official):]}')
    return None


def convert_state_dict(weights):
    """Rename and reshape an official sMLPNet state dict: the conversion
    that the converter, mmsmlp's checkpoint loaders and the backbone's load
    hook all use.

    Returns:
        tuple[OrderedDict, OrderedDict, dict]: the ``SMLPNet`` state dict,
        the ``LinearClsHead`` state dict, and the architecture read from the
        weights (embed_dims, depths, alpha, img_size, num_classes).

    Raises:
        CheckpointError: ``weights`` holds keys outside the official layout.
    """
    depths = stage_depths(weights)
    positions = block_positions(depths)
    parts = dict(backbone=OrderedDict(), head=OrderedDict())
    unknown = []
    for key, value in weights.items():
        converted = convert_key(key, positions)
        if converted is None:
            unknown.append(key)
            continue
        part, new_key = converted
        if new_key.endswith(POINTWISE_CONV_WEIGHTS):
            value = value.flatten(1)  # (out, in, 1, 1) -> (out, in)
        parts[part][new_key] = value
    if unknown:
        raise CheckpointError(
            f'keys that are not part of the official sMLPNet layout: '
            f'{unknown[:10]}{" ..." if len(unknown) > 10 else ""}')
    embed_dims = weights['to_patch_embedding.0.0.weight'].shape[0]
    arch = dict(
        embed_dims=embed_dims,
        depths=depths,
        alpha=weights['channel_mix.0.2.net.0.weight'].shape[0] // embed_dims,
        # The first stage grid is img_size / 4 (its W-mixing matrix side).
        img_size=4 * weights['token_mix.0.1.proj_h.weight'].shape[0],
        num_classes=weights['mlp_head.0.weight'].shape[0])
    return parts['backbone'], parts['head'], arch


def official_to_mmpretrain(checkpoint, use_ema=False, source=None) -> dict:
    """Convert an official checkpoint, as loaded, to an mmpretrain one.

    Args:
        checkpoint (dict): The trainer's dict or a bare official state dict.
        use_ema (bool): Take ``model_ema`` instead of ``model``.
        source (str, optional): Where it came from, for ``meta``.

    Returns:
        dict: ``state_dict`` (``backbone.*`` and ``head.fc.*`` keys) and
        ``meta`` (source, weights entry, epoch and the architecture read from
        the weights).

    Raises:
        CheckpointError: ``checkpoint`` is not an official sMLPNet checkpoint.
    """
    weights, source_key = select_weights(checkpoint, use_ema)
    backbone, head, arch = convert_state_dict(weights)
    state_dict = OrderedDict([(BACKBONE_PREFIX + key, value)
                              for key, value in backbone.items()] +
                             [(HEAD_PREFIX + key, value)
                              for key, value in head.items()])
    meta = dict(
        converted_from=source,
        weights=source_key,
        epoch=checkpoint.get('epoch'),
        **arch)
    return dict(state_dict=state_dict, meta=meta)


def convert_official_checkpoint(src, dst, use_ema=False) -> dict:
    """Convert the official checkpoint ``src`` (its ``model`` weights, or
    ``model_ema`` with ``use_ema``) to the mmpretrain checkpoint ``dst``.

    Returns:
        dict: what was written: ``state_dict`` and ``meta`` (source file,
        weights key, epoch and the architecture read from the weights).

    Raises:
        CheckpointError: ``src`` is not an official sMLPNet checkpoint,
            pickles types outside the allow-list, or is ``dst`` itself;
            nothing is written.
    """
    if Path(dst).exists() and Path(dst).samefile(src):
        raise CheckpointError(
            f'{dst} is the checkpoint being converted: writing there would '
            'replace the official file and lose what the conversion leaves '
            'out (the other weights, model or model_ema, and the optimizer '
            'state). Give another output path.')
    converted = official_to_mmpretrain(
        load_untrusted(src), use_ema, source=Path(src).name)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(converted, dst)
    return converted
