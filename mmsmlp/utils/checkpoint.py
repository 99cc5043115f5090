# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Checkpoint reading: torch's ``weights_only`` unpickler for mmengine's and
SPACH's checkpoints, and mmengine checkpoint loaders that convert official
sMLPNet checkpoints as they read them.

**Allow-list.**

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses any
global not on an allow-list, and mmengine 0.10 calls ``torch.load`` without
the argument. Its checkpoints hold, besides tensors, a ``message_hub`` of
``HistoryBuffer`` objects with numpy arrays and scalars, and each buffer
refers to its statistics methods as ``getattr(HistoryBuffer, 'mean')``.

SPACH's trainer pickles its arguments as an ``argparse.Namespace``.
We allow exactly those classes. ``getattr`` itself is never allowed: its
name is bound to :func:`_history_buffer_method`, which resolves only
``HistoryBuffer``'s registered statistics methods and refuses anything else.

**Loaders.** mmengine reads every checkpoint (``load_from``, a ``Pretrained``
init_cfg, ``mmpretrain.get_model``) through the loader that
``CheckpointLoader`` registered for its prefix. mmsmlp registers one for
each of SPACH's two sMLPNet URLs (downloaded into torch hub's cache with
``weights_only=True``) and wraps the local loader. An official sMLPNet
checkpoint that they read comes back converted to mmpretrain's layout
(``backbone.*`` and ``head.fc.*`` keys), with one log line, so it loads
into a classifier, or into a backbone with ``prefix='backbone.'``, like a
checkpoint trained here. ``PATH#model_ema`` (or ``URL#model_ema``) takes
the trainer's EMA weights instead of ``model``. Every other checkpoint,
local or remote, loads exactly as without mmsmlp (tested in subprocesses
with and without the import).
"""
import os.path as osp
import pickle
import re
from urllib.error import URLError

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader

from mmsmlp.converters import (OFFICIAL_RELEASES, OFFICIAL_WEIGHTS,
                               TRUSTED_GLOBALS, CheckpointError,
                               is_official_checkpoint, official_to_mmpretrain)

WEIGHTS_SUFFIX = re.compile(r'#(model|model_ema)$')
#: The scheme (a regular expression, as mmengine matches them) of SPACH's
#: sMLPNet release files: ``.../releases/download/TAG/smlp_*.pth``.
SMLPNET_RELEASES = re.escape(OFFICIAL_RELEASES) + r'[^/#]+/smlp_[^/#]*\.pth'

# Registered by HistoryBuffer.__init__, so absent until a buffer exists.
_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner, name: str):
    """The only ``getattr`` a checkpoint may call."""
    if owner is HistoryBuffer and (name in _BUILTIN_STATISTICS or name
                                   in HistoryBuffer._statistics_methods):
        return getattr(HistoryBuffer, name)
    raise torch.serialization.pickle.UnpicklingError(
        f'weights_only load refused getattr({owner!r}, {name!r}): only '
        f'HistoryBuffer statistics methods may be resolved.')


def _numpy_globals() -> list:
    """What numpy arrays, dtypes and scalars pickle as (numpy 1 and 2)."""
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else (np.core.multiarray)
    allowed = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.*).
    allowed += [
        type(np.dtype(t))
        for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                  np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                  np.float64)
    ]
    return allowed


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list what mmengine and SPACH checkpoints hold for
    ``weights_only`` loading; a no-op on torch versions without
    ``add_safe_globals``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals([
        *TRUSTED_GLOBALS,
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
        *_numpy_globals(),
    ])


# ------------------------------------------------------------- loaders
def _split_weights_choice(filename: str):
    """``'PATH#model_ema'`` -> ``('PATH', 'model_ema')``; no suffix -> None.
    A local file whose own name ends in ``#model`` is read as it is."""
    match = WEIGHTS_SUFFIX.search(filename)
    if match is None or osp.isfile(osp.expanduser(filename)):
        return filename, None
    return filename[:match.start()], match.group(1)


def _to_mmpretrain(checkpoint, filename: str, entry):
    """``checkpoint`` converted if it is an official sMLPNet checkpoint."""
    if not is_official_checkpoint(checkpoint):
        if entry is not None:
            raise CheckpointError(
                f"{filename}: the suffix '#{entry}' picks the weights of an "
                'official sMLPNet (SPACH) checkpoint, but this file is not '
                'one; drop the suffix.')
        return checkpoint
    converted = official_to_mmpretrain(
        checkpoint, use_ema=entry == 'model_ema', source=filename)
    meta = converted['meta']
    print_log(
        f"mmsmlp: converted the official sMLPNet checkpoint {filename} "
        f"('{meta['weights']}' weights, epoch {meta['epoch']}; embed_dims="
        f"{meta['embed_dims']}, depths={meta['depths']}, img_size="
        f"{meta['img_size']}) to mmpretrain's layout (backbone.*, head.fc.*)",
        logger='current')
    return converted


