# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The benchmark's results: one row per model variant and mode, the
Markdown table, and the settings header."""
import contextlib
import datetime
import os
import platform
from typing import Dict, List, Optional

import torch

from mmsmlp.analysis.timing import quartiles
from .steps import short_name, variant_label


def result_rows(entries,
                shape,
                mode,
                batch_size,
                baseline,
                matmul_rate=None) -> List[dict]:
    rows = []
    # The baseline model's fp32 variant (else its first), and the baseline
    # model in each variant: eager against eager, compiled against compiled.
    base_name = baseline or entries[0].name
    candidates = [e for e in entries if e.name == base_name]
    base = next((e for e in candidates if e.variant == 'fp32'),
                candidates[0] if candidates else entries[0])
    base_median = quartiles(base.times[mode])[1]
    base_peak = base.peak_bytes.get(mode)
    same_variant_base = {
        e.variant: quartiles(e.times[mode])[1]
        for e in candidates
    }
    # A training step is counted as forward + backward = 3x the forward.
    passes = 1 if mode == 'inference' else 3
    for entry in entries:
        q1, median, q3 = quartiles(entry.times[mode])
        peak = entry.peak_bytes.get(mode)
        flops = (
            entry.flops_per_image * batch_size *
            passes if entry.flops_per_image is not None else None)
        tflops = flops / median / 1e12 if flops is not None else None
        base_variant = same_variant_base.get(entry.variant)
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
                speed_vs_baseline_same_variant=(base_variant / median
                                                if base_variant else None),
                flops_per_step=flops,
                flops_counted='forward' if passes == 1 else '3x forward',
                tflops_per_s=tflops,
                matmul_tflops_per_s=matmul_rate,
                fraction_of_matmul=(tflops / matmul_rate
                                    if tflops and matmul_rate else None),
                first_call_s=entry.first_call_s[mode],
                peak_bytes=peak,
                memory_vs_baseline=(peak /
                                    base_peak if peak and base_peak else None),
                output_reference=entry.reference
                if mode == 'inference' else None,
                max_rel_diff=entry.output_diff
                if mode == 'inference' else None))
    return rows


def short_label(text: str) -> str:
    """A label for tables: configs by their file name, variant kept."""
    name, _, variant = text.partition(' [')
    return short_name(name) + (f' [{variant}' if variant else '')


def format_rows(rows: List[dict]) -> str:
    baseline = short_label(rows[0]['baseline'])
    several_variants = len({r['variant'] for r in rows}) > 1
    base_name = short_name(rows[0]['baseline'].partition(' [')[0])
    extra = ([f'vs {base_name}, same variant'] if several_variants else []) + [
        'TFLOP/s'
    ] + (['% of bf16 matmul'] if rows[0]['matmul_tflops_per_s'] else [])
    lines = [
        f'| model | ms/step (median) | IQR ms | images/s | speed vs '
        f'{baseline} | ' + ''.join(f'{column} | ' for column in extra) +
        f'peak MiB | memory vs {baseline} | first call s | '
        'max rel. diff (vs) |', '|---' * (9 + len(extra)) + '|'
    ]
    for r in rows:
        cells = []
        if several_variants:
            same = r['speed_vs_baseline_same_variant']
            cells.append(f'{same:.2f}x' if same else '-')
        cells.append(f'{r["tflops_per_s"]:.3g}'
                     if r['tflops_per_s'] is not None else '-')
        if r['matmul_tflops_per_s']:
            fraction = r['fraction_of_matmul']
            cells.append(f'{100 * fraction:.0f}%' if fraction else '-')
        name = short_label(variant_label(r['model'], r['variant']))
        peak = (f'{r["peak_bytes"] / 2**20:.0f}'
                if r['peak_bytes'] is not None else '-')
        mem_ratio = (f'{r["memory_vs_baseline"]:.2f}x'
                     if r['memory_vs_baseline'] else '-')
        diff = (f'{r["max_rel_diff"]:.1e} '
                f'({short_label(r["output_reference"])})'
                if r['max_rel_diff'] is not None else '-')
        lines.append(
            f'| {name} | {r["median_s"] * 1e3:.1f} | {r["iqr_s"] * 1e3:.1f} '
            f'| {r["images_per_s"]:.2f} | {r["speed_vs_baseline"]:.2f}x | ' +
            ''.join(f'{cell} | ' for cell in cells) +
            f'{peak} | {mem_ratio} | {r["first_call_s"]:.1f} | {diff} |')
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
            f'allocator: {allocator_description(args)}')


def cpu_model() -> str:
    with contextlib.suppress(OSError), open('/proc/cpuinfo') as cpuinfo:
        for line in cpuinfo:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def allocator_description(args) -> str:
    """The memory allocator and its settings, for the header and the JSON
    settings alike: on the CPU what :func:`mmsmlp.utils.tune_malloc`
    applied or found at start-up (``args.allocator``); on a GPU torch's
    caching allocator, and that for the host's memory."""
    if args.device.type != 'cuda':
        return args.allocator
    conf = (
        os.environ.get('PYTORCH_CUDA_ALLOC_CONF')
        or os.environ.get('PYTORCH_ALLOC_CONF'))
    return (f'torch CUDA caching allocator '
            f'({torch.cuda.get_allocator_backend()}), ' +
            (f'PYTORCH_CUDA_ALLOC_CONF={conf}' if conf else 'defaults') +
            f'; host: {args.allocator}')


def settings(args, matmul_rate: Optional[float]) -> Dict[str, object]:
    """What the results depend on besides the models: printed as the
    header and written to the JSON file."""
    info = dict(device=str(args.device), torch=torch.__version__)
    if args.device.type == 'cuda':
        info.update(
            gpu=torch.cuda.get_device_name(args.device),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=torch.get_float32_matmul_precision() != 'highest',
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            cudnn_benchmark=torch.backends.cudnn.benchmark)
    else:
        info.update(cpu=cpu_model(), threads=torch.get_num_threads())
    uses_amp = any(v.startswith('amp') for v in args.variants)
    info.update(
        allocator=allocator_description(args),
        python=platform.python_version(),
        variants=', '.join(args.variants),
        amp_dtype=args.amp_dtype if uses_amp else None,
        compile=(('torch.compile, default mode' +
                  (', frozen weights' if args.freeze else '')) if any(
                      v.endswith('compiled')
                      for v in args.variants) else 'eager only'),
        batch_size=args.batch_size,
        memory_format=('channels_last'
                       if args.channels_last else 'contiguous (NCHW)'),
        optimizer=('AdamW, lr 1e-4, weight decay 0.05, torch defaults '
                   'otherwise' if 'train-step' in args.modes else None),
        flops='matmuls and convolutions counted by '
        'mmsmlp.analysis.count_flops; training steps 3x the forward pass',
        bf16_matmul_tflops=matmul_rate,
        bf16_matmul_size=args.matmul_size or None)
    return info
