# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The model index: every config is in exactly one metafile, every entry
names a config that builds the model it describes (parameters, multiply-adds),
and mmpretrain serves the classifiers by name (list_models, get_model, its
inferencers)."""
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import DefaultScope

import mmsmlp
from mmsmlp.analysis.flops import count_flops, num_params
from mmsmlp.apis import build_model, tensor_forward
from mmsmlp.model_index import (MMPRETRAIN_METAFILES, MODEL_INDEX,
                                get_config_path, input_size, load_model_index,
                                mim_root)

REPO = Path(__file__).resolve().parents[1]
ENTRIES = load_model_index()
CLASSIFIERS = sorted(e['Name'] for e in ENTRIES
                     if e['Metafile'] in MMPRETRAIN_METAFILES)
HOW_TO_ADD = 'see docs/model_zoo.md, "Adding a config to the model index"'


def model_configs():
    """Every config under configs/, except the deploy configs and those in
    folders whose names start with '_' (the _base_ parts and the _examples_
    templates)."""
    configs = []
    for path in sorted((REPO / 'configs').rglob('*.py')):
        relative = path.relative_to(REPO)
        folders = relative.parts[1:-1]
        if folders[:1] != ('deploy', ) and not any(
                part.startswith('_') for part in folders):
            configs.append(relative.as_posix())
    return configs


def test_index_is_read_from_this_checkout():
    assert mim_root() == REPO


def test_every_config_is_in_exactly_one_metafile():
    listed = Counter(entry['Config'] for entry in ENTRIES)
    missing = [c for c in model_configs() if c not in listed]
    assert not missing, (
        f'configs missing from the metafiles ({HOW_TO_ADD}): {missing}')
    repeated = sorted(c for c, count in listed.items() if count > 1)
    assert not repeated, f'configs listed more than once: {repeated}'
    dangling = sorted(c for c in listed if not (REPO / c).is_file())
    assert not dangling, f'metafile entries without a config: {dangling}'


def test_every_metafile_is_imported_by_the_index():
    imported = set(load(str(REPO / MODEL_INDEX))['Import'])
    metafiles = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / 'configs').rglob('metafile.yml')
    }
    assert metafiles == imported
    assert set(MMPRETRAIN_METAFILES) <= imported


@pytest.mark.parametrize('entry', ENTRIES, ids=lambda e: e['Name'])
def test_entry_is_complete(entry):
    assert entry['Name'] == Path(entry['Config']).stem
    assert {'In Collection', 'Metadata', 'Config'} <= set(entry)
    metadata = entry['Metadata']
    assert isinstance(metadata['Parameters'], int)
    assert isinstance(metadata['FLOPs'], int)
    assert all(side > 0 for side in input_size(entry))
    # Every number says whose it is: the paper's or measured by mmsmlp.
    for result in entry.get('Results', []):
        assert result['Source'].split(':')[0] in ('paper', 'mmsmlp')


@pytest.mark.parametrize('entry', ENTRIES, ids=lambda e: e['Name'])
def test_entry_builds_the_model_it_describes(entry):
    """Parameters, and multiply-adds at Input Size, of the model built on
    the meta device (shapes without storage: no memory, no arithmetic).
    Detectors are left out of the multiply-adds: their proposal filtering
    needs real values."""
    config = Config.fromfile(REPO / entry['Config'])
    is_classifier = entry['Metafile'] in MMPRETRAIN_METAFILES
    assert (config.default_scope == 'mmpretrain') == is_classifier, (
        'list the metafiles of mmpretrain configs, and only those, in '
        'mmsmlp.model_index.MMPRETRAIN_METAFILES')
    metadata = entry['Metadata']
    # build_model sets the default scope; leave the global one as it was.
    with DefaultScope.overwrite_default_scope(config.default_scope), \
            torch.device('meta'):
        model = build_model(config)
        assert num_params(model) == metadata['Parameters']
        if config.default_scope == 'mmdet':
            return
        inputs = torch.empty(1, 3, *input_size(entry))
        counter, _ = count_flops(
            tensor_forward(model, config.default_scope, inputs))
    assert counter.get_total_flops() // 2 == metadata['FLOPs']


def test_get_config_path_by_name_and_by_path():
    path = get_config_path('smlpnet-tiny_8xb128_in1k')
    assert path == str(REPO / 'configs/smlpnet/smlpnet-tiny_8xb128_in1k.py')
    assert get_config_path('smlpnet/smlpnet-tiny_8xb128_in1k.py') == path
    with pytest.raises(FileNotFoundError, match='smlpnet-tiny_8xb128_in1k'):
        get_config_path('smlpnet-tiny_8xb64_in1k')


def test_mmpretrain_lists_and_builds_the_classifiers_by_name():
    from mmpretrain import get_model, list_models
    assert list_models('*smlpnet*') == CLASSIFIERS
    assert 'smlpnet-tiny_8xb128_in1k' in CLASSIFIERS
    assert not any('rcnn' in name or 'upernet' in name for name in CLASSIFIERS)
    model = get_model('smlpnet-tiny_8xb128_in1k')
    assert type(model.backbone).__name__ == 'SMLPNet'
    assert sum(p.numel() for p in model.parameters()) == 24_123_584
    mmsmlp.register_model_index()  # a second registration does nothing
    assert list_models('*smlpnet*') == CLASSIFIERS


def test_pretrained_checkpoint_and_inferencers_by_name(tmp_path):
    from mmpretrain import get_model
    from mmpretrain.apis import FeatureExtractor, ImageClassificationInferencer
    name = 'smlpnet-demo_1xb32_shapes'
    classes = ['a', 'b', 'c', 'd', 'e', 'f']
    trained = get_model(name)
    with torch.no_grad():
        for param in trained.parameters():
            param.normal_()
    checkpoint = tmp_path / 'demo.pth'
    torch.save(
        dict(
            state_dict=trained.state_dict(),
            meta=dict(dataset_meta=dict(classes=classes))), checkpoint)

    loaded = get_model(name, pretrained=str(checkpoint))
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    image = tmp_path / 'image.png'
    cv2.imwrite(
        str(image),
        np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8))
    # The inferencers build their pipelines in the current default scope,
    # which other tests may have left at another toolkit's.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(
            name, pretrained=str(checkpoint), device='cpu')
        result = inferencer(str(image))[0]
        extractor = FeatureExtractor(
            name, pretrained=str(checkpoint), device='cpu')
        features = extractor(str(image))[0]  # pooled stages
    assert result['pred_class'] in classes
    assert result['pred_scores'].shape == (len(classes), )
    assert features[-1].shape == (256, )  # the last, for the head


def python_output(code: str) -> str:
    """What ``code`` prints in a fresh interpreter that imports mmsmlp from
    this checkout; it must succeed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.parametrize('first', ['mmsmlp', 'mmpretrain'])
