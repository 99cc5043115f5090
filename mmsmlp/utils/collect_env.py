# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Print the software stack and check that it can run mmsmlp's configs.

    python -m mmsmlp.utils.collect_env [--tasks cls det seg]

Prints, as the OpenMMLab toolkits' ``collect_env`` do, mmengine's report
(Python, CUDA, GPUs, compilers, PyTorch and how it was built, OpenCV,
MMEngine) followed by cuDNN, mmcv and how its ops are compiled, mmpretrain,
mmdet, mmseg, mmsmlp and whether the GPU runs a kernel. Then what importing
mmsmlp changes, against a fresh Python process that does not import it:
torch's ``weights_only`` allow-list (inactive without mmsmlp) and mmengine's
checkpoint loaders. It then lists every problem that stops the configs of
the given tasks (default: all three) from running, and exits with status 1
if there is one.
"""
import argparse
import dataclasses
import importlib
import importlib.metadata
import json
import subprocess
import sys
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.utils import digit_version
from mmengine.utils.dl_utils import collect_env as collect_base_env

import mmsmlp
from mmsmlp.utils import reading_probe
from mmsmlp.utils.cuda_binary import mmcv_ops_archs
from mmsmlp.utils.reading_probe import checkpoint_reading

# torch >= 2.6 reads mmengine checkpoints only through mmsmlp's allow-list
# (mmsmlp/utils/checkpoint.py), which needs that version's add_safe_globals.
MIN_TORCH = '2.6.0'
WEIGHTS_ONLY_DEFAULT_TORCH = '2.6.0'


class Toolkit(NamedTuple):
    """An OpenMMLab toolkit that runs one task's configs, and the mmcv and
    mmengine versions ([min, max)) that its release verified with mmsmlp
    asserts at import."""
    name: str
    distribution: str  # pip name
    module: str
    verified: str
    mmcv: Tuple[str, str]
    mmengine: Tuple[str, str]


TOOLKITS = OrderedDict(
    cls=Toolkit('MMPreTrain', 'mmpretrain', 'mmpretrain', '1.2.0',
                ('2.0.0', '2.4.0'), ('0.8.3', '1.0.0')),
    det=Toolkit('MMDetection', 'mmdet', 'mmdet', '3.3.0',
                ('2.0.0rc4', '2.2.0'), ('0.7.1', '1.0.0')),
    seg=Toolkit('MMSegmentation', 'mmsegmentation', 'mmseg', '1.2.2',
                ('2.0.0rc4', '2.2.0'), ('0.5.0', '1.0.0')),
)


@dataclasses.dataclass
class Stack:
    """What the checks look at; :func:`collect_stack` fills it in."""
    torch: str
    cuda_available: bool
    # Set when CUDA is available but a kernel fails on the GPU.
    gpu_error: Optional[str]
    cudnn: Optional[int]
    mmengine: str
    mmcv: Optional[str]
    # Compiler of mmcv's ops, None when they do not import.
    mmcv_ops: Optional[str]
    mmcv_ops_error: Optional[str]
    # CUDA version mmcv's ops were compiled with; None without CUDA ops.
    mmcv_cuda_ops: Optional[str]
    # Installed version (None if not installed) and import error, by task.
    toolkits: Dict[str, Optional[str]]
    toolkit_errors: Dict[str, str]
    allow_list_active: bool
    # What a process that imports mmsmlp, and a fresh one that does not,
    # has in torch's allow-list and mmengine's checkpoint loaders
    # (:func:`checkpoint_reading`).
    reading: Dict[str, object] = dataclasses.field(default_factory=dict)
    fresh_reading: Dict[str, object] = dataclasses.field(default_factory=dict)
    # GPU architectures mmcv's CUDA ops hold code for ('9.0', '8.0+PTX').
    mmcv_cuda_archs: List[str] = dataclasses.field(default_factory=list)
    # Compute capabilities of the visible GPUs ('9.0').
    gpu_archs: List[str] = dataclasses.field(default_factory=list)


class Problem(NamedTuple):
    name: str
    message: str


def _installed_version(distribution: str) -> Optional[str]:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import_error(module: str) -> Optional[str]:
    try:
        importlib.import_module(module)
    except Exception as error:  # toolkits assert versions at import
        return f'{type(error).__name__}: {error}'
    return None


def _gpu_error() -> Optional[str]:
    """None if a kernel runs on GPU 0 (or there is no GPU), else why not."""
    if not torch.cuda.is_available():
        return None
    try:
        (torch.ones(2, device='cuda') * 2).sum().item()
    except Exception as error:
        return f'{type(error).__name__}: {error}'
    return None


def _mmcv_ops() -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """Compiler, error and CUDA version of mmcv's compiled ops."""
    try:
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
        compiler = get_compiler_version()
        cuda = get_compiling_cuda_version()
    except Exception as error:
        return None, f'{type(error).__name__}: {error}', None
    return compiler, None, None if cuda == 'not available' else cuda


