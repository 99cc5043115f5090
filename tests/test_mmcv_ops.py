# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""mmcv's compiled ops as tools/install.sh builds them: the CPU kernels that
the detectors use agree with torchvision's, however mmcv was built, and a
CUDA build holds code for the GPU architectures it was built for (read from
the library itself, so a wheel built for other GPUs is caught without one).
"""
import os
import shutil
import subprocess

import pytest
import torch
import torchvision.ops

from mmsmlp.utils.cuda_binary import cuda_archs, mmcv_ops_archs

mmcv_ops = pytest.importorskip('mmcv.ops')


def random_boxes(count, seed, size=100.):
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(count, 2, generator=generator) * size
    sides = torch.rand(count, 2, generator=generator) * size / 3 + 0.5
    scores = torch.rand(count, generator=generator)
    return torch.cat([corners, corners + sides], dim=1), scores


def test_nms_and_batched_nms_match_torchvision():
    boxes, scores = random_boxes(300, seed=0)
    _, keep = mmcv_ops.nms(boxes, scores, 0.5)
    assert torch.equal(keep, torchvision.ops.nms(boxes, scores, 0.5))
    labels = torch.randint(
        0, 4, (300, ), generator=torch.Generator().manual_seed(1))
    _, keep = mmcv_ops.batched_nms(boxes, scores, labels,
                                   dict(type='nms', iou_threshold=0.5))
    expected = torchvision.ops.batched_nms(boxes, scores, labels, 0.5)
    assert torch.equal(keep, expected)


def test_roi_align_matches_torchvision():
    features = torch.randn(
        2, 8, 24, 32, generator=torch.Generator().manual_seed(2))
    boxes, _ = random_boxes(40, seed=3, size=30.)
    rois = torch.cat([torch.randint(0, 2, (40, 1)).float(), boxes], dim=1)
    for scale, ratio in ((1.0, 2), (0.5, 0)):
        expected = torchvision.ops.roi_align(
            features, rois, (7, 7), scale, ratio, aligned=True)
        actual = mmcv_ops.roi_align(features, rois, (7, 7), scale, ratio,
                                    'avg', True)
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
        module = mmcv_ops.RoIAlign((7, 7), scale, ratio, aligned=True)
        torch.testing.assert_close(
            module(features, rois), expected, rtol=1e-5, atol=1e-5)


def nvcc():
    home = os.environ.get('CUDA_HOME', '/usr/local/cuda')
    for path in (os.path.join(home, 'bin', 'nvcc'), shutil.which('nvcc')):
        if path and os.path.isfile(path):
            return path
    pytest.skip('no nvcc (CUDA toolkit) to compile a test library with')


@pytest.mark.parametrize('gencode, archs', [
    (['arch=compute_80,code=sm_80', 'arch=compute_90,code=[sm_90,compute_90]'
      ], ['8.0', '9.0']),
    (['arch=compute_75,code=compute_75'], ['7.5+PTX']),
])
def test_fatbin_architectures_of_an_nvcc_library(tmp_path, gencode, archs):
    source = tmp_path / 'kernel.cu'
    source.write_text(
        '__global__ void twice(float *x) { x[threadIdx.x] *= 2; }\n'
        'extern "C" void launch(float *x) { twice<<<1, 32>>>(x); }\n')
    library = tmp_path / 'kernel.so'
    flags = [f'-gencode={code}' for code in gencode]
    subprocess.run([
        nvcc(), '-shared', '-Xcompiler', '-fPIC', *flags,
        str(source), '-o',
        str(library)
    ],
                   check=True,
                   timeout=300)
    assert cuda_archs(library) == archs


def test_cpu_library_holds_no_gpu_code(tmp_path):
    assert cuda_archs(torch._C.__file__) == []


def test_installed_mmcv_cuda_ops_hold_the_architectures_asked_for():
    if mmcv_ops.get_compiling_cuda_version() == 'not available':
        pytest.skip('mmcv is built with CPU ops only')
    archs = mmcv_ops_archs()
    assert archs, 'mmcv has CUDA ops but no GPU code in its library'
    wanted = os.environ.get('TORCH_CUDA_ARCH_LIST')
    if wanted:
        assert {a.split('+')[0]
                for a in archs} >= set(wanted.replace(';', ' ').split()), archs
    if torch.cuda.is_available():
        capability = '%d.%d' % torch.cuda.get_device_capability()
        assert any(a.split('+')[0] == capability for a in archs), (
            f'mmcv holds code for {archs}, this GPU is {capability}')