def test_registration_in_either_import_order(first):
    """``import mmsmlp`` does not import mmpretrain, and mmpretrain knows
    the names whichever of the two is imported first."""
    code = '\n'.join([
        'import sys',
        f'import {first}',
        "assert 'mmpretrain' not in sys.modules or "
        f"'{first}' == 'mmpretrain', 'import mmsmlp imported mmpretrain'",
        'import mmsmlp',
        'from mmpretrain import list_models',
        "print(' '.join(list_models('*smlpnet*')))",
    ])
    assert python_output(code).split() == CLASSIFIERS


def test_registration_leaves_a_shared_loader_alone(tmp_path):
    """mmpretrain imported from a zip, whose one loader serves all of its
    modules: registering wraps the loader for mmpretrain.apis.model only,
    so the modules imported after it still load."""
    import zipfile

    import mmpretrain
    package = Path(mmpretrain.__file__).parent
    archive = tmp_path / 'mmpretrain.zip'
    with zipfile.ZipFile(archive, 'w') as zipped:
        for path in package.rglob('*'):
            if path.is_file() and '__pycache__' not in path.parts:
                zipped.write(path, path.relative_to(package.parent))
    code = '\n'.join([
        'import sys',
        f'sys.path.insert(0, {str(archive)!r})',
        'import mmsmlp',
        'import mmpretrain.apis.model',
        "assert mmpretrain.__file__.startswith(sys.path[0]), 'not the zip'",
        'import mmpretrain.apis.image_classification',
        'from mmpretrain import list_models',
        "print(' '.join(list_models('*smlpnet*')))",
    ])
    assert python_output(code).split() == CLASSIFIERS


def test_openmim_parses_the_model_index():
    """`mim search mmsmlp` reads the index with openmim's own parser; its
    fields must have the scalar formats the toolkits' metafiles use (a list
    crashed it)."""
    search = pytest.importorskip('mim.commands.search')
    from modelindex.load_model_index import load as load_index
    table = search.convert2df(load_index(str(mim_root() / MODEL_INDEX)))
    assert sorted(table.index) == sorted(entry['Name'] for entry in ENTRIES)
    fields = search.select_by(table, ['input_size', 'flops', 'parameters'])
    assert fields.notna().all().all(), fields[fields.isna().any(axis=1)]
    small = search.filter_by_conditions(table, 'parameters<30000000')
    assert 'smlpnet-tiny_8xb128_in1k' in small.index
    assert 'smlpnet-base_8xb128_in1k' not in small.index