def _mmcv_cuda_archs() -> List[str]:
    try:
        return mmcv_ops_archs()
    except (ImportError, OSError, ValueError):
        return []


def _gpu_archs() -> List[str]:
    if not torch.cuda.is_available():
        return []
    return sorted({
        '%d.%d' % torch.cuda.get_device_capability(i)
        for i in range(torch.cuda.device_count())
    })


def _allow_list_active(reading: Dict[str, object]) -> bool:
    """Whether the safe globals of a :func:`checkpoint_reading` hold
    mmsmlp's allow-list (mmengine's ``HistoryBuffer``)."""
    return ('mmengine.logging.history_buffer.HistoryBuffer'
            in reading['safe_globals'])


def fresh_checkpoint_reading() -> Dict[str, object]:
    """:func:`checkpoint_reading` in a new Python process that does not
    import mmsmlp: it runs the file of that function alone, which imports
    only torch and mmengine."""
    probe = (f'import json, runpy; print(json.dumps(runpy.run_path('
             f'{reading_probe.__file__!r})["checkpoint_reading"]()))')
    run = subprocess.run([sys.executable, '-c', probe],
                         capture_output=True,
                         text=True,
                         timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f'The fresh-process probe failed: {run.stderr}')
    return json.loads(run.stdout.splitlines()[-1])


def collect_stack() -> Stack:
    """Look at the installed stack (importing the installed toolkits)."""
    import mmengine
    mmcv_ops, mmcv_ops_error, mmcv_cuda_ops = _mmcv_ops()
    toolkits = {
        task: _installed_version(toolkit.distribution)
        for task, toolkit in TOOLKITS.items()
    }
    toolkit_errors = {
        task: _import_error(TOOLKITS[task].module)
        for task, version in toolkits.items() if version is not None
    }
    reading = checkpoint_reading()
    return Stack(
        torch=torch.__version__,
        cuda_available=torch.cuda.is_available(),
        gpu_error=_gpu_error(),
        cudnn=(torch.backends.cudnn.version()
               if torch.backends.cudnn.is_available() else None),
        mmengine=mmengine.__version__,
        mmcv=_installed_version('mmcv'),
        mmcv_ops=mmcv_ops,
        mmcv_ops_error=mmcv_ops_error,
        mmcv_cuda_ops=mmcv_cuda_ops,
        toolkits=toolkits,
        toolkit_errors={
            t: e
            for t, e in toolkit_errors.items() if e
        },
        allow_list_active=_allow_list_active(reading),
        reading=reading,
        fresh_reading=fresh_checkpoint_reading(),
        mmcv_cuda_archs=_mmcv_cuda_archs(),
        gpu_archs=_gpu_archs())


