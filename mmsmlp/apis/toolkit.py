# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""One config file can belong to mmpretrain, mmdet or mmseg; its
``default_scope`` names the toolkit.

These functions load such a config with clear errors, import the toolkit it
names and build its model or runner, so that ``tools/train.py``,
``tools/test.py`` and the analysis tools serve the three toolkits alike.
Importing this module needs none of the toolkits; each is imported when a
config asks for it.
"""
import importlib
import os
import os.path as osp
from typing import Callable, Optional

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

SUPPORTED_SCOPES = ('mmpretrain', 'mmdet', 'mmseg')


def check_file(path: str, what: str) -> None:
    """Fail early, naming the missing file, instead of deep inside a run.

    Remote files (``http(s)://``, ``s3://``...) are left to mmengine.
    """
    if '://' in path:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{what} not found: {path!r} (from {os.getcwd()}). Check the '
            'path; relative paths are taken from the current directory.')


def load_config(config: str,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                work_dir: Optional[str] = None) -> Config:
    """Load a config, merge ``cfg_options`` into it, import the toolkit its
    ``default_scope`` names, and record the launcher and the work dir
    (``work_dir`` > the config's > ``work_dirs/<config file name>``). It
    starts nothing: the tools call ``configure_distributed`` next."""
    check_file(config, 'Config file')
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    import_toolkit(cfg, config)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def import_toolkit(cfg: Config, config_path: str) -> None:
    """Import the toolkit named by ``cfg.default_scope`` and register its
    modules, so that every ``type`` in the config resolves."""
    scope = cfg.get('default_scope', None)
    if scope not in SUPPORTED_SCOPES:
        raise ValueError(
            f'{config_path} has default_scope={scope!r}; these tools run '
            f'configs of {", ".join(SUPPORTED_SCOPES)}. Inherit the '
            "toolkit's default runtime (e.g. _base_ = "
            "['mmdet::_base_/default_runtime.py']) or set default_scope.")
    try:
        utils = importlib.import_module(f'{scope}.utils')
    except ImportError as error:
        raise ImportError(
            f'{config_path} is a {scope} config but {scope} cannot be '
            f'imported ({error}); install it with `bash tools/install.sh`.'
        ) from error
    # The runner sets the default scope itself from the config.
    utils.register_all_modules(init_default_scope=False)


def build_runner(cfg: Config):
    """Build the mmengine Runner, or the runner the config names in
    ``runner_type`` from the toolkit's registry."""
    if 'runner_type' in cfg:
        registry = importlib.import_module(f'{cfg.default_scope}.registry')
        return registry.RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def build_model(cfg: Config) -> nn.Module:
    """The model of the config, built by its toolkit's registry, in eval
    mode."""
    import_toolkit(cfg, cfg.filename)
    init_default_scope(cfg.default_scope)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    return model.eval()


def tensor_forward(model: nn.Module, scope: str,
                   inputs: torch.Tensor) -> Callable[[], object]:
    """A call of the model's ``mode='tensor'`` forward on ``inputs``
    (mmdet models also get data samples describing the unpadded images)."""
    if scope != 'mmdet':
        return lambda: model(inputs, mode='tensor')
    from mmdet.structures import DetDataSample
    shape = tuple(inputs.shape[-2:])
    samples = [
        DetDataSample(
            metainfo=dict(
                img_shape=shape,
                ori_shape=shape,
                pad_shape=shape,
                batch_input_shape=shape,
                scale_factor=(1., 1.))) for _ in range(len(inputs))
    ]
    return lambda: model(inputs, samples, mode='tensor')
