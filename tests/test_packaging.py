# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The wheel carries the package, the configs, the tools and the model index
(and nothing else), and an installed mmsmlp finds and uses its configs
without the repository, also through openmim."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mmengine.fileio import load

REPO = Path(__file__).resolve().parents[1]
# Build output and what a developer may keep in a checkout: data,
# checkpoints, work dirs, the offline wheelhouse.
NOT_SOURCE = {
    '.git', 'build', 'dist', '.pytest_cache', 'data', 'checkpoints',
    'work_dirs', 'outputs', 'wheelhouse'
}


def not_source(directory, names):
    """The names ``shutil.copytree`` leaves out of a copy of the checkout."""
    ignored = {
        name
        for name in names
        if name == '__pycache__' or name.endswith('.egg-info')
    }
    if Path(directory) == REPO:
        ignored |= NOT_SOURCE & set(names)
    return ignored


def pip(*args, cwd=None):
    run = subprocess.run([sys.executable, '-m', 'pip', *args],
                         capture_output=True,
                         text=True,
                         cwd=cwd,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """A wheel built from a copy of the checkout, as `pip install .` builds
    it (the copy keeps the checkout free of build output)."""
    tmp = tmp_path_factory.mktemp('wheel')
    source = tmp / 'source'
    shutil.copytree(REPO, source, ignore=not_source)
    pip('wheel', '--no-deps', '--no-build-isolation', '--disable-pip-version-'
        'check', '-w', str(tmp / 'dist'), str(source))
    wheels = list((tmp / 'dist').glob('mmsmlp-*.whl'))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_carries_package_configs_and_model_index(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split('/')[0] for name in names}
    assert {t for t in top_level if not t.endswith('.dist-info')} == {'mmsmlp'}
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc')]
    for module in ('__init__.py', 'model_index.py', 'utils/collect_env.py',
                   'models/backbones/smlpnet.py'):
        assert f'mmsmlp/{module}' in names

    shipped = {
        name[len('mmsmlp/.mim/'):]
        for name in names if name.startswith('mmsmlp/.mim/')
    }
    configs_and_tools = {
        path.relative_to(REPO).as_posix()
        for folder in ('configs', 'tools')
        for path in (REPO / folder).rglob('*')
        if path.is_file() and '__pycache__' not in path.parts
    }
    assert shipped == configs_and_tools | {'model-index.yml'}
    for metafile in load(str(REPO / 'model-index.yml'))['Import']:
        assert metafile in shipped


def test_wheel_states_requirements_and_extras(wheel):
    archive = zipfile.ZipFile(wheel)
    metadata_file = next(n for n in archive.namelist()
                         if n.endswith('.dist-info/METADATA'))
    metadata = archive.read(metadata_file).decode()
    requires = [
        line.split(': ', 1)[1] for line in metadata.splitlines()
        if line.startswith('Requires-Dist: ')
    ]
    assert 'torch>=2.6' in requires
    assert any(
        r.startswith('mmcv>=2.0.0') and 'extra' not in r for r in requires)
    extras = {
        line.split(': ', 1)[1]
        for line in metadata.splitlines()
        if line.startswith('Provides-Extra: ')
    }
    assert extras == {'cls', 'det', 'seg', 'deploy', 'tests', 'all'}
    assert 'mmdet>=3.3.0; extra == "det"' in requires
    assert 'mmcv<2.2.0,>=2.0.0; extra == "det"' in requires
    assert 'mmsegmentation>=1.2.2; extra == "seg"' in requires
    assert 'mmpretrain>=1.2.0; extra == "cls"' in requires
    # mmdeploy itself goes in with --no-deps (requirements/deploy.txt).
    assert 'onnxruntime>=1.16; extra == "deploy"' in requires
    assert not any(r.startswith('mmdeploy') for r in requires)
    # The tests extra includes requirements/lint.txt (``-r lint.txt``).
    assert 'flake8==7.5.0; extra == "tests"' in requires


def test_installed_wheel_finds_and_uses_its_configs(wheel, tmp_path):
    """Installed without the repository (a target folder on PYTHONPATH, run
    from elsewhere), mmsmlp reads the configs and the model index of its
    .mim folder, their _base_ files resolve, and mmpretrain builds a
    classifier by name."""
    site = tmp_path / 'site'
    pip('install', '--no-deps', '--disable-pip-version-check', '--target',
        str(site), str(wheel))
    code = f'''
import mmsmlp
from mmengine.config import Config
from mmpretrain import get_model

mim = {str(site / 'mmsmlp' / '.mim')!r}
assert mmsmlp.__file__.startswith({str(site)!r}), mmsmlp.__file__
path = mmsmlp.get_config_path('mask_rcnn/mask-rcnn_smlpnet-s_fpn_1x_coco.py')
assert path.startswith(mim), path
config = Config.fromfile(path)
assert config.model.backbone.arch == 'small'
assert config.model.neck.in_channels == [96, 192, 384, 768]
model = get_model('smlpnet-demo_1xb32_shapes')
assert model._config.filename.startswith(mim), model._config.filename
print('ok')
'''
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         env=env,
                         cwd=tmp_path,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-1] == 'ok'


def test_openmim_lists_searches_trains_and_tests_an_installed_wheel(
        wheel, tmp_path):
    """openmim, run from elsewhere on an installed wheel: ``mim list`` shows
    mmsmlp, ``mim search`` filters its models, and ``mim train`` / ``mim
    test`` find the demo config and the scripts in the wheel's .mim folder
    and train and test it (two epochs on a few generated images)."""
    pytest.importorskip('mim', reason='openmim is a test requirement')
    site = tmp_path / 'site'
    pip('install', '--no-deps', '--disable-pip-version-check', '--target',
        str(site), str(wheel))
    env = dict(
        os.environ,
        PYTHONPATH=str(site),
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')

    def run(*args):
        result = subprocess.run([sys.executable, *args],
                                capture_output=True,
                                text=True,
                                env=env,
                                cwd=tmp_path,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
            -3000:]
        return result.stdout

    assert 'mmsmlp' in run('-m', 'mim', 'list').split()
    found = run('-m', 'mim', 'search', 'mmsmlp', '--field', 'parameters',
                '--condition', 'parameters<30000000')
    assert 'smlpnet-tiny_8xb128_in1k' in found
    assert 'smlpnet-base_8xb128_in1k' not in found
    found = run('-m', 'mim', 'search', 'mmsmlp', '--dataset', 'coco')
    assert 'mask-rcnn_smlpnet-t_fpn_1x_coco' in found
    assert 'smlpnet-tiny_8xb128_in1k' not in found

    mim_tools = site / 'mmsmlp' / '.mim' / 'tools'
    run(
        str(mim_tools / 'data' / 'make_demo_cls.py'), '--out', 'data/demo/cls',
        '--num-train', '2', '--num-val', '1', '--size', '32')
    config = 'smlpnet-demo_1xb32_shapes.py'
    # Two epochs: the schedule warms up during the first.
    short_run = ('train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
                 'default_hooks.checkpoint.interval=2')
    log = run('-m', 'mim', 'train', 'mmsmlp', config, '--work-dir', 'train',
              '--cfg-options', *short_run)
    assert str(mim_tools / 'train.py') in log
    checkpoint = tmp_path / 'train' / 'epoch_2.pth'
    assert checkpoint.exists()
    log = run('-m', 'mim', 'test', 'mmsmlp', config, '--checkpoint',
              str(checkpoint), '--work-dir', 'test')
    assert str(mim_tools / 'test.py') in log
    assert list((tmp_path / 'test').rglob('*.json'))
