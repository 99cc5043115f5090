# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""How a process reads checkpoints. This file imports nothing of mmsmlp:
``collect_env`` also runs it alone, in a process without mmsmlp."""
from typing import Dict

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def checkpoint_reading() -> Dict[str, object]:
    """The names of torch's ``weights_only`` safe globals and, by prefix,
    mmengine's checkpoint loaders, in this process."""
    get_safe_globals = getattr(torch.serialization, 'get_safe_globals', list)
    return dict(
        safe_globals=sorted(_name(obj) for obj in get_safe_globals()),
        loaders={
            prefix: _name(loader)
            for prefix, loader in CheckpointLoader._schemes.items()
        })


def _name(obj) -> str:
    if isinstance(obj, tuple):  # (an object, the name it is allowed as)
        return f'{obj[1]} (as {_name(obj[0])})'
    return f'{obj.__module__}.{obj.__qualname__}'
