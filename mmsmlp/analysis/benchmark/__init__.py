# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Throughput, peak memory and achieved TFLOP/s of backbones or whole
models, several side by side in one process::

    python tools/analysis_tools/benchmark.py official-smlpnet-t smlpnet-t \\
        --shapes 224 --batch-size 32 --modes inference --repeats 10

What it measures and how: docs/benchmark.md ("Speed and memory"). By job:

- :mod:`.models`: the catalogue of named backbones and config files;
- :mod:`mmsmlp.analysis.timing`: the timing engine, shared with
  :mod:`~mmsmlp.analysis.gemm_limit` and
  :mod:`~mmsmlp.analysis.official_profile`;
- :mod:`.steps`: the variants of each model, one step, the output check,
  the timed rounds;
- :mod:`.memory` and :mod:`.memory_probe`: peak memory;
- :mod:`.report`: result rows, the table, the settings header;
- :mod:`.cli`: the command line.
"""
from .cli import main

__all__ = ['main']
