# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What ``tools/install.sh`` decides in Python when it installs mmcv: what
to build its ops for, which CUDA toolkit builds them, which of torch's CUDA
header directories the toolkit needs, the key a built wheel is cached
under, and whether the installed mmcv's ops run.

install.sh runs this file by its path, before mmsmlp (or anything besides
torch) is installed, so it imports only the standard library and torch, and
mmcv where it checks mmcv::

    python mmsmlp/utils/mmcv_build.py target
    python mmsmlp/utils/mmcv_build.py cuda-home
    python mmsmlp/utils/mmcv_build.py include-dirs TOOLKIT
    python mmsmlp/utils/mmcv_build.py cache-key KIND [ARCHS]
    python mmsmlp/utils/mmcv_build.py check KIND VERSION

Each prints its answer, or exits with a message that says what to do.
"""
import glob
import os
import re
import subprocess
import sys
from typing import Callable, List, Optional, Sequence, Tuple

import torch


class InstallError(RuntimeError):
    """mmcv cannot be built or installed as asked; the message says why
    and what to do."""


# ---------------------------------------------------------------- target
def build_target(force_cuda: bool, cuda_version: Optional[str], arch_list: str,
                 gpu_capabilities: Sequence[str]) -> Tuple[str, List[str]]:
    """``('cpu', [])``, or ``('cuda', archs)`` when a GPU is visible
    (``gpu_capabilities`` is not empty) or ``force_cuda``; ``archs`` are
    those of ``arch_list`` (``TORCH_CUDA_ARCH_LIST``) when set, else the
    visible GPUs' compute capabilities."""
    if not (gpu_capabilities or force_cuda):
        return 'cpu', []
    if cuda_version is None:
        raise InstallError(
            f'FORCE_CUDA=1, but torch {torch.__version__} is a CPU-only '
            'build: install a CUDA build of torch first.')
    archs = [arch for arch in re.split(r'[;\s]+', arch_list.strip()) if arch]
    if archs:
        return 'cuda', archs
    if not gpu_capabilities:
        raise InstallError(
            'FORCE_CUDA=1 without a visible GPU: set TORCH_CUDA_ARCH_LIST to '
            'the compute capabilities to build for, e.g. '
            'TORCH_CUDA_ARCH_LIST=9.0 for H100/H200, 8.0 for A100.')
    return 'cuda', sorted(set(gpu_capabilities))


def visible_gpu_capabilities() -> List[str]:
    """The compute capabilities (``'9.0'``) of the GPUs torch sees."""
    if not torch.cuda.is_available():
        return []
    return [
        '%d.%d' % torch.cuda.get_device_capability(i)
        for i in range(torch.cuda.device_count())
    ]


# ------------------------------------------------------------- CUDA home
def is_cuda_toolkit(home: str) -> bool:
    return all(
        os.path.isfile(os.path.join(home, path))
        for path in ('bin/nvcc', 'include/cuda_runtime.h'))


def nvcc_release(nvcc: str) -> Optional[Tuple[int, int]]:
    """The CUDA release ``nvcc --version`` reports, as (major, minor)."""
    output = subprocess.run([nvcc, '--version'],
                            capture_output=True,
                            text=True).stdout
    found = re.search(r'release (\d+)\.(\d+)', output)
    return (int(found.group(1)), int(found.group(2))) if found else None


def find_cuda_home(
        wanted: str,
        candidates: Sequence[str],
        release: Callable[[str], Optional[Tuple[int,
                                                int]]] = nvcc_release) -> str:
    """The first of ``candidates`` that is a CUDA toolkit (``bin/nvcc`` and
    ``include/cuda_runtime.h``), which must have torch's CUDA major version
    ``wanted`` (``torch.version.cuda``)."""
    fix = (f'install the CUDA toolkit {wanted} (the CUDA version of torch '
           f'{torch.__version__}, torch.version.cuda) and set CUDA_HOME to '
           f'it, e.g. export CUDA_HOME=/usr/local/cuda-{wanted}')
    home = next((path for path in candidates if is_cuda_toolkit(path)), None)
    if home is None:
        searched = ', '.join(candidates) or (
            'CUDA_HOME (unset), nvcc on the PATH (none)')
        raise InstallError("mmcv's CUDA ops need the CUDA toolkit (bin/nvcc "
                           'and include/cuda_runtime.h), which was not found '
                           f'in {searched}: {fix}.')
    nvcc = os.path.join(home, 'bin', 'nvcc')
    found = release(nvcc)
    if found is None or str(found[0]) != wanted.split('.')[0]:
        version = '%d.%d' % found if found else 'an unknown version'
        raise InstallError(f'{nvcc} is CUDA release {version}, but torch was '
                           f'built with CUDA {wanted}: {fix}.')
    return home