def load_from_local(filename, map_location=None):
    """mmengine's local loader, which converts official sMLPNet files.

    It replaces mmengine's own for one documented feature: an official
    SPACH file on disk, given as ``load_from``, to ``tools/test.py`` or as a
    ``Pretrained`` checkpoint, loads like one trained here
    (``PATH#model_ema`` takes its EMA weights). Every other file comes back
    exactly as mmengine's loader returns it; only failures say more: a file
    that ``torch.load`` cannot read is named as not a checkpoint."""
    path, entry = _split_weights_choice(filename)
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'{path} can not be found.{_hint(path)}')
    checkpoint = _read(path, lambda: _MMENGINE_LOADERS[''](path, map_location))
    return _to_mmpretrain(checkpoint, path, entry)


def read_checkpoint_meta(path: str) -> dict:
    """The ``meta`` of the checkpoint file at ``path`` (empty if it has
    none), read memory-mapped, so that a large file costs little; a file
    that is not a checkpoint is a :class:`CheckpointError`."""

    def load():
        try:
            return torch.load(
                path, map_location='cpu', mmap=True, weights_only=True)
        except RuntimeError as error:
            if 'mmap can only be used' not in str(error):
                raise
        # Not a zip file: torch's legacy format, or no checkpoint at all.
        return torch.load(path, map_location='cpu', weights_only=True)

    checkpoint = _read(path, load)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return meta if isinstance(meta, dict) else {}


def _read(path: str, load):
    """``load()``, the reading of the file at ``path``, where a file that
    ``torch.load`` cannot read is named as not a checkpoint."""
    try:
        return load()
    except (EOFError, KeyError, RuntimeError, pickle.UnpicklingError) as error:
        if not _unreadable(error):
            raise
        raise CheckpointError(
            f'{path} is not a checkpoint: torch.load cannot read it '
            f'({type(error).__name__}: {error}). Give the .pth file that '
            'mmengine or torch.save wrote; a file cut short by a copy or a '
            'full disk reads like this too.') from error


def _unreadable(error: Exception) -> bool:
    """Whether ``torch.load`` failed because the file is no checkpoint at
    all (empty, text, truncated), not because of what it holds."""
    if isinstance(error, EOFError):
        return True
    if isinstance(error, KeyError):  # an unknown pickle opcode
        return True
    # weights_only's unpickler meets an unknown opcode; its refusals of
    # globals ("Unsupported global") are no unreadable files.
    return ('PytorchStreamReader failed' in str(error)
            or 'Unsupported operand' in str(error))


def _hint(path: str) -> str:
    if not osp.basename(path).startswith('smlpnet-'):
        return ''
    return (' ImageNet weights of sMLPNet-S and -B are published by SPACH '
            '(the S and B configs download them); for sMLPNet-T there are '
            'none: train configs/smlpnet/smlpnet-tiny_8xb128_in1k.py and give '
            'its checkpoint, or train from scratch with init_cfg=None '
            '(docs/model_zoo.md, "Pretrained weights").')


def load_from_spach(filename, map_location=None):
    """Download an official SPACH sMLPNet checkpoint into torch hub's cache
    (``torch.hub.get_dir()/checkpoints``; on rank 0 first, as mmengine
    does) and read it with ``weights_only=True``; converted. Registered for
    SPACH's sMLPNet file names only (``smlp_*.pth``): SPACH's other releases
    (SPACH-Conv/MLP/Trans, ShiftViT) go through mmengine's own loader."""
    url, entry = _split_weights_choice(filename)
    if url not in OFFICIAL_WEIGHTS:
        raise CheckpointError(
            f'{url} is not an sMLPNet checkpoint SPACH released: it released '
            f'{", ".join(OFFICIAL_WEIGHTS)} (sMLPNet-S and -B), and none for '
            'sMLPNet-T.')
    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = _download(url, map_location)
    if world_size > 1:
        barrier()
        if rank > 0:
            checkpoint = _download(url, map_location)
    return _to_mmpretrain(checkpoint, url, entry)


def _download(url, map_location):
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location=map_location, weights_only=True)
    except (URLError, OSError) as error:
        cached = osp.join(torch.hub.get_dir(), 'checkpoints',
                          osp.basename(url))
        raise RuntimeError(
            f'Could not download {url} ({error}). Offline, download it '
            f'elsewhere and put it at {cached}, or give its local path as '
            'the checkpoint.') from error


_MMENGINE_LOADERS = {}


def register_checkpoint_loaders() -> None:
    """Register mmsmlp's loaders with mmengine's ``CheckpointLoader``:
    :func:`load_from_spach` for SPACH's sMLPNet files (a scheme that
    matches no other URL) and :func:`load_from_local` in place of
    mmengine's local loader, which it calls. Registering twice does
    nothing."""
    schemes = CheckpointLoader._schemes
    if schemes.get('') is load_from_local:
        return
    _MMENGINE_LOADERS[''] = schemes['']
    CheckpointLoader.register_scheme('', load_from_local, force=True)
    CheckpointLoader.register_scheme(SMLPNET_RELEASES, load_from_spach)
