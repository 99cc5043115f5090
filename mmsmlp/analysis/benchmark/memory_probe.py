# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""One CPU peak-memory measurement in a fresh process, started by
:func:`~.memory.cpu_peak_bytes`::

    python -m mmsmlp.analysis.benchmark.memory_probe VARIANT MODEL \\
        --shapes HxW --modes MODE [other benchmark arguments]

It prints ``{"peak_bytes": N}`` as its last line."""
import json
import sys

from mmsmlp.utils import tune_malloc
from .cli import apply_runtime_settings, make_inputs, parse_args
from .memory import cpu_peak_bytes_here
from .steps import VARIANTS, build_entries


def main(argv=None):
    malloc_setting = tune_malloc()
    variant, *benchmark_argv = sys.argv[1:] if argv is None else argv
    if variant not in VARIANTS:
        sys.exit(f'memory_probe: the first argument is the variant, one of '
                 f'{", ".join(VARIANTS)}; got {variant!r}')
    args = parse_args(benchmark_argv)
    args.allocator = malloc_setting
    args.variants = [variant]
    apply_runtime_settings(args)
    shape = args.shapes[0]
    entries, _ = build_entries(args, shape)
    peak = cpu_peak_bytes_here(entries[0], make_inputs(args, shape),
                               args.modes[0], args.autocast_dtype)
    print(json.dumps(dict(peak_bytes=peak)))


if __name__ == '__main__':
    main()
