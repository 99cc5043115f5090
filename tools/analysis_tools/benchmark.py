# Copyright (c) mmsmlp contributors. All rights reserved.
"""Throughput and peak memory of backbones (or whole models), inference and
training step, for several models and input sizes, in one process.

    python tools/analysis_tools/benchmark.py official-smlpnet-t smlpnet-t \\
        --shapes 224 --batch-size 32 --modes inference --repeats 10

MODEL is a named backbone (see ``--help``) or a config file, whose
``model.backbone`` is timed (its whole ``mode='tensor'`` forward with
``--whole-model``). For every input size and mode, each model warms up, then
the models run in turns, one timed step each per repeat, so that load changes
of the machine affect all of them alike; the table gives the median step time
and its inter-quartile range, images/s and the ratio to the first model
(``--baseline`` to pick another).

- inference: a forward pass in eval mode under ``torch.no_grad()``;
- train: a forward pass in train mode and the backward pass of the sum of the
  outputs' means (the optimizer update is left out: it depends on the
  optimizer, not the model); gradients are freed after each step.

``--amp`` adds an autocast variant of each model (bf16 on CPU, fp16 on GPU,
``--amp-dtype`` to choose) and ``--compile`` a ``torch.compile`` variant; in
inference their outputs are compared with the fp32 eager model's, as is the
official-style sMLPNet's (``official-smlpnet-*``, built from
``mmsmlp/testing/official_smlpnet.py``) with the weights of the ``smlpnet-*``
model in the same run.

At start-up the script tunes glibc's allocator as the train and test tools do
(``mmsmlp.utils.tune_malloc``; ``MMSMLP_TUNE_MALLOC=0`` or any ``MALLOC_*_``
variable leaves it alone); the header line says which setting is active.

``--profile N`` then profiles one more step of every model with
``torch.profiler`` and prints its N operators with the most self time.

Peak memory (``--memory``) is the memory a step needs on top of the model and
its input. On GPU: ``torch.cuda.max_memory_allocated`` minus the allocation
before the step. On CPU: each measurement runs in a fresh process, with
glibc told to map every block of 64 KiB or more separately
(``MALLOC_MMAP_THRESHOLD_``) so that freed tensors leave the resident set;
after a warm-up step the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs``) and the peak RSS of the next step minus the RSS
before it is reported.
"""
import argparse
import contextlib
import datetime
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config

from mmsmlp.apis import build_model, tensor_forward
from mmsmlp.testing import OfficialSMLPNet, copy_weights_from_smlpnet
from mmsmlp.utils import tune_malloc

MODES = ('inference', 'train')
SMLPNET_ARCHS = dict(t='tiny', s='small', b='base')


class ShapeNotSupported(ValueError):
    """The model cannot run at this input size."""


# --------------------------------------------------------------- the models
def smlpnet(arch: str, **kwargs) -> Callable[[Tuple[int, int]], nn.Module]:

    def build(shape):
        from mmsmlp.models import SMLPNet
        return SMLPNet(arch, img_size=224, **kwargs)

    return build


def official_smlpnet(arch: str) -> Callable[[Tuple[int, int]], nn.Module]:

    def build(shape):
        from mmsmlp.models import SMLPNet
        if shape[0] != shape[1]:
            raise ShapeNotSupported('the official code is square-only')
        variant = SMLPNet.arch_zoo[arch]
        return OfficialSMLPNet(
            variant['embed_dims'],
            variant['depths'],
            variant['alpha'],
            image_size=shape[0])

    return build


def swin_t(shape):
    # mmdet's Swin (Mask R-CNN Swin-T configs), which pads any input size.
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(
        embed_dims=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=7,
        out_indices=(0, 1, 2, 3))


def resnet50(shape):
    from mmdet.models.backbones import ResNet
    return ResNet(depth=50, out_indices=(0, 1, 2, 3))


def convnext_t(shape):
    from mmpretrain.models.backbones import ConvNeXt
    return ConvNeXt(
        arch='tiny', out_indices=(0, 1, 2, 3), gap_before_final_norm=False)


# Backbones with all four stage outputs, drop path off (it does not change
# inference and barely the cost of training). sMLPNet: smlpnet-{t,s,b}
# ('resize' mixing), with -window ('window' mixing) and/or -cp (with_cp:
# activation checkpointing), all with img_size 224.
NAMED_MODELS = {
    **{
        f'smlpnet-{v}{window}{cp}': smlpnet(
            arch,
            mixing_mode='window' if window else 'resize',
            with_cp=bool(cp))
        for v, arch in SMLPNET_ARCHS.items() for window in ('', '-window')
        for cp in ('', '-cp')
    },
    **{
        f'official-smlpnet-{v}': official_smlpnet(arch)
        for v, arch in SMLPNET_ARCHS.items()
    },
    'swin-t': swin_t,
    'resnet-50': resnet50,
    'convnext-t': convnext_t,
}


