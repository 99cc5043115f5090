# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""How close a backbone comes to the best rate the machine's libraries reach
on the backbone's own matrix multiplies.

The GEMMs of a forward pass (1x1 convolutions, ``mm``, ``addmm``: the channel
MLP and the fusion of sMLPNet) are recorded with their shapes as they run.
Each shape ``M x K -> N`` is then timed alone, as a BLAS GEMM (``F.linear`` of
an ``M x K`` matrix, MKL in torch's CPU builds) and as a 1x1 convolution of
the same memory viewed as channels-last NCHW (oneDNN), in each dtype asked
for; the faster one is that shape's best rate. The limit for the model is
the rate at which its GEMM FLOPs would run if every GEMM ran at its shape's
best rate; the model's achieved rate is its counted FLOPs (all of them,
:func:`mmsmlp.analysis.count_flops`) over its median forward time.
"""
from collections import Counter
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from .flops import count_flops
from .timing import median_seconds

Shape = Tuple[int, int, int]  # M, K, N
LIBRARIES = ('blas', 'onednn')


class GemmRecorder(TorchDispatchMode):
    """Records ``(M, K, N)`` of every 1x1 convolution, ``mm`` and ``addmm``
    that runs, with its number of calls."""

    def __init__(self):
        super().__init__()
        self.shapes = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func.overloadpacket
        if packet is torch.ops.aten.convolution:
            x, weight = args[0], args[1]
            if weight.shape[2:] == (1, 1) and args[8] == 1:  # groups
                out_h, out_w = x.shape[2], x.shape[3]
                self.shapes[(x.shape[0] * out_h * out_w, weight.shape[1],
                             weight.shape[0])] += 1
        elif packet in (torch.ops.aten.mm, torch.ops.aten.addmm):
            a, b = args[-2], args[-1]
            self.shapes[(a.shape[0], a.shape[1], b.shape[1])] += 1
        return func(*args, **(kwargs or {}))


def record_gemms(run: Callable[[], object]) -> Counter:
    recorder = GemmRecorder()
    with torch.no_grad(), recorder:
        run()
    return recorder.shapes


def gemm_seconds(shape: Shape, library: str, dtype: torch.dtype,
                 repeats: int) -> float:
    """Median seconds of one ``M x K -> N`` GEMM through ``library``."""
    m, k, n = shape
    a = torch.randn(m, k).to(dtype)
    weight = (torch.randn(n, k) / k**0.5).to(dtype)
    if library == 'blas':
        run = lambda: F.linear(a, weight)  # noqa: E731
    else:
        # (M, K) viewed as a channels-last (1, K, M, 1) image.
        image = a.view(1, m, 1, k).permute(0, 3, 1, 2)
        kernel = weight[:, :, None, None]
        run = lambda: F.conv2d(image, kernel)  # noqa: E731
    with torch.no_grad():
        return median_seconds(run, repeats)


def gemm_limit(model: nn.Module,
               inputs: torch.Tensor,
               dtype: torch.dtype,
               repeats: int = 5) -> Dict[str, object]:
    """The model's achieved rate in ``dtype`` (autocast for bf16) against
    the best rate of its GEMM shapes; see the module's docstring. Returns
    the per-shape rates (``rows``), ``model_flops``, ``model_seconds``,
    ``achieved`` and ``limit`` (FLOP/s) and their ``ratio``."""
    autocast = torch.autocast(
        'cpu', dtype=dtype, enabled=dtype != torch.float32)

    def forward():
        with autocast:
            return model(inputs)

    shapes = record_gemms(forward)
    if not shapes:
        raise ValueError('the model ran no 1x1 convolution, mm or addmm.')
    rows, best_seconds, gemm_flops = [], 0., 0
    for shape, calls in sorted(shapes.items()):
        flops = 2 * shape[0] * shape[1] * shape[2]
        seconds = {
            library: gemm_seconds(shape, library, dtype, repeats)
            for library in LIBRARIES
        }
        rows.append(
            dict(
                shape=shape,
                calls=calls,
                **{
                    f'{library} GFLOP/s': flops / seconds[library] / 1e9
                    for library in LIBRARIES
                }))
        best_seconds += calls * min(seconds.values())
        gemm_flops += calls * flops
    counter, _ = count_flops(forward)
    model_flops = counter.get_total_flops()
    with torch.no_grad():
        model_seconds = median_seconds(forward, repeats)
    achieved = model_flops / model_seconds
    limit = gemm_flops / best_seconds
    return dict(
        rows=rows,
        model_flops=model_flops,
        model_seconds=model_seconds,
        achieved=achieved,
        limit=limit,
        ratio=achieved / limit)


def format_report(result: Dict[str, object], dtype: torch.dtype) -> str:
    lines = [
        f'GEMMs of the forward pass in {dtype}, each timed alone '
        '(median, GFLOP/s):',
        '| M x K -> N | calls | ' + ' | '.join(LIBRARIES) + ' |',
        '|---|---|' + '---|' * len(LIBRARIES)
    ]
    for row in result['rows']:
        m, k, n = row['shape']
        rates = ' | '.join(f'{row[f"{library} GFLOP/s"]:.0f}'
                           for library in LIBRARIES)
        lines.append(f'| {m} x {k} -> {n} | {row["calls"]} | {rates} |')
    lines += [
        f'model: {result["model_flops"] / 1e9:.1f} GFLOP in '
        f'{result["model_seconds"] * 1e3:.0f} ms = '
        f'{result["achieved"] / 1e9:.0f} GFLOP/s',
        f'limit (its GEMMs at their best measured rates): '
        f'{result["limit"] / 1e9:.0f} GFLOP/s',
        f'achieved / limit: {result["ratio"]:.2f}'
    ]
    return '\n'.join(lines)


def bf16_supported() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def supported_dtypes(names: List[str]) -> List[torch.dtype]:
    dtypes = [getattr(torch, name) for name in names]
    if torch.bfloat16 in dtypes and not bf16_supported():
        raise ValueError('this CPU has no native bf16 (AVX512-BF16 or AMX): '
                         'leave out --dtypes bfloat16.')
    return dtypes
