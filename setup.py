# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Packaging of mmsmlp.

Besides the Python package, a built wheel (``pip install .``, ``pip wheel .``)
carries the configs, the tools and the model index under ``mmsmlp/.mim/``,
where the OpenMMLab toolkits keep theirs, so that an installed mmsmlp finds
its configs without the repository (``mmsmlp.get_config_path``) and openmim
finds its models and scripts (``mim search``, ``mim train``). Editable
installs read them from the checkout instead.
"""
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))


def read_text(path):
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


def read_requirements(name):
    """The requirements listed in ``requirements/<name>.txt``, with those
    of the files it includes (``-r other.txt``)."""
    lines = read_text(f'requirements/{name}.txt').splitlines()
    requirements = []
    for line in lines:
        requirement = line.split('#')[0].strip()
        if requirement.startswith('-r '):
            included = requirement[len('-r '):].strip()
            requirements += read_requirements(osp.splitext(included)[0])
        elif requirement:
            requirements.append(requirement)
    return requirements


def read_version():
    namespace = {}
    exec(read_text('mmsmlp/version.py'), namespace)
    return namespace['__version__']


class BuildPyWithMim(build_py):
    """Copy ``configs/``, ``tools/`` and ``model-index.yml`` into the built
    package as ``mmsmlp/.mim/``."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim = osp.join(self.build_lib, 'mmsmlp', '.mim')
        # A build directory left from an earlier build may hold configs
        # that have since been deleted.
        shutil.rmtree(mim, ignore_errors=True)
        for folder in ('configs', 'tools'):
            shutil.copytree(
                osp.join(ROOT, folder),
                osp.join(mim, folder),
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        shutil.copy(osp.join(ROOT, 'model-index.yml'), mim)


extras = {
    name: read_requirements(name)
    for name in ('cls', 'det', 'seg', 'deploy', 'tests')
}
extras['all'] = sorted(set(extras['cls'] + extras['det'] + extras['seg']))

setup(
    name='mmsmlp',
    version=read_version(),
    description='sMLPNet (Sparse MLP, AAAI 2022) as an OpenMMLab backbone',
    long_description=read_text('README.md'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmsmlp', 'mmsmlp.*']),
    cmdclass={'build_py': BuildPyWithMim},
    python_requires='>=3.9',
    install_requires=read_requirements('runtime'),
    extras_require=extras,
    license='Apache-2.0',
)
