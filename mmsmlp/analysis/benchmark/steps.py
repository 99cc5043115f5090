# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""What the benchmark runs: the variants of each model (:class:`Entry`),
one inference or training step, the output check against each variant's
reference, the timed rounds, FLOP counts and the profile."""
import contextlib
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from mmsmlp.analysis.flops import count_flops
from mmsmlp.analysis.timing import interleaved_times, seconds, synchronize
from mmsmlp.testing import OfficialSMLPNet, copy_weights_from_smlpnet
from .models import NAMED_MODELS, ShapeNotSupported, model_builder, model_call

MODES = ('inference', 'train', 'train-step')
VARIANTS = ('fp32', 'amp', 'compiled', 'amp-compiled')


def variant_label(name: str, variant: str) -> str:
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
    output_diff: Optional[float] = None  # max_rel_diff vs the reference

    @property
    def label(self) -> str:
        return variant_label(self.name, self.variant)

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


def max_rel_diff(outputs, reference) -> float:
    """max |a - b| / max |b| over all output tensors."""
    pairs = list(zip(tensors(outputs), tensors(reference)))
    diff = max((a.float() - b.float()).abs().max().item() for a, b in pairs)
    scale = max(b.float().abs().max().item() for _, b in pairs)
    return diff / scale


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
        variants = args.variants
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
        return variant_label(name, 'amp')
    return variant_label(name, 'fp32') if 'fp32' in variants else None


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
            entry.reference = variant_label(counterpart, entry.variant)


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
            entry.output_diff = max_rel_diff(outputs[entry.label],
                                             outputs[entry.reference])


def run_mode(args, entries: List[Entry], inputs, mode: str) -> None:
    """Time every entry in ``mode``: its first call (compilation included)
    unless an earlier mode made it, then the warm-up and the timed rounds
    of :func:`~.timing.interleaved_times`."""
    calls = {}
    for entry in entries:
        calls[entry.label] = (
            lambda entry=entry: step(entry, inputs, mode, args.autocast_dtype))
        if mode not in entry.first_call_s:  # compiles in this mode
            entry.first_call_s[mode] = seconds(calls[entry.label],
                                               inputs.device)
    times = interleaved_times(calls, args.repeats, args.warmup, inputs.device)
    for entry in entries:
        entry.times[mode] = times[entry.label]


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