def check_stack(stack: Stack,
                tasks: Optional[Sequence[str]] = None) -> List[Problem]:
    """The problems that stop the configs of ``tasks`` (all toolkits by
    default) from running."""
    tasks = tuple(TOOLKITS) if tasks is None else tasks
    problems = []
    if digit_version(stack.torch) < digit_version(MIN_TORCH):
        problems.append(
            Problem(
                'torch-too-old',
                f'torch {stack.torch} is older than {MIN_TORCH}, which mmsmlp '
                f'needs: pip install "torch>={MIN_TORCH}" with the matching '
                'torchvision.'))
    if stack.gpu_error:
        problems.append(
            Problem(
                'gpu-unusable',
                'CUDA is available but a kernel fails on the GPU '
                f'({stack.gpu_error}): install a torch build for this GPU and '
                'driver.'))
    if (digit_version(stack.torch) >= digit_version(WEIGHTS_ONLY_DEFAULT_TORCH)
            and not stack.allow_list_active):
        problems.append(
            Problem(
                'checkpoint-allow-list-inactive',
                f'torch {stack.torch} loads checkpoints with '
                "weights_only=True, and mmengine's own checkpoints "
                "(--resume) need mmsmlp's allow-list, which is not active: "
                'import mmsmlp before loading (the configs do it through '
                'custom_imports).'))
    if stack.mmcv is None:
        problems.append(
            Problem('mmcv-missing',
                    'mmcv is not installed: run tools/install.sh.'))
    for task in tasks:
        problems += _check_toolkit(stack, task)
    if 'det' in tasks and stack.mmcv is not None:
        problems += _check_mmcv_ops(stack)
    return problems


def _check_toolkit(stack: Stack, task: str) -> List[Problem]:
    toolkit = TOOLKITS[task]
    version = stack.toolkits.get(task)
    if version is None:
        return [
            Problem(
                f'{toolkit.module}-missing',
                f'{toolkit.distribution} is not installed, so the {task} '
                f'configs ({toolkit.module}) cannot run: pip install '
                f'"mmsmlp[{task}]" (or run tools/install.sh).')
        ]
    # The verified release's limits give a named problem with its fix;
    # other releases have other limits, which their import error states.
    problems = []
    if version == toolkit.verified:
        problems += _check_version(toolkit, 'mmcv', stack.mmcv, toolkit.mmcv)
        problems += _check_version(toolkit, 'mmengine', stack.mmengine,
                                   toolkit.mmengine)
    error = stack.toolkit_errors.get(task)
    if error and not problems:
        problems.append(
            Problem(
                f'{toolkit.module}-import-failed',
                f'{toolkit.distribution} {version} is installed but does not '
                f'import: {error}'))
    return problems


def _check_version(toolkit: Toolkit, package: str, version: Optional[str],
                   bounds: Tuple[str, str]) -> List[Problem]:
    low, high = (digit_version(bound) for bound in bounds)
    if version is None or low <= digit_version(version) < high:
        return []
    return [
        Problem(
            f'{package}-version',
            f'{toolkit.distribution} {toolkit.verified} refuses {package} '
            f'{version}: it needs {bounds[0]} <= {package} < {bounds[1]} '
            f'(tools/install.sh installs a stack that works).')
    ]


def _check_mmcv_ops(stack: Stack) -> List[Problem]:
    """Mask R-CNN needs mmcv's compiled RoIAlign and NMS, on the device it
    runs on."""
    if stack.mmcv_ops is None:
        return [
            Problem(
                'mmcv-ops-missing', f'mmcv {stack.mmcv} has no compiled ops '
                f'({stack.mmcv_ops_error}), which Mask R-CNN needs (RoIAlign, '
                'NMS): install an mmcv built with MMCV_WITH_OPS=1 '
                '(tools/install.sh builds one), not mmcv-lite.')
        ]
    if stack.cuda_available and stack.mmcv_cuda_ops is None:
        return [
            Problem(
                'mmcv-ops-without-cuda',
                f'mmcv {stack.mmcv} has ops compiled without CUDA, so Mask '
                'R-CNN cannot run on the GPU: rebuild mmcv where torch sees '
                'the GPU (or FORCE_CUDA=1) with nvcc available.')
        ]
    # Reached with CUDA ops only: a GPU is visible whenever gpu_archs is set.
    uncovered = [
        arch for arch in stack.gpu_archs
        if not _runs_on(stack.mmcv_cuda_archs, arch)
    ]
    if uncovered:
        return [
            Problem(
                'mmcv-ops-wrong-arch',
                f'mmcv {stack.mmcv} has CUDA ops for compute capability '
                f'{";".join(stack.mmcv_cuda_archs) or "none found"}, which do '
                f'not run on this GPU ({", ".join(uncovered)}): rebuild it '
                f'with TORCH_CUDA_ARCH_LIST="{";".join(uncovered)}" bash '
                'tools/install.sh.')
        ]
    return []


