# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The official code itself (microsoft/SPACH ``models/smlp.py``) beside the
project's official-style re-implementation (the speed benchmarks' baseline,
:mod:`mmsmlp.testing.official_smlpnet`) and mmsmlp's ``SMLPNet``, on the
same weights: their logits, their step times and, operator by operator,
where each spends its time.

SPACH's file is imported from where the user keeps it (it needs timm and
einops); its ``sMLPNet`` loads the official-style model's state dict with
``strict=True``, so the two layouts agree key for key. All three compute
logits: SPACH's own forward; the official-style model's
:meth:`~mmsmlp.testing.OfficialSMLPNet.classify`; ``SMLPNet``'s last stage
pooled and passed through the same ``mlp_head``.
"""
import importlib.util
import os.path as osp
import statistics
from functools import partial
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile

from mmsmlp.testing import OfficialSMLPNet, official_from_smlpnet
from .benchmark.steps import max_rel_diff
from .timing import interleaved_times

OpTimes = Dict[str, Tuple[int, float]]  # operator -> (calls, self ms)


def load_spach_smlpnet(path: str) -> type:
    """The ``sMLPNet`` class of SPACH's ``models/smlp.py`` at ``path``."""
    spec = importlib.util.spec_from_file_location('spach_smlp', path)
    if not osp.isfile(path) or spec is None:
        raise FileNotFoundError(f'Not a Python file: {path!r}; pass the path '
                                f'of models/smlp.py in a SPACH checkout.')
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f'{path} imports {error.name!r}, which is not installed; SPACH '
            f'needs timm and einops: pip install timm einops') from error
    if not hasattr(module, 'sMLPNet'):
        raise AttributeError(f'{path} defines no sMLPNet class: is it '
                             f'SPACH\'s models/smlp.py?')
    return module.sMLPNet


def spach_from_official(spach_class: type,
                        official: OfficialSMLPNet) -> nn.Module:
    """SPACH's ``sMLPNet`` of the official-style model's variant, holding its
    weights (loaded strictly)."""
    first_norm = official.channel_mix[0][1]
    fc1 = official.channel_mix[0][2].net[0]
    model = spach_class(
        dim=first_norm.normalized_shape[0],
        alpha=fc1.out_features // fc1.in_features,
        num_classes=official.mlp_head[0].out_features,
        image_size=official.image_size,
        depths=list(official.depths))
    model.load_state_dict(official.state_dict(), strict=True)
    return model.eval()


def logit_functions(backbone: nn.Module,
                    spach_class: type) -> Dict[str, Callable]:
    """Logits of SPACH's model, the official-style model and ``backbone``
    (an ``SMLPNet`` at its square ``img_size``) on the same weights."""
    official = official_from_smlpnet(backbone).eval()
    spach = spach_from_official(spach_class, official)
    backbone.eval()

    def ours(x):
        return official.mlp_head(backbone(x)[-1].mean(dim=(2, 3)))

    return {
        'SPACH sMLPNet': spach,
        'official-style': official.classify,
        'mmsmlp SMLPNet': ours
    }


def max_rel_diffs(functions: Dict[str, Callable],
                  inputs: torch.Tensor) -> Dict[str, float]:
    """Each function's :func:`~mmsmlp.analysis.benchmark.steps.max_rel_diff`
    against the first one's."""
    with torch.no_grad():
        outputs = {name: fn(inputs) for name, fn in functions.items()}
    reference = next(iter(outputs.values()))
    return {
        name: max_rel_diff(out, reference)
        for name, out in outputs.items()
    }


def interleaved_medians(functions: Dict[str, Callable], inputs: torch.Tensor,
                        repeats: int) -> Dict[str, float]:
    """Median seconds per call of each function on ``inputs``, timed in
    turns after one warm-up call each
    (:func:`~mmsmlp.analysis.timing.interleaved_times`)."""
    calls = {name: partial(fn, inputs) for name, fn in functions.items()}
    with torch.no_grad():
        times = interleaved_times(
            calls, repeats, warmup=1, device=inputs.device)
    return {name: statistics.median(t) for name, t in times.items()}


def op_times(fn: Callable, inputs: torch.Tensor) -> OpTimes:
    """Calls and self time (ms) of every operator in one profiled call."""
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(inputs)
    return {
        event.key: (event.count, event.self_cpu_time_total / 1e3)
        for event in prof.key_averages()
    }


def op_table(profiles: Dict[str, OpTimes], min_share: float = 0.01) -> str:
    """A Markdown table of the operators taking at least ``min_share`` of
    some model's self time: calls and ms per model, then each total."""
    totals = {
        name: sum(ms for _, ms in ops.values())
        for name, ops in profiles.items()
    }
    shown = sorted(
        {
            op
            for name, ops in profiles.items()
            for op, (_, ms) in ops.items() if ms >= min_share * totals[name]
        },
        key=lambda op: -max(
            ops.get(op, (0, 0.))[1] for ops in profiles.values()))
    lines = [
        '| operator | ' + ' | '.join(f'{name} calls | {name} ms'
                                     for name in profiles) + ' |',
        '|---|' + '---|---|' * len(profiles)
    ]
    for op in shown:
        cells = [profiles[name].get(op, (0, 0.)) for name in profiles]
        lines.append(f'| {op} | ' + ' | '.join(f'{calls} | {ms:.1f}'
                                               for calls, ms in cells) + ' |')
    lines.append('| all operators | ' + ' | '.join(
        f'{sum(c for c, _ in profiles[name].values())} | {totals[name]:.1f}'
        for name in profiles) + ' |')
    return '\n'.join(lines)


def compare(backbone: nn.Module, spach_class: type, inputs: torch.Tensor,
            repeats: int) -> List[str]:
    """The report's sections: output agreement, step times, operators."""
    functions = logit_functions(backbone, spach_class)
    diffs = max_rel_diffs(functions, inputs)
    medians = interleaved_medians(functions, inputs, repeats)
    baseline = medians['SPACH sMLPNet']
    times = [
        '| model | ms (median) | speed vs SPACH | max rel. diff of '
        'logits vs SPACH |', '|---|---|---|---|'
    ]
    times += [
        f'| {name} | {seconds * 1e3:.1f} | {baseline / seconds:.2f}x | '
        f'{diffs[name]:.1e} |' for name, seconds in medians.items()
    ]
    profiles = {name: op_times(fn, inputs) for name, fn in functions.items()}
    return ['\n'.join(times), op_table(profiles)]
