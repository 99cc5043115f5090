# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""python -m mmsmlp.utils.collect_env: the installed stack passes, and each
problem is found in a stack description that has it."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmsmlp.utils.collect_env import check_stack, collect_stack

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def stack():
    return collect_stack()


def problem_names(stack, **changes):
    return [p.name for p in check_stack(dataclasses.replace(stack, **changes))]


def test_installed_stack_reports_and_passes():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, '-m', 'mmsmlp.utils.collect_env'],
                         capture_output=True,
                         text=True,
                         env=env,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ('PyTorch: ', 'cuDNN: ', 'MMCV: 2.',
                 'MMCV ops: compiled with ', 'MMPreTrain: ', 'MMDetection: ',
                 'MMSegmentation: ', 'mmsmlp: ', 'GPU usable: ',
                 'Checkpoint allow-list (torch >= 2.6): active'):
        assert f'\n{line}' in run.stdout, line
    assert 'OK: this stack can run the cls det seg configs.' in run.stdout
    # What a process without `import mmsmlp` sees, and what the import
    # changes.
    assert ('\nWithout import mmsmlp, checkpoint allow-list: inactive\n'
            in run.stdout)
    added, = (
        line for line in run.stdout.splitlines()
        if line.startswith('import mmsmlp adds safe globals: '))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in added
    assert 'builtins.getattr (as mmsmlp.utils.checkpoint.' in added
    loaders, = (
        line for line in run.stdout.splitlines()
        if line.startswith('import mmsmlp sets checkpoint loaders: '))
    assert ("'' (local files): mmsmlp.utils.checkpoint.load_from_local "
            '(replacing mmengine.runner.checkpoint.load_from_local)'
            in loaders)
    assert 'smlp_' in loaders and 'load_from_spach (new)' in loaders


def test_installed_stack_has_no_problem(stack):
    assert check_stack(stack) == []


def test_mmcv_that_mmdet_and_mmseg_refuse(stack):
    stack = dataclasses.replace(
        stack,
        mmcv='2.2.0',
        toolkits=dict(cls='1.2.0', det='3.3.0', seg='1.2.2'))
    problems = check_stack(stack)
    assert [p.name for p in problems] == ['mmcv-version', 'mmcv-version']
    assert 'mmdet 3.3.0 refuses mmcv 2.2.0' in problems[0].message
    assert 'mmcv < 2.2.0' in problems[0].message
    assert 'mmsegmentation 1.2.2 refuses mmcv 2.2.0' in problems[1].message
    assert check_stack(stack, tasks=['cls']) == []


def test_mmcv_without_ops_fails_detection_only(stack):
    changes = dict(
        mmcv_ops=None,
        mmcv_cuda_ops=None,
        mmcv_ops_error="ModuleNotFoundError: No module named "
        "'mmcv._ext'")
    assert problem_names(stack, **changes) == ['mmcv-ops-missing']
    assert check_stack(
        dataclasses.replace(stack, **changes), tasks=['cls', 'seg']) == []


def test_cpu_only_ops_with_a_gpu(stack):
    assert problem_names(
        stack, cuda_available=True,
        mmcv_cuda_ops=None) == ['mmcv-ops-without-cuda']
    assert problem_names(
        stack, cuda_available=True, mmcv_cuda_ops='12.1') == []


def test_missing_and_broken_toolkits(stack):
    toolkits = dict(stack.toolkits, det=None)
    assert problem_names(stack, toolkits=toolkits) == ['mmdet-missing']
    error = 'ModuleNotFoundError: No module named ftfy'
    problems = check_stack(
        dataclasses.replace(stack, toolkit_errors=dict(seg=error)))
    assert [p.name for p in problems] == ['mmseg-import-failed']
    assert error in problems[0].message


def test_torch_gpu_and_checkpoint_problems(stack):
    assert problem_names(stack, torch='2.5.1') == ['torch-too-old']
    assert problem_names(
        stack, allow_list_active=False) == ['checkpoint-allow-list-inactive']
    assert problem_names(
        stack,
        cuda_available=True,
        mmcv_cuda_ops='12.1',
        gpu_error='RuntimeError: no kernel image') == ['gpu-unusable']


def test_mmcv_ops_of_another_gpu_architecture(stack):
    cuda = dict(cuda_available=True, mmcv_cuda_ops='13.0', gpu_archs=['9.0'])
    assert problem_names(stack, mmcv_cuda_archs=['9.0'], **cuda) == []
    assert problem_names(stack, mmcv_cuda_archs=['8.0+PTX'], **cuda) == []
    problems = check_stack(
        dataclasses.replace(stack, mmcv_cuda_archs=['8.0', '8.6'], **cuda))
    assert [p.name for p in problems] == ['mmcv-ops-wrong-arch']
    assert 'TORCH_CUDA_ARCH_LIST="9.0"' in problems[0].message
