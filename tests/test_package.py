# Copyright (c) mmsmlp contributors. All rights reserved.
"""The package needs only torch, mmengine and mmcv: the toolkits and the
optional dependencies are imported by the functions that use them."""
import subprocess
import sys

# Everything but mmsmlp.datasets.demo.detection, which draws COCO masks with
# pycocotools (the tools and tests that use it need mmdet anyway).
MODULES = ('mmsmlp', 'mmsmlp.analysis', 'mmsmlp.analysis.ablations',
           'mmsmlp.analysis.benchmark', 'mmsmlp.analysis.logs', 'mmsmlp.apis',
           'mmsmlp.converters', 'mmsmlp.datasets.demo.classification',
           'mmsmlp.datasets.demo.segmentation', 'mmsmlp.deployment',
           'mmsmlp.engine', 'mmsmlp.model_index', 'mmsmlp.testing',
           'mmsmlp.utils', 'mmsmlp.utils.collect_env')
OPTIONAL = ('mmpretrain', 'mmdet', 'mmseg', 'pycocotools', 'onnx',
            'onnxruntime', 'matplotlib')


def test_imports_without_toolkits_and_optional_packages():
    # A None entry in sys.modules makes `import name` raise ImportError.
    code = (f'import sys\nfor name in {OPTIONAL!r}:\n'
            '    sys.modules[name] = None\n' + ''.join(f'import {module}\n'
                                                       for module in MODULES))
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