def _runs_on(archs: Sequence[str], gpu: str) -> bool:
    """Whether code for ``archs`` runs on a GPU of compute capability
    ``gpu``: machine code of the same major version and no higher minor
    one, or PTX of no higher version (compiled by the driver)."""
    major, minor = map(int, gpu.split('.'))
    for arch in archs:
        code_major, code_minor = map(int, arch.split('+')[0].split('.'))
        if arch.endswith('+PTX'):
            if (code_major, code_minor) <= (major, minor):
                return True
        elif code_major == major and code_minor <= minor:
            return True
    return False


def collect_env(stack: Optional[Stack] = None) -> Dict[str, object]:
    """mmengine's environment report with what mmsmlp runs on added."""
    stack = stack or collect_stack()
    env = collect_base_env()
    env['cuDNN'] = stack.cudnn if stack.cudnn is not None else 'not available'
    env['MMCV'] = stack.mmcv or 'not installed'
    if stack.mmcv_ops is None:
        env['MMCV ops'] = f'not available ({stack.mmcv_ops_error})'
    elif stack.mmcv_cuda_ops is None:
        env['MMCV ops'] = f'compiled with {stack.mmcv_ops}, CPU ops only'
    else:
        env['MMCV ops'] = (f'compiled with {stack.mmcv_ops}, CUDA ops (CUDA '
                           f'{stack.mmcv_cuda_ops}), arch '
                           f'{";".join(stack.mmcv_cuda_archs) or "unknown"}')
    for task, toolkit in TOOLKITS.items():
        version = stack.toolkits[task]
        error = stack.toolkit_errors.get(task)
        env[toolkit.name] = (
            'not installed' if version is None else
            f'{version} (import fails: {error})' if error else version)
    env['mmsmlp'] = mmsmlp.__version__
    env['GPU usable'] = (stack.cuda_available and not stack.gpu_error)
    env['Checkpoint allow-list (torch >= 2.6)'] = (
        'active' if stack.allow_list_active else 'inactive')
    env.update(mmsmlp_changes(stack))
    return env


def mmsmlp_changes(stack: Stack) -> Dict[str, str]:
    """What ``import mmsmlp`` changes in how checkpoints are read, against
    a fresh process without it."""
    fresh, now = stack.fresh_reading, stack.reading
    if not fresh or not now:
        return {}
    added = sorted(set(now['safe_globals']) - set(fresh['safe_globals']))
    loaders = []
    for prefix, loader in now['loaders'].items():
        before = fresh['loaders'].get(prefix)
        if loader != before:
            where = repr(prefix) if prefix else "'' (local files)"
            was = f'replacing {before}' if before else 'new'
            loaders.append(f'{where}: {loader} ({was})')
    return {
        'Without import mmsmlp, checkpoint allow-list':
        'active' if _allow_list_active(fresh) else 'inactive',
        'import mmsmlp adds safe globals':
        ', '.join(added) or 'none',
        'import mmsmlp sets checkpoint loaders':
        '; '.join(loaders) or 'none',
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Print the software stack and check that it can run "
        "mmsmlp's configs")
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=list(TOOLKITS),
        default=list(TOOLKITS),
        help='the configs to check for: cls (mmpretrain), det (mmdet), '
        'seg (mmseg); default: all')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    stack = collect_stack()
    for name, value in collect_env(stack).items():
        print(f'{name}: {value}')
    problems = check_stack(stack, args.tasks)
    print()
    if not problems:
        print(f'OK: this stack can run the {" ".join(args.tasks)} configs.')
        return 0
    for problem in problems:
        print(f'PROBLEM [{problem.name}]: {problem.message}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
