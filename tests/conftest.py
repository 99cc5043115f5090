# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Fixtures shared by several test files."""
import types

import pytest
import torch

from mmsmlp.converters import OFFICIAL_WEIGHTS
from mmsmlp.testing import write_official_standins


@pytest.fixture(scope='session')
def spach_hub(tmp_path_factory):
    """SPACH's released sMLPNet-S and -B checkpoints, with random weights,
    where torch hub caches their URLs (``TORCH_HOME`` points at a temporary
    folder for the session, subprocesses included): loading the official
    URLs reads them as it would read the downloads. S is saved with EMA
    weights, B without. Gives the official models and their URLs."""
    torch_home = tmp_path_factory.mktemp('torch_home')
    cache = torch_home / 'hub' / 'checkpoints'
    models = write_official_standins(cache, with_ema=True)
    urls = {arch: url for url, arch in OFFICIAL_WEIGHTS.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('TORCH_HOME', str(torch_home))
        assert torch.hub.get_dir() == str(torch_home / 'hub')
        yield types.SimpleNamespace(urls=urls, cache=cache, **models)
