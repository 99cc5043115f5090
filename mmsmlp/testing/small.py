# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Small models and demo data for the tests: what several test files
need, written once."""
import subprocess
import sys
from pathlib import Path

from mmsmlp.model_index import mim_root
from mmsmlp.models import SMLPNet

# Four stages of 8, 16, 32 and 64 channels with 5 blocks: seconds to run.
SMALL_ARCH = dict(embed_dims=8, depths=(1, 1, 2, 1), alpha=2)


def small_smlpnet(**kwargs) -> SMLPNet:
    """An ``SMLPNet`` of :data:`SMALL_ARCH` for 64 px (either overridable)."""
    kwargs.setdefault('arch', SMALL_ARCH)
    kwargs.setdefault('img_size', 64)
    return SMLPNet(**kwargs)


def run_demo_generator(task: str, out, *args: str, timeout=300) -> None:
    """Run ``tools/data/make_demo_{task}.py --out OUT ARGS`` (task: cls, det
    or seg) as users run it."""
    script = Path(mim_root(), 'tools', 'data', f'make_demo_{task}.py')
    subprocess.run(
        [sys.executable, str(script), '--out',
         str(out), *args],
        check=True,
        capture_output=True,
        timeout=timeout)