def config_model(path: str,
                 whole_model: bool) -> Callable[[Tuple[int, int]], nn.Module]:
    """A builder of a config's backbone, or of its whole model."""

    def build(shape):
        model = build_model(Config.fromfile(path))
        return model if whole_model else model.backbone

    return build


def model_builder(name: str, whole_model: bool):
    if name in NAMED_MODELS:
        return NAMED_MODELS[name]
    if name.endswith('.py'):
        if not osp.isfile(name):
            raise FileNotFoundError(f'Config file not found: {name!r}.')
        return config_model(name, whole_model)
    raise ValueError(f'Unknown model {name!r}: pass a config file (.py) or '
                     f'one of {", ".join(NAMED_MODELS)}.')


# ------------------------------------------------------------- measurement
@dataclass
class Entry:
    """One model variant of the benchmark."""
    name: str  # the MODEL argument
    variant: str  # 'fp32', 'amp' or 'compiled'
    model: nn.Module  # what is called (a compiled wrapper for 'compiled')
    module: nn.Module  # the underlying module
    call: Callable[[nn.Module, torch.Tensor], object]
    reference: Optional[str] = None  # label whose outputs this one matches
    times: Dict[str, List[float]] = field(default_factory=dict)
    first_call_s: Dict[str, float] = field(default_factory=dict)
    peak_bytes: Dict[str, Optional[int]] = field(default_factory=dict)
    max_rel_diff: Optional[float] = None

    @property
    def label(self) -> str:
        return self.name if self.variant == 'fp32' else (
            f'{self.name} [{self.variant}]')


def short_name(name: str) -> str:
    """A model's name for tables: a config by its file name."""
    return osp.splitext(osp.basename(name))[0]


def tensors(outputs) -> List[torch.Tensor]:
    """The tensors of a (nested) model output, in order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = outputs.values()
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in tensors(item)]
    return []


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def step(entry: Entry, inputs: torch.Tensor, mode: str, amp_dtype):
    """One inference or training step; returns the outputs (inference)."""
    autocast = (
        torch.autocast(inputs.device.type, dtype=amp_dtype)
        if entry.variant == 'amp' else contextlib.nullcontext())
    entry.module.train(mode == 'train')
    if mode == 'inference':
        with torch.no_grad(), autocast:
            return entry.call(entry.model, inputs)
    with autocast:
        loss = sum(t.float().mean()
                   for t in tensors(entry.call(entry.model, inputs)))
    loss.backward()
    entry.module.zero_grad(set_to_none=True)


def timed_step(entry, inputs, mode, amp_dtype) -> float:
    synchronize(inputs.device)
    start = time.perf_counter()
    step(entry, inputs, mode, amp_dtype)
    synchronize(inputs.device)
    return time.perf_counter() - start


def max_rel_diff(outputs, reference) -> float:
    """max |a - b| / max |b| over all output tensors."""
    pairs = list(zip(tensors(outputs), tensors(reference)))
    diff = max((a.float() - b.float()).abs().max().item() for a, b in pairs)
    scale = max(b.float().abs().max().item() for _, b in pairs)
    return diff / scale


def cuda_peak_bytes(entry, inputs, mode, amp_dtype) -> int:
    step(entry, inputs, mode, amp_dtype)  # warm-up (and compilation)
    synchronize(inputs.device)
    torch.cuda.reset_peak_memory_stats(inputs.device)
    before = torch.cuda.memory_allocated(inputs.device)
    step(entry, inputs, mode, amp_dtype)
    synchronize(inputs.device)
    return torch.cuda.max_memory_allocated(inputs.device) - before


def _status_kib(field_name: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field_name + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field_name}.')


def cpu_peak_bytes_here(entry, inputs, mode, amp_dtype) -> int:
    """Peak RSS growth of one step (run in a fresh process; see the module
    docstring)."""
    step(entry, inputs, mode, amp_dtype)  # warm-up (and compilation)
    before = _status_kib('VmRSS')
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')  # reset VmHWM to the current RSS
    step(entry, inputs, mode, amp_dtype)
    return (_status_kib('VmHWM') - before) * 1024


def cpu_peak_bytes(args, name: str, variant: str, shape, mode: str) -> int:
    """Measure one step's peak memory in a fresh process of this script."""
    command = [
        sys.executable,
        osp.abspath(__file__), name, '--shapes', f'{shape[0]}x{shape[1]}',
        '--batch-size',
        str(args.batch_size), '--modes', mode, '--amp-dtype', args.amp_dtype,
        '--probe-memory', variant
    ] + (['--whole-model'] if args.whole_model else
         []) + (['--threads', str(args.threads)] if args.threads else [])
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'Memory probe {" ".join(command)} failed:\n'
                           f'{result.stderr[-3000:]}')
    return json.loads(result.stdout.strip().splitlines()[-1])['peak_bytes']


