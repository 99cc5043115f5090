# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
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
  outputs' means; gradients are freed after each step;
- train-step: the same and an AdamW update (``torch.optim.AdamW`` with its
  defaults but lr 1e-4 and weight decay 0.05, one optimizer per model; with
  fp16 autocast a ``GradScaler`` scales the loss, as mmengine's
  ``AmpOptimWrapper`` does); a compiled model compiles the model, not the
  optimizer.

``--amp`` adds an autocast variant of each model (bf16 on CPU, fp16 on GPU,
``--amp-dtype`` to choose) and ``--compile`` a ``torch.compile`` variant;
``--variants`` picks the variants explicitly, among them ``amp-compiled``
(the compiled model under autocast). In inference their outputs are compared
with the fp32 eager model's (``amp-compiled`` with the ``amp`` variant's when
that runs), as is the official-style sMLPNet's (``official-smlpnet-*``, built
from ``mmsmlp/testing/official_smlpnet.py``) with the weights of the
``smlpnet-*`` model in the same run, and ``smlpnet-*-linear`` (the same
model with ``nn.Linear`` computing the channel MLP and fusion) with that
model's. ``--freeze`` lets inductor treat the weights of compiled variants as
constants (inference only). ``--channels-last`` converts models and inputs to
the channels-last memory format.

Each model's FLOPs are counted once per input size by the project's FLOP
counter, ``mmsmlp.analysis.count_flops`` (matrix multiplies and convolutions of
one image's forward pass, 2 FLOPs per multiply-add); a training step
(``train``, ``train-step``) is counted as 3x the forward pass (backward = 2x
forward), the optimizer update not at all. Achieved TFLOP/s are these FLOPs
over the median step time, shown next to the rate of a bf16 ``N x N @ N x N``
matrix multiply measured at the start of the run (``--matmul-size N``, 8192 on
GPU by default). A settings header states the device, torch, CUDA, cuDNN, TF32,
cuDNN autotuning, the allocator, the AMP dtype, batch size, memory format and
variants.

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

from mmsmlp.analysis import count_flops
from mmsmlp.apis import build_model, tensor_forward
from mmsmlp.testing import OfficialSMLPNet, copy_weights_from_smlpnet
from mmsmlp.utils import tune_malloc

MODES = ('inference', 'train', 'train-step')
VARIANTS = ('fp32', 'amp', 'compiled', 'amp-compiled')
SMLPNET_ARCHS = dict(t='tiny', s='small', b='base')


class ShapeNotSupported(ValueError):
    """The model cannot run at this input size."""


# --------------------------------------------------------------- the models
def smlpnet(arch: str,
            gemm_linear: bool = False,
            **kwargs) -> Callable[[Tuple[int, int]], nn.Module]:

    def build(shape):
        from mmsmlp.models import SMLPNet
        model = SMLPNet(arch, img_size=224, **kwargs)
        return as_blas_linear(model) if gemm_linear else model

    return build


def as_blas_linear(model: nn.Module) -> nn.Module:
    """``model`` with every ``PointwiseLinear`` replaced by an ``nn.Linear``
    holding the same parameters: the same function computed by the BLAS
    GEMM instead of a oneDNN 1x1 convolution, to compare the two
    formulations on one machine."""
    from mmsmlp.models.backbones.smlpnet_layers import PointwiseLinear
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, PointwiseLinear):
                linear = nn.Linear(
                    child.in_features,
                    child.out_features,
                    bias=child.bias is not None)
                linear.weight, linear.bias = child.weight, child.bias
                setattr(parent, name, linear)
    return model


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
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3))


