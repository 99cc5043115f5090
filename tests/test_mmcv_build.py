# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What tools/install.sh decides about mmcv (mmsmlp/utils/mmcv_build.py):
the build target, the CUDA toolkit, torch's header folders, the cache key
and the ops check, each on its own and through install.sh's functions."""
import os
import subprocess
import sys
from pathlib import Path

import mmcv
import pytest
import torch

from mmsmlp.utils import mmcv_build
from mmsmlp.utils.mmcv_build import (InstallError, build_target, cache_key,
                                     check_mmcv_ops, find_cuda_home,
                                     lacking_include_dirs)

REPO = Path(__file__).resolve().parents[1]


def install_sh(function: str, *args: str, **env: str):
    """Run one function of tools/install.sh (sourced, as
    make_wheelhouse.sh and gpu_check.sh use them)."""
    script = f'source tools/install.sh; {function} "$@"'
    return subprocess.run(['bash', '-c', script, 'bash', *args],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, PYTHON=sys.executable, **env))


def test_target_is_cpu_without_a_gpu_or_force_cuda():
    assert build_target(False, '13.0', '9.0', []) == ('cpu', [])


def test_target_takes_the_arch_list_over_the_visible_gpus():
    assert build_target(True, '13.0', '8.0; 9.0+PTX',
                        ['9.0']) == ('cuda', ['8.0', '9.0+PTX'])
    assert build_target(False, '13.0', '',
                        ['9.0', '8.0', '9.0']) == ('cuda', ['8.0', '9.0'])


@pytest.mark.parametrize('cuda, archs, message', [
    (None, '9.0', 'CPU-only build'),
    ('13.0', '', 'set TORCH_CUDA_ARCH_LIST'),
])
def test_force_cuda_that_cannot_be_built_says_what_to_do(cuda, archs, message):
    with pytest.raises(InstallError, match=message):
        build_target(True, cuda, archs, [])


def fake_toolkit(root: Path, name: str) -> str:
    home = root / name
    (home / 'bin').mkdir(parents=True)
    (home / 'include').mkdir()
    (home / 'bin' / 'nvcc').write_text('')
    (home / 'include' / 'cuda_runtime.h').write_text('')
    return str(home)


def test_cuda_home_is_the_first_toolkit_of_torchs_major_version(tmp_path):
    wrapper_only = tmp_path / 'usr_local'
    (wrapper_only / 'bin').mkdir(parents=True)
    (wrapper_only / 'bin' / 'nvcc').write_text('')  # no headers: no toolkit
    old = fake_toolkit(tmp_path, 'cuda-12.4')
    new = fake_toolkit(tmp_path, 'cuda-13.0')
    releases = {old: (12, 4), new: (13, 0)}

    def release(nvcc):
        return releases[str(Path(nvcc).parents[1])]

    assert find_cuda_home('13.0', [str(wrapper_only), new], release) == new
    with pytest.raises(InstallError, match='is CUDA release 12.4, but torch'):
        find_cuda_home('13.0', [old, new], release)
    with pytest.raises(
            InstallError, match='export CUDA_HOME=/usr/local/cuda-13.0'):
        find_cuda_home('13.0', [str(wrapper_only)], release)


def test_cuda_home_reads_the_release_of_a_real_nvcc():
    home = next(
        (path for path in ('/usr/local/cuda', os.environ.get('CUDA_HOME', ''))
         if path and mmcv_build.is_cuda_toolkit(path)), None)
    if home is None:
        pytest.skip('no CUDA toolkit on this machine')
    release = mmcv_build.nvcc_release(os.path.join(home, 'bin', 'nvcc'))
    assert release is not None
    assert find_cuda_home(f'{release[0]}.{release[1]}', [home]) == home


def test_include_dirs_are_the_wheel_folders_with_headers_the_toolkit_lacks(
        tmp_path):
    toolkit = fake_toolkit(tmp_path, 'cuda')
    (Path(toolkit) / 'include' / 'cusparse.h').write_text('')
    site = tmp_path / 'site-packages' / 'nvidia'
    for wheel, headers in {
            'cu13': ['cublas.h', 'cusparse.h'],
            'cuda_runtime': ['cuda_runtime.h'],
            'nccl': ['nccl.h'],
    }.items():
        (site / wheel / 'include').mkdir(parents=True)
        for header in headers:
            (site / wheel / 'include' / header).write_text('')
    assert lacking_include_dirs(str(site.parent), toolkit) == [
        str(site / 'cu13' / 'include'),
        str(site / 'nccl' / 'include')
    ]


def test_cpu_cache_key_keeps_its_form_and_cuda_keys_name_safe_files():
    version = f'py{sys.version_info[0]}{sys.version_info[1]}'
    cuda = torch.version.cuda or 'cpu'
    assert cache_key('cpu') == (
        f'{version}-torch{torch.__version__}-cuda{cuda}')
    key = cache_key('cuda', '8.0;9.0+PTX')
    assert key.endswith('-cuda-ops-arch8.0_9.0_PTX')
    assert set(key) <= set('abcdefghijklmnopqrstuvwxyz'
                           'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-')


def test_ops_check_passes_the_installed_mmcv_and_names_another_version():
    check_mmcv_ops('cpu', mmcv.__version__)
    with pytest.raises(
            InstallError,
            match=f'mmcv {mmcv.__version__} is '
            'installed, not 0.0.1'):
        check_mmcv_ops('cpu', '0.0.1')


def test_install_sh_functions_give_the_modules_answers():
    target = install_sh(
        'mmcv_target', FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0;9.0')
    assert target.returncode == 0, target.stderr
    assert target.stdout.strip() == 'cuda 8.0;9.0'
    key = install_sh('mmcv_cache_key', 'cuda', '8.0;9.0')
    assert key.stdout.strip() == cache_key('cuda', '8.0;9.0')
    assert install_sh('mmcv_check', 'cpu').returncode == 0
    wrong = install_sh('MMCV_VERSION=0.0.1 mmcv_check', 'cpu')
    assert wrong.returncode == 1
    assert wrong.stdout.strip() == (
        f'mmcv {mmcv.__version__} is installed, not 0.0.1')


def test_install_sh_says_what_force_cuda_without_a_gpu_needs():
    if torch.cuda.is_available():
        pytest.skip('a GPU is visible: its capabilities are the target')
    result = install_sh('mmcv_target', FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST='')
    assert result.returncode == 1
    expected = ('set TORCH_CUDA_ARCH_LIST'
                if torch.version.cuda else 'is a CPU-only build')
    assert expected in result.stderr
