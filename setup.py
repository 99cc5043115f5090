from setuptools import find_packages, setup

setup(
    name='mmsmlp',
    version='0.1.0',
    description='sMLPNet (Sparse MLP, AAAI 2022) as an OpenMMLab backbone',
    packages=find_packages(include=['mmsmlp', 'mmsmlp.*']),
    python_requires='>=3.8',
    install_requires=['torch>=1.13', 'mmengine>=0.10.0', 'mmcv>=2.0.0'],
    license='Apache-2.0',
)
