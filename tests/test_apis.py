# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What the options of tools/train.py do to a config (the scripts
themselves run end to end in test_tools.py)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmsmlp.apis import enable_amp, enable_amp_test, load_config
from mmsmlp.model_index import mim_root


def sgd_config(**wrapper):
    return Config(
        dict(
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1), **wrapper)))


@pytest.mark.parametrize('dtype', [None, 'bfloat16'])
def test_amp_switches_the_wrapper_and_sets_the_dtype(dtype):
    cfg = sgd_config()
    enable_amp(cfg, dtype)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.get('dtype') == dtype


def test_amp_refuses_other_wrappers():
    with pytest.raises(ValueError, match='ApexOptimWrapper'):
        enable_amp(sgd_config(type='ApexOptimWrapper'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU')
def test_mmengine_refuses_amp_without_a_gpu():
    """What docs/tools.md says about --amp on the CPU."""
    cfg = sgd_config()
    enable_amp(cfg, 'bfloat16')
    with pytest.raises(AssertionError, match='only available training on gpu'):
        build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)


@pytest.mark.parametrize('test_cfg', [None, dict(), dict(type='TestLoop')])
def test_amp_test_sets_the_test_loops_fp16_option(test_cfg):
    cfg = Config(dict(test_cfg=test_cfg))
    enable_amp_test(cfg)
    assert cfg.test_cfg.fp16 is True
    assert cfg.test_cfg.get('type', 'TestLoop') == 'TestLoop'


def test_amp_test_refuses_other_loops():
    with pytest.raises(ValueError, match="'MyLoop'"):
        enable_amp_test(Config(dict(test_cfg=dict(type='MyLoop'))))


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU')
def test_amp_test_refuses_mmdet_models_on_the_cpu():
    cfg = Config(dict(default_scope='mmdet', test_cfg=dict(type='TestLoop')))
    with pytest.raises(ValueError, match='no bfloat16 kernels'):
        enable_amp_test(cfg)


def test_load_config_starts_no_process_group(monkeypatch):
    # Where torchrun's variables are missing, starting a group would fail.
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    config = str(mim_root() / 'configs/smlpnet/smlpnet-demo_1xb32_shapes.py')
    cfg = load_config(config, launcher='pytorch')
    assert cfg.launcher == 'pytorch'
    assert not torch.distributed.is_initialized()