# ------------------------------------------------------------------ runs
def model_call(name: str, whole_model: bool, model: nn.Module):
    """How to call the model: a backbone on images, or a whole model's
    ``mode='tensor'`` forward."""
    if whole_model and name.endswith('.py'):
        scope = Config.fromfile(name).default_scope
        return lambda module, inputs: tensor_forward(module, scope, inputs)()
    return lambda module, inputs: module(inputs)


def build_entries(args, shape) -> Tuple[List[Entry], List[str]]:
    """Every model variant that runs at ``shape``, and notes on the ones
    that do not."""
    entries, notes = [], []
    for name in args.models:
        try:
            module = model_builder(name,
                                   args.whole_model)(shape).to(args.device)
        except ShapeNotSupported as error:
            notes.append(f'{name} skipped at {shape[0]}x{shape[1]}: {error}')
            continue
        call = model_call(name, args.whole_model, module)
        variants = ['fp32'] + ['amp'] * args.amp + ['compiled'] * (
            args.compile)
        if args.probe_memory:
            variants = [args.probe_memory]
        for variant in variants:
            model = torch.compile(module) if variant == 'compiled' else module
            entries.append(
                Entry(
                    name,
                    variant,
                    model,
                    module,
                    call,
                    reference=name if variant != 'fp32' else None))
    tie_official_models(entries, shape)
    return entries, notes


def tie_official_models(entries: List[Entry], shape) -> None:
    """Give each official-style model the weights of its ``smlpnet-*``
    counterpart where that runs at its reference size, for the output
    check."""
    ours = {e.name: e.module for e in entries if e.variant == 'fp32'}
    for entry in entries:
        if not isinstance(entry.module, OfficialSMLPNet):
            continue
        counterpart = entry.name[len('official-'):]
        backbone = ours.get(counterpart)
        if backbone is not None and tuple(backbone.img_size) == shape:
            copy_weights_from_smlpnet(backbone, entry.module)
            if entry.variant == 'fp32':
                entry.reference = counterpart


def check_outputs(entries: List[Entry], inputs, amp_dtype) -> None:
    """Compare each variant's inference outputs with its reference's (the
    first call, so it also times compilation)."""
    outputs = {}
    for entry in entries:
        start = time.perf_counter()
        outputs[entry.label] = step(entry, inputs, 'inference', amp_dtype)
        synchronize(inputs.device)
        entry.first_call_s['inference'] = time.perf_counter() - start
    for entry in entries:
        if entry.reference in outputs:
            entry.max_rel_diff = max_rel_diff(outputs[entry.label],
                                              outputs[entry.reference])


def run_mode(args, entries: List[Entry], inputs, mode: str) -> None:
    for entry in entries:
        if mode not in entry.first_call_s:  # compiles in this mode
            entry.first_call_s[mode] = timed_step(entry, inputs, mode,
                                                  args.autocast_dtype)
        for _ in range(args.warmup):
            timed_step(entry, inputs, mode, args.autocast_dtype)
        entry.times[mode] = []
    for _ in range(args.repeats):
        for entry in entries:  # in turns: load drifts hit every model
            entry.times[mode].append(
                timed_step(entry, inputs, mode, args.autocast_dtype))


def print_profile(entries: List[Entry], inputs, mode: str, amp_dtype,
                  rows: int) -> None:
    """The operators with the most self time in one step of each model."""
    from torch.profiler import ProfilerActivity, profile
    activities, sort_by = [ProfilerActivity.CPU], 'self_cpu_time_total'
    if inputs.device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
        sort_by = 'self_device_time_total'
    for entry in entries:
        with profile(activities=activities) as profiler:
            step(entry, inputs, mode, amp_dtype)
            synchronize(inputs.device)
        print(f'\n{entry.label}, {mode}: the {rows} operators with the most '
              f'self time in one step')
        print(profiler.key_averages().table(sort_by=sort_by, row_limit=rows))


def measure_memory(args, entries: List[Entry], inputs, mode, shape):
    for entry in entries:
        if args.device.type == 'cuda':
            peak = cuda_peak_bytes(entry, inputs, mode, args.autocast_dtype)
        else:
            peak = cpu_peak_bytes(args, entry.name, entry.variant, shape, mode)
        entry.peak_bytes[mode] = peak


# ---------------------------------------------------------------- output
def quartiles(times: List[float]) -> Tuple[float, float, float]:
    if len(times) == 1:
        return times[0], times[0], times[0]
    q1, median, q3 = statistics.quantiles(times, n=4, method='inclusive')
    return q1, median, q3


