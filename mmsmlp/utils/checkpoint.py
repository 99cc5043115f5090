# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Let torch's ``weights_only`` unpickler read mmengine's checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses any
global not on an allow-list, and mmengine 0.10 calls ``torch.load`` without
the argument. Its checkpoints hold, besides tensors, a ``message_hub`` of
``HistoryBuffer`` objects with numpy arrays and scalars, and each buffer
refers to its statistics methods as ``getattr(HistoryBuffer, 'mean')``.

We allow exactly those classes. ``getattr`` itself is never allowed: its
name is bound to :func:`_history_buffer_method`, which resolves only
``HistoryBuffer``'s registered statistics methods and refuses anything else.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer


# Registered by HistoryBuffer.__init__, so absent until a buffer exists.
_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner, name: str):
    """The only ``getattr`` a checkpoint may call."""
    if owner is HistoryBuffer and (name in _BUILTIN_STATISTICS or
                                   name in HistoryBuffer._statistics_methods):
        return getattr(HistoryBuffer, name)
    raise torch.serialization.pickle.UnpicklingError(
        f'weights_only load refused getattr({owner!r}, {name!r}): only '
        f'HistoryBuffer statistics methods may be resolved.')


def _numpy_globals() -> list:
    """What numpy arrays, dtypes and scalars pickle as (numpy 1 and 2)."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else (
        np.core.multiarray)
    allowed = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.*).
    allowed += [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)]
    return allowed


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list what mmengine checkpoints hold for ``weights_only``
    loading; a no-op on torch versions without ``add_safe_globals``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals([
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
        *_numpy_globals(),
    ])