def cuda_home_candidates(environ=os.environ) -> List[str]:
    """Where to look for the toolkit: torch's ``CUDA_HOME`` (from the
    environment, else from nvcc on the PATH), and, where the environment
    names none, ``/usr/local/cuda`` and ``/usr/local/cuda-X.Y``: the nvcc
    on the PATH may be a wrapper script outside any toolkit."""
    from torch.utils.cpp_extension import CUDA_HOME
    candidates = [CUDA_HOME] if CUDA_HOME else []
    if not (environ.get('CUDA_HOME') or environ.get('CUDA_PATH')):
        candidates += [
            '/usr/local/cuda', f'/usr/local/cuda-{torch.version.cuda}'
        ]
    return candidates


# ------------------------------------------------------- include folders
def lacking_include_dirs(site_packages: str, toolkit: str) -> List[str]:
    """The include folders of torch's CUDA wheels
    (``site-packages/nvidia/*/include``) that hold headers the toolkit at
    ``toolkit`` lacks. torch's CUDA headers include the cuBLAS, cuSPARSE and
    cuSOLVER headers, which a minimal toolkit (nvcc and the runtime) does
    not ship; the wheels torch runs with do."""
    own = os.path.join(toolkit, 'include')
    dirs = []
    pattern = os.path.join(site_packages, 'nvidia', '*', 'include')
    for include in sorted(glob.glob(pattern)):
        headers = [name for name in os.listdir(include) if name.endswith('.h')]
        lacking = sorted(
            h for h in headers if not os.path.exists(os.path.join(own, h)))
        if lacking:
            dirs.append(include)
            print(
                f'[install]   {include} ({len(lacking)} headers the toolkit '
                f'lacks, e.g. {", ".join(lacking[:3])})',
                file=sys.stderr)
    return dirs


# -------------------------------------------------------------- cache key
def cache_key(kind: str, archs: str = '') -> str:
    """The name of the cache folder of an mmcv wheel built for this Python
    and torch. CPU keys keep the form of earlier versions of install.sh, so
    their cached wheels stay valid; CUDA keys add the architectures, with
    characters other than letters, digits, '.', '_' and '-' replaced by '_'
    (they name files that travel to other machines)."""
    key = (f'py{sys.version_info[0]}{sys.version_info[1]}-torch'
           f'{torch.__version__}-cuda{torch.version.cuda or "cpu"}')
    if kind == 'cuda':
        key = re.sub(r'[^A-Za-z0-9._-]', '_', f'{key}-cuda-ops-arch{archs}')
    return key


# ------------------------------------------------------------- ops check
def check_mmcv_ops(kind: str, version: str) -> None:
    """Raise unless mmcv ``version`` is installed and its compiled ops
    (nms, roi_align) run, on CUDA tensors too for ``kind == 'cuda'`` where
    a GPU is visible, agreeing there with the CPU kernels."""
    import mmcv
    if mmcv.__version__ != version:
        raise InstallError(f'mmcv {mmcv.__version__} is installed, not '
                           f'{version}')
    from mmcv.ops import get_compiling_cuda_version, nms, roi_align
    if kind == 'cuda' and get_compiling_cuda_version() == 'not available':
        raise InstallError('the installed mmcv has no CUDA ops (built without '
                           'a GPU or FORCE_CUDA=1)')
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    features = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32)
    features = features.reshape(2, 3, 8, 8)
    rois = torch.tensor([[0., 1., 1., 6., 6.], [1., 0., 2., 7., 5.]])

    def run_ops(device):
        keep = nms(boxes.to(device), scores.to(device), 0.5)[1]
        pooled = roi_align(
            features.to(device), rois.to(device), (2, 2), 1.0, 2)
        return keep.cpu(), pooled.cpu()

    expected = run_ops('cpu')
    if kind == 'cuda' and torch.cuda.is_available():
        for got, want in zip(run_ops('cuda'), expected):
            torch.testing.assert_close(got, want)


# ----------------------------------------------------------- command line
def main(argv: Sequence[str]) -> str:
    command, *args = argv
    if command == 'target':
        kind, archs = build_target(
            os.environ.get('FORCE_CUDA') == '1', torch.version.cuda,
            os.environ.get('TORCH_CUDA_ARCH_LIST', ''),
            visible_gpu_capabilities())
        return ' '.join([kind, ';'.join(archs)]).strip()
    if command == 'cuda-home':
        return find_cuda_home(torch.version.cuda or '', cuda_home_candidates())
    if command == 'include-dirs':
        site = os.path.dirname(os.path.dirname(torch.__file__))
        return ':'.join(lacking_include_dirs(site, args[0]))
    if command == 'cache-key':
        return cache_key(*args)
    if command == 'check':
        check_mmcv_ops(*args)
        return ''
    raise InstallError(f'unknown command {command!r} (target, cuda-home, '
                       'include-dirs, cache-key, check)')


if __name__ == '__main__':
    try:
        answer = main(sys.argv[1:])
    except InstallError as error:
        sys.exit(str(error))
    if answer:
        print(answer)