def swin_t_mmpretrain(shape):
    # mmpretrain's Swin-T, the ImageNet classifier's backbone; maps smaller
    # than a window are padded (no effect at 224).
    from mmpretrain.models.backbones import SwinTransformer
    return SwinTransformer(
        arch='tiny',
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True)


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
# activation checkpointing), all with img_size 224; smlpnet-{t,s,b}-linear
# computes the channel MLP and fusion with nn.Linear (see as_blas_linear).
NAMED_MODELS = {
    **{
        f'smlpnet-{v}{window}{cp}':
        smlpnet(
            arch,
            mixing_mode='window' if window else 'resize',
            with_cp=bool(cp))
        for v, arch in SMLPNET_ARCHS.items()
        for window in ('', '-window')
        for cp in ('', '-cp')
    },
    **{
        f'smlpnet-{v}-linear': smlpnet(arch, gemm_linear=True)
        for v, arch in SMLPNET_ARCHS.items()
    },
    **{
        f'official-smlpnet-{v}': official_smlpnet(arch)
        for v, arch in SMLPNET_ARCHS.items()
    },
    'swin-t': swin_t,
    'swin-t-mmpretrain': swin_t_mmpretrain,
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
def label(name: str, variant: str) -> str:
    """How a model variant is named in tables and output references."""
    return name if variant == 'fp32' else f'{name} [{variant}]'


@dataclass
class Entry:
    """One model variant of the benchmark."""
    name: str  # the MODEL argument
    variant: str  # one of VARIANTS
    model: nn.Module  # what is called (a compiled wrapper when compiled)
    module: nn.Module  # the underlying module
    call: Callable[[nn.Module, torch.Tensor], object]
    reference: Optional[str] = None  # label whose outputs this one matches
    optimizer: Optional[torch.optim.Optimizer] = None  # for 'train-step'
    scaler: Optional['torch.amp.GradScaler'] = None  # fp16 'train-step'
    flops_per_image: Optional[int] = None  # forward pass, see count_flops
    times: Dict[str, List[float]] = field(default_factory=dict)
    first_call_s: Dict[str, float] = field(default_factory=dict)
    peak_bytes: Dict[str, Optional[int]] = field(default_factory=dict)
    max_rel_diff: Optional[float] = None

    @property
    def label(self) -> str:
        return label(self.name, self.variant)

    @property
    def uses_amp(self) -> bool:
        return self.variant in ('amp', 'amp-compiled')


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
        if entry.uses_amp else contextlib.nullcontext())
    entry.module.train(mode != 'inference')
    if mode == 'inference':
        with torch.no_grad(), autocast:
            return entry.call(entry.model, inputs)
    with autocast:
        loss = sum(t.float().mean()
                   for t in tensors(entry.call(entry.model, inputs)))
    if mode == 'train':
        loss.backward()
    elif entry.scaler is not None:
        entry.scaler.scale(loss).backward()
        entry.scaler.step(entry.optimizer)
        entry.scaler.update()
    else:
        loss.backward()
        entry.optimizer.step()
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
    """Measure one step's peak memory in a fresh process of this module."""
    command = [
        sys.executable, '-m', 'mmsmlp.analysis.benchmark', name, '--shapes',
        f'{shape[0]}x{shape[1]}', '--batch-size',
        str(args.batch_size), '--modes', mode, '--amp-dtype', args.amp_dtype,
        '--probe-memory', variant
    ] + (['--whole-model'] if args.whole_model else
         []) + (['--threads', str(args.threads)] if args.threads else
                []) + (['--channels-last'] if args.channels_last else [])
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
        if args.channels_last:
            module = module.to(memory_format=torch.channels_last)
        call = model_call(name, args.whole_model, module)
        variants = [args.probe_memory] if args.probe_memory else args.variants
        # One optimizer per model, shared by its variants (they share the
        # parameters).
        optimizer = (
            torch.optim.AdamW(module.parameters(), lr=1e-4, weight_decay=0.05)
            if 'train-step' in args.modes else None)
        for variant in variants:
            model = (
                torch.compile(module)
                if variant.endswith('compiled') else module)
            entries.append(
                Entry(
                    name,
                    variant,
                    model,
                    module,
                    call,
                    reference=output_reference(name, variant, variants),
                    optimizer=optimizer,
                    scaler=grad_scaler(args, variant)))
    tie_counterparts(entries, shape)
    return entries, notes


