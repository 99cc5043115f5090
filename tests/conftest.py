# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Fixtures shared by several test files."""
import types

import pytest
import torch

from mmsmlp.converters import OFFICIAL_WEIGHTS
from mmsmlp.models import SMLPNet
from mmsmlp.testing import random_official_model, save_as_spach_trainer


@pytest.fixture(scope='session')
def spach_hub(tmp_path_factory):
    """SPACH's released sMLPNet-S and -B checkpoints, with random weights,
    where torch hub caches their URLs (``TORCH_HOME`` points at a temporary
    folder for the session, subprocesses included): loading the official
    URLs reads them as it would read the downloads. S is saved with EMA
    weights, B without. Gives the official models and their URLs."""
    torch_home = tmp_path_factory.mktemp('torch_home')
    cache = torch_home / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    urls = {arch: url for url, arch in OFFICIAL_WEIGHTS.items()}
    models = {}
    for seed, arch in enumerate(('small', 'base')):
        spec = SMLPNet.arch_zoo[arch]
        models[arch] = random_official_model(
            spec['embed_dims'], spec['depths'], spec['alpha'], seed=seed)
    models['small_ema'] = random_official_model(
        **dict(dim=96, depths=SMLPNet.arch_zoo['small']['depths']), seed=2)
    save_as_spach_trainer(cache / 'smlp_s.pth', models['small'],
                          models['small_ema'])
    save_as_spach_trainer(cache / 'smlp_b.pth', models['base'])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('TORCH_HOME', str(torch_home))
        assert torch.hub.get_dir() == str(torch_home / 'hub')
        yield types.SimpleNamespace(urls=urls, cache=cache, **models)
