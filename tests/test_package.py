# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The package needs only torch, mmengine and mmcv: the toolkits and the
optional dependencies are imported by the functions that use them; and its
modules import each other without a cycle."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'mmsmlp'

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


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def package_imports(path: Path, modules) -> set:
    """The modules of ``modules`` that the file imports, at any depth of
    its code (an import inside a function closes a cycle as well)."""
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit('.', node.level - 1)[0] if node.level else ''
            base = '.'.join(filter(None, [base, node.module]))
            targets = [f'{base}.{alias.name}' for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition('.')[0]  # a name in a module
            if target and target != name:
                found.add(target)
    return found


def import_cycles(graph) -> list:
    """The strongly connected groups of more than one module (Tarjan)."""
    order, low, stack, cycles = {}, {}, [], []

    def visit(module):
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in graph[module]:
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in graph:
        if module not in order:
            visit(module)
    return cycles


def test_no_import_cycle_in_the_package():
    files = {module_name(path): path for path in PACKAGE.rglob('*.py')}
    graph = {
        name: package_imports(path, files)
        for name, path in files.items()
    }
    # The check sees the backbone's chain: layers <- checkpoint <- network.
    backbones = 'mmsmlp.models.backbones.'
    assert f'{backbones}smlpnet_layers' in graph[f'{backbones}smlpnet']
    assert import_cycles(graph) == []


def test_import_cycles_are_found():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert import_cycles(graph) == [['a', 'b', 'c']]


def test_every_python_file_has_the_licence_header():
    header = ('# Copyright (c) mmsmlp contributors. '
              'Licensed under the Apache License 2.0.\n')
    repository = PACKAGE.parent
    files = [repository / 'setup.py'] + [
        path for folder in ('mmsmlp', 'tools', 'tests')
        for path in (repository / folder).rglob('*.py')
    ]
    assert [
        str(path.relative_to(repository)) for path in files
        if not path.read_text().startswith(header)
    ] == []
