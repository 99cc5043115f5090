# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Throughput, peak memory and achieved TFLOP/s of backbones or whole models,
several models side by side in one process (see ``--help`` and
docs/benchmark.md)::

    python tools/analysis_tools/benchmark.py official-smlpnet-t smlpnet-t \\
        --shapes 224 --batch-size 32 --modes inference --repeats 10

The measurement code is :mod:`mmsmlp.analysis.benchmark`.
"""
from mmsmlp.analysis.benchmark import main

if __name__ == '__main__':
    main()