def output_reference(name: str, variant: str, variants: List[str]):
    """The label whose outputs a variant's are compared with: the fp32
    eager model's, for ``amp-compiled`` the ``amp`` variant's if it runs."""
    if variant == 'fp32':
        return None
    if variant == 'amp-compiled' and 'amp' in variants:
        return label(name, 'amp')
    return label(name, 'fp32') if 'fp32' in variants else None


def grad_scaler(args, variant: str):
    """fp16 training steps scale the loss, as mmengine's AmpOptimWrapper."""
    if ('train-step' in args.modes and variant in ('amp', 'amp-compiled')
            and args.autocast_dtype == torch.float16):
        return torch.amp.GradScaler(args.device.type)
    return None


def tie_counterparts(entries: List[Entry], shape) -> None:
    """Give each official-style model (where the ``smlpnet-*`` counterpart
    runs at its reference size) and each ``smlpnet-*-linear`` model the
    weights of its ``smlpnet-*`` counterpart, for the output check: its fp32
    variant (or, without one, each variant) is compared with the
    counterpart's."""
    ours = {e.name: e.module for e in entries}  # variants share the module
    for entry in entries:
        if isinstance(entry.module, OfficialSMLPNet):
            counterpart = entry.name[len('official-'):]
            backbone = ours.get(counterpart)
            if backbone is None or tuple(backbone.img_size) != shape:
                continue
            copy_weights_from_smlpnet(backbone, entry.module)
        elif entry.name.endswith('-linear') and entry.name in NAMED_MODELS:
            counterpart = entry.name[:-len('-linear')]
            backbone = ours.get(counterpart)
            if backbone is None:
                continue
            entry.module.load_state_dict(backbone.state_dict())
        else:
            continue
        if entry.reference is None:
            entry.reference = label(counterpart, entry.variant)


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


def count_forward_flops(entries: List[Entry], inputs: torch.Tensor) -> None:
    """FLOPs of one image's forward pass of every model (matrix multiplies
    and convolutions, as mmsmlp.analysis.count_flops counts them), shared by
    its variants."""
    image = inputs[:1]
    counted = {}
    for entry in entries:
        if entry.name not in counted:
            was_training = entry.module.training
            entry.module.eval()
            flop_counter, _ = count_flops(
                lambda: entry.call(entry.module, image))
            entry.module.train(was_training)
            counted[entry.name] = flop_counter.get_total_flops()
        entry.flops_per_image = counted[entry.name]


def matmul_tflops(size: int, device: torch.device, repeats: int = 10):
    """TFLOP/s of a bf16 ``size x size @ size x size`` matrix multiply: the
    mean of ``repeats`` products after three warm-ups."""
    a, b = (
        torch.randn(size, size, device=device, dtype=torch.bfloat16)
        for _ in range(2))
    for _ in range(3):
        torch.mm(a, b)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


# ---------------------------------------------------------------- output
def quartiles(times: List[float]) -> Tuple[float, float, float]:
    if len(times) == 1:
        return times[0], times[0], times[0]
    q1, median, q3 = statistics.quantiles(times, n=4, method='inclusive')
    return q1, median, q3


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
                max_rel_diff=entry.max_rel_diff
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
        name = short_label(label(r['model'], r['variant']))
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
            f'allocator: {allocator(args)}')


def cpu_model() -> str:
    with contextlib.suppress(OSError), open('/proc/cpuinfo') as cpuinfo:
        for line in cpuinfo:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def allocator(args) -> str:
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
        allocator=allocator(args),
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
    # Internal: measure one variant's peak memory in this fresh process.
    parser.add_argument(
        '--probe-memory', choices=VARIANTS, help=argparse.SUPPRESS)
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


def main(argv=None):
    allocator = tune_malloc()
    args = parse_args(argv)
    args.allocator = allocator
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
    if args.probe_memory:
        shape = args.shapes[0]
        entries, _ = build_entries(args, shape)
        peak = cpu_peak_bytes_here(entries[0], make_inputs(args, shape),
                                   args.modes[0], args.autocast_dtype)
        print(json.dumps(dict(peak_bytes=peak)))
        return

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


if __name__ == '__main__':
    main()
