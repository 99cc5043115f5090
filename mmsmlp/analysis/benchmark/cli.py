# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The benchmark's command line (``tools/analysis_tools/benchmark.py``)."""
import argparse
import json
import sys
from typing import Tuple

import torch

from mmsmlp.analysis.timing import matmul_tflops
from mmsmlp.utils import tune_malloc
from .memory import measure_memory
from .models import NAMED_MODELS, model_builder
from .report import environment, format_rows, result_rows, settings
from .steps import (MODES, VARIANTS, build_entries, check_outputs,
                    count_forward_flops, print_profile, run_mode)


def parse_shape(text: str) -> Tuple[int, int]:
    parts = text.lower().split('x')
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f'input size {text!r}: write H or HxW, e.g. 224 or 800x1333')
    return (int(parts[0]), int(parts[-1]))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Throughput and peak memory of backbones',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='named models: ' + ', '.join(NAMED_MODELS))
    parser.add_argument(
        'models',
        nargs='+',
        metavar='MODEL',
        help='named backbones and/or config files')
    parser.add_argument(
        '--shapes',
        type=parse_shape,
        nargs='+',
        default=[(224, 224)],
        help='input sizes, H or HxW (default: 224)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=MODES,
        default=['inference'],
        help='inference, train (forward + backward) and/or train-step '
        '(forward + backward + AdamW update)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=1,
        help='untimed steps per model after the first call')
    parser.add_argument(
        '--repeats', type=int, default=5, help='timed steps per model')
    parser.add_argument(
        '--baseline', help='model the ratios refer to '
        '(default: the first)')
    parser.add_argument(
        '--memory',
        action='store_true',
        help='measure the peak memory of a step')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='add an autocast variant of every model')
    parser.add_argument(
        '--amp-dtype',
        choices=('bfloat16', 'float16'),
        help='autocast dtype (default: bfloat16 on CPU, '
        'float16 on GPU)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='add a torch.compile variant of every model')
    parser.add_argument(
        '--freeze',
        action='store_true',
        help='compiled variants: inductor treats the weights as constants '
        '(torch._inductor.config.freezing), folding BatchNorm into '
        'convolutions and prepacking weights for oneDNN on the CPU; '
        'inference only')
    parser.add_argument(
        '--variants',
        nargs='+',
        choices=VARIANTS,
        help='the variants of every model to run, instead of --amp / '
        '--compile (amp-compiled: the compiled model under autocast)')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='models and inputs in the channels-last memory format')
    parser.add_argument(
        '--tf32',
        action='store_true',
        help='allow TF32 in fp32 matmuls and convolutions on GPU (default: '
        "torch's, stated in the header)")
    parser.add_argument(
        '--cudnn-benchmark',
        action='store_true',
        help='let cuDNN pick the fastest convolution algorithms')
    parser.add_argument(
        '--matmul-size',
        type=int,
        help='measure a bf16 N x N matrix multiply as the reference rate '
        '(default: 8192 on GPU, none on CPU; 0 for none)')
    parser.add_argument(
        '--whole-model',
        action='store_true',
        help="time configs' whole mode='tensor' forward "
        '(inference only) instead of their backbone')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument(
        '--profile',
        type=int,
        metavar='N',
        help='after timing, profile one step of every model with '
        'torch.profiler and print its N most expensive operators')
    parser.add_argument('--json', help='also write the results to this file')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error('--batch-size and --repeats must be >= 1, --warmup >= 0')
    if args.whole_model and set(args.modes) - {'inference'}:
        parser.error('--whole-model times inference only: a training step '
                     'of a detector or segmentor needs annotated data; use '
                     'tools/train.py for that.')
    if args.variants and (args.amp or args.compile):
        parser.error('--variants names every variant; leave out --amp and '
                     '--compile (e.g. --variants fp32 amp compiled).')
    if args.variants is None:
        args.variants = ['fp32'] + ['amp'] * args.amp + ['compiled'] * (
            args.compile)
    args.variants = list(dict.fromkeys(args.variants))
    if args.freeze and not any(v.endswith('compiled') for v in args.variants):
        parser.error('--freeze applies to compiled variants: add --compile '
                     '(or --variants ... compiled).')
    if args.freeze and set(args.modes) - {'inference'}:
        parser.error('--freeze makes the weights constants, which a training '
                     'step cannot update: use it with --modes inference.')
    if args.matmul_size is not None and args.matmul_size < 0:
        parser.error('--matmul-size must be >= 0')
    for name in args.models:
        try:
            model_builder(name, args.whole_model)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
    args.device = torch.device(args.device)
    if args.amp_dtype is None:
        args.amp_dtype = ('bfloat16'
                          if args.device.type == 'cpu' else 'float16')
    args.autocast_dtype = getattr(torch, args.amp_dtype)
    if args.matmul_size is None:
        args.matmul_size = 8192 if args.device.type == 'cuda' else 0
    return args


def make_inputs(args, shape) -> torch.Tensor:
    inputs = torch.randn(args.batch_size, 3, *shape, device=args.device)
    if args.channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def apply_runtime_settings(args) -> None:
    """Threads, TF32, cuDNN autotuning and inductor's weight freezing, as
    the arguments ask; what glibc's allocator does is in ``args.allocator``
    (:func:`mmsmlp.utils.tune_malloc`, called before the arguments are
    read)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tf32:
        torch.set_float32_matmul_precision('high')
        torch.backends.cudnn.allow_tf32 = True
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if args.freeze:
        from torch._inductor import config as inductor_config
        inductor_config.freezing = True


def main(argv=None):
    malloc_setting = tune_malloc()
    args = parse_args(argv)
    args.allocator = malloc_setting
    apply_runtime_settings(args)
    matmul_rate = (
        matmul_tflops(args.matmul_size, args.device)
        if args.matmul_size else None)
    run_settings = settings(args, matmul_rate)
    print(environment(args))
    for key, value in run_settings.items():
        print(f'  {key}: {value:.4g}' if isinstance(value, float
                                                    ) else f'  {key}: {value}')
    results = []
    for shape in args.shapes:
        torch.manual_seed(args.seed)
        entries, notes = build_entries(args, shape)
        for note in notes:
            print(note)
        if not entries:
            continue
        inputs = make_inputs(args, shape)
        count_forward_flops(entries, inputs)
        if 'inference' in args.modes:
            check_outputs(entries, inputs, args.autocast_dtype)
        for mode in args.modes:
            run_mode(args, entries, inputs, mode)
            if args.memory:
                measure_memory(args, entries, inputs, mode, shape)
            rows = result_rows(entries, shape, mode, args.batch_size,
                               args.baseline, matmul_rate)
            results += rows
            print(f'\n{mode}, {shape[0]}x{shape[1]}, batch '
                  f'{args.batch_size}, {args.repeats} repeats:')
            print(format_rows(rows))
            if args.profile:
                print_profile(entries, inputs, mode, args.autocast_dtype,
                              args.profile)
    if args.json:
        with open(args.json, 'w') as file:
            json.dump(
                dict(
                    environment=environment(args),
                    settings=run_settings,
                    command=' '.join(sys.argv),
                    results=results),
                file,
                indent=1)
