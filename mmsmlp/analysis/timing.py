# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The one timing engine of mmsmlp's measurements (the benchmark
:mod:`~mmsmlp.analysis.benchmark`, :mod:`~mmsmlp.analysis.gemm_limit` and
:mod:`~mmsmlp.analysis.official_profile`): calls timed in turns, so that a
change in the machine's load hits every one of them alike, with the device
synchronised around each call."""
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

Call = Callable[[], object]


def synchronize(device: Optional[torch.device]) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device is not None and torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def seconds(call: Call, device: Optional[torch.device] = None) -> float:
    """Wall time of one call, its queued device work included."""
    synchronize(device)
    start = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - start


def interleaved_times(
        calls: Dict[str, Call],
        repeats: int,
        warmup: int = 0,
        device: Optional[torch.device] = None) -> Dict[str, List[float]]:
    """Seconds of ``repeats`` calls of each of ``calls``: after ``warmup``
    untimed calls each, one call of each per round, in turns."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(seconds(call, device))
    return times


def median_seconds(call: Call,
                   repeats: int,
                   warmup: int = 1,
                   device: Optional[torch.device] = None) -> float:
    """Median of :func:`interleaved_times` for one call."""
    times = interleaved_times(dict(call=call), repeats, warmup, device)
    return statistics.median(times['call'])


def quartiles(times: List[float]) -> Tuple[float, float, float]:
    """First quartile, median and third quartile of ``times``."""
    if len(times) == 1:
        return times[0], times[0], times[0]
    q1, median, q3 = statistics.quantiles(times, n=4, method='inclusive')
    return q1, median, q3


def matmul_tflops(size: int, device: torch.device, repeats: int = 10):
    """TFLOP/s of a bf16 ``size x size @ size x size`` matrix multiply: the
    mean of ``repeats`` products after three warm-ups."""
    a, b = (
        torch.randn(size, size, device=device, dtype=torch.bfloat16)
        for _ in range(2))
    times = interleaved_times(
        dict(mm=lambda: torch.mm(a, b)), repeats, warmup=3, device=device)
    return 2 * size**3 * repeats / sum(times['mm']) / 1e12