def result_rows(entries, shape, mode, batch_size, baseline) -> List[dict]:
    rows = []
    base = next(
        (e for e in entries if e.name == baseline and e.variant == 'fp32'),
        entries[0])
    base_median = quartiles(base.times[mode])[1]
    base_peak = base.peak_bytes.get(mode)
    for entry in entries:
        q1, median, q3 = quartiles(entry.times[mode])
        peak = entry.peak_bytes.get(mode)
        rows.append(
            dict(
                model=entry.name,
                variant=entry.variant,
                mode=mode,
                shape=list(shape),
                batch_size=batch_size,
                times_s=entry.times[mode],
                median_s=median,
                iqr_s=q3 - q1,
                images_per_s=batch_size / median,
                speed_vs_baseline=base_median / median,
                baseline=base.label,
                first_call_s=entry.first_call_s[mode],
                peak_bytes=peak,
                memory_vs_baseline=(peak /
                                    base_peak if peak and base_peak else None),
                output_reference=entry.reference
                if mode == 'inference' else None,
                max_rel_diff=entry.max_rel_diff
                if mode == 'inference' else None))
    return rows


def format_rows(rows: List[dict]) -> str:
    baseline = short_name(rows[0]['baseline'])
    lines = [
        f'| model | ms/step (median) | IQR ms | images/s | speed vs '
        f'{baseline} | peak MiB | memory vs {baseline} | first call s | '
        'max rel. diff (vs) |', '|---' * 9 + '|'
    ]
    for r in rows:
        label = short_name(r['model']) + ('' if r['variant'] == 'fp32' else
                                          f' [{r["variant"]}]')
        peak = (f'{r["peak_bytes"] / 2**20:.0f}'
                if r['peak_bytes'] is not None else '-')
        mem_ratio = (f'{r["memory_vs_baseline"]:.2f}x'
                     if r['memory_vs_baseline'] else '-')
        diff = (f'{r["max_rel_diff"]:.1e} '
                f'({short_name(r["output_reference"])})'
                if r['max_rel_diff'] is not None else '-')
        lines.append(
            f'| {label} | {r["median_s"] * 1e3:.1f} | {r["iqr_s"] * 1e3:.1f} '
            f'| {r["images_per_s"]:.2f} | {r["speed_vs_baseline"]:.2f}x '
            f'| {peak} | {mem_ratio} | {r["first_call_s"]:.1f} | {diff} |')
    return '\n'.join(lines)


def environment(args) -> str:
    if args.device.type == 'cuda':
        device = torch.cuda.get_device_name(args.device)
    else:
        device = cpu_model()
    load = (' load average ' + ' '.join(f'{x:.2f}' for x in os.getloadavg())
            if hasattr(os, 'getloadavg') else '')
    return (f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} '
            f'UTC, {device}, {torch.get_num_threads()} threads, torch '
            f'{torch.__version__}, Python {platform.python_version()},{load}, '
            f'allocator: {args.allocator}')


def cpu_model() -> str:
    with contextlib.suppress(OSError), open('/proc/cpuinfo') as cpuinfo:
        for line in cpuinfo:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


# ------------------------------------------------------------------ main
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
        help='inference and/or train (forward + backward)')
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
    # Internal: measure one variant's peak memory in this fresh process.
    parser.add_argument(
        '--probe-memory',
        choices=('fp32', 'amp', 'compiled'),
        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error('--batch-size and --repeats must be >= 1, --warmup >= 0')
    if args.whole_model and 'train' in args.modes:
        parser.error('--whole-model times inference only: a training step '
                     'of a detector or segmentor needs annotated data; use '
                     'tools/train.py for that.')
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
    return args


def main(argv=None):
    allocator = tune_malloc()
    args = parse_args(argv)
    args.allocator = allocator
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe_memory:
        shape = args.shapes[0]
        entries, _ = build_entries(args, shape)
        inputs = torch.randn(args.batch_size, 3, *shape, device=args.device)
        peak = cpu_peak_bytes_here(entries[0], inputs, args.modes[0],
                                   args.autocast_dtype)
        print(json.dumps(dict(peak_bytes=peak)))
        return

    print(environment(args))
    results = []
    for shape in args.shapes:
        torch.manual_seed(args.seed)
        entries, notes = build_entries(args, shape)
        for note in notes:
            print(note)
        if not entries:
            continue
        inputs = torch.randn(args.batch_size, 3, *shape, device=args.device)
        if 'inference' in args.modes:
            check_outputs(entries, inputs, args.autocast_dtype)
        for mode in args.modes:
            run_mode(args, entries, inputs, mode)
            if args.memory:
                measure_memory(args, entries, inputs, mode, shape)
            rows = result_rows(entries, shape, mode, args.batch_size,
                               args.baseline)
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
                    command=' '.join(sys.argv),
                    results=results),
                file,
                indent=1)


if __name__ == '__main__':
    main()
