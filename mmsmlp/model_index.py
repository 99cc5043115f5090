# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The configs and the model index of mmsmlp, and their registration with
mmpretrain's model hub.

As in the OpenMMLab toolkits, ``model-index.yml`` imports one
``metafile.yml`` per config family, and every metafile entry names a config
under ``configs/``. Both live in the repository root and, in an installed
(non-editable) package, in ``mmsmlp/.mim/``.

mmpretrain serves models by name (``mmpretrain.get_model``,
``list_models``, its inferencers) from its ``ModelHub``. ``import mmsmlp``
adds our classifiers to it as soon as mmpretrain defines the hub (see
:func:`register_when_mmpretrain_loads`), without importing mmpretrain
itself; :func:`register_model_index` does it explicitly.
"""
import difflib
import importlib.abc
import sys
import warnings
from pathlib import Path
from typing import Dict, List

from mmengine.fileio import load

PACKAGE_DIR = Path(__file__).resolve().parent
MODEL_INDEX = 'model-index.yml'
# The metafiles of mmpretrain models, the ones mmpretrain's ModelHub serves
# (the mmdet and mmseg entries would build nothing there).
MMPRETRAIN_METAFILES = ('configs/smlpnet/metafile.yml',
                        'configs/smlpnet/ablations/metafile.yml')
_HUB_MODULE = 'mmpretrain.apis.model'


def mim_root() -> Path:
    """The folder that holds ``model-index.yml`` and ``configs/``:
    ``mmsmlp/.mim`` in an installed package, the repository root when mmsmlp
    is imported from a checkout (editable install or ``PYTHONPATH``)."""
    for root in (PACKAGE_DIR / '.mim', PACKAGE_DIR.parent):
        if (root / MODEL_INDEX).is_file() and (root / 'configs').is_dir():
            return root
    raise FileNotFoundError(
        f'mmsmlp finds no {MODEL_INDEX} and configs/ in {PACKAGE_DIR / ".mim"}'
        f' nor in {PACKAGE_DIR.parent}: install mmsmlp from a wheel or '
        '`pip install .`, or import it from a repository checkout.')


def load_model_index() -> List[Dict]:
    """Every model entry of the metafiles that ``model-index.yml`` imports,
    as written there, plus ``'Metafile'`` (the metafile's path relative to
    :func:`mim_root`)."""
    root = mim_root()
    models = []
    for metafile in load(str(root / MODEL_INDEX))['Import']:
        for model in load(str(root / metafile)).get('Models', []):
            models.append(dict(model, Metafile=metafile))
    return models


def input_size(entry: dict) -> tuple:
    """``(H, W)`` of a model index entry's ``Input Size`` (``'HxW'``, a
    string, as openmim's ``mim search`` needs scalar fields)."""
    height, width = str(entry['Metadata']['Input Size']).split('x')
    return int(height), int(width)


def get_config_path(name: str) -> str:
    """The absolute path of a config that comes with mmsmlp.

    Args:
        name (str): A model name of the model index
            (``'smlpnet-tiny_8xb128_in1k'``) or a path relative to
            ``configs/`` (``'smlpnet/smlpnet-tiny_8xb128_in1k.py'``).

    Returns:
        str: The path, in the installed package or in the checkout.
    """
    root = mim_root()
    config = root / 'configs' / name
    if name.endswith('.py') and config.is_file():
        return str(config)
    configs = {model['Name']: model['Config'] for model in load_model_index()}
    if name in configs:
        return str(root / configs[name])
    candidates = list(configs) + [
        str(path.relative_to(root / 'configs'))
        for path in sorted((root / 'configs').rglob('*.py'))
    ]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    raise FileNotFoundError(
        f'mmsmlp has no config {name!r} (looked in {root / "configs"}). '
        'Give a model name of the model index or a path under configs/' +
        (f'; did you mean {" or ".join(map(repr, close))}?' if close else '.'))


def register_model_index() -> None:
    """Register mmsmlp's classifiers with mmpretrain's ``ModelHub``, so that
    ``mmpretrain.get_model``, ``list_models``,
    ``ImageClassificationInferencer`` and ``FeatureExtractor`` accept their
    names (e.g. ``'smlpnet-tiny_8xb128_in1k'``). Registering twice does
    nothing. ``import mmsmlp`` calls it once mmpretrain is imported."""
    from mmpretrain.apis.model import ModelHub
    _register(ModelHub)


def _register(hub) -> None:
    root = mim_root()
    for metafile in MMPRETRAIN_METAFILES:
        models = load(str(root / metafile))['Models']
        if all(hub.has(model['Name'].lower()) for model in models):
            continue
        hub.register_model_index(root / metafile, config_prefix=root)


def _register_or_warn(hub) -> None:
    """Register, warning instead of raising: a broken mmsmlp install must
    not break importing mmpretrain or mmsmlp."""
    try:
        _register(hub)
    except Exception as error:
        warnings.warn('mmsmlp could not register its models with '
                      f"mmpretrain's ModelHub: {error!r}")


class _RegisteringLoader(importlib.abc.Loader):
    """Loads ``mmpretrain.apis.model`` with the loader found for it, then
    registers. A wrapper of its own for this one import: the loader it wraps
    may be shared with other modules (a zip import's is), and must not
    change."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_or_warn(module.ModelHub)

    def __getattr__(self, name):  # get_source, get_code, ...: the wrapped
        return getattr(self._loader, name)


class _RegisterWhenImported(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``mmpretrain.apis.model`` is imported, it
    lets the other finders find it and gives the spec a loader that
    registers mmsmlp's models with the ``ModelHub`` right after the module
    has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _HUB_MODULE:
            return None
        sys.meta_path.remove(self)  # one registration is enough
        for finder in sys.meta_path:
            find_spec = getattr(finder, 'find_spec', None)
            spec = find_spec and find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def register_when_mmpretrain_loads() -> None:
    """Register with mmpretrain's ``ModelHub`` now if mmpretrain is imported,
    else as soon as it is; nothing when it is not installed."""
    hub_module = sys.modules.get(_HUB_MODULE)
    if hub_module is not None:
        _register_or_warn(hub_module.ModelHub)
    elif not any(
            isinstance(finder, _RegisterWhenImported)
            for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWhenImported())
