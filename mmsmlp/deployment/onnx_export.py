# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Export a backbone or an mmpretrain classifier to ONNX and check the graph
against PyTorch in onnxruntime.

The graph is traced at one input size. Its batch, height and width can be
left free: every decision the backbone takes on the input size (resampling
the sMLP weights to the token grid in ``resize`` mode, padding and shifting
windows in ``window`` mode, padding to whole patches) is a tensor operation
in the graph, so a graph with free height and width computes what the model
computes at any size of at least 32 pixels, above or below the traced one.
onnxruntime is imported only by :func:`verify_onnx`.
"""
from typing import List

import numpy as np
import torch
import torch.nn as nn


class ClassifierLogits(nn.Module):
    """An mmpretrain classifier as images -> logits."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(inputs, mode='tensor')


def export_onnx(module: nn.Module,
                inputs: torch.Tensor,
                out: str,
                dynamic_batch: bool = False,
                opset: int = 17,
                dynamic_size: bool = False) -> List[str]:
    """Trace ``module`` on ``inputs`` to the file ``out``, with a free batch
    axis (``dynamic_batch``) and free height and width (``dynamic_size``:
    of the input and of stage outputs; logits have none); returns the output
    names: ``logits`` for a single tensor, ``stage0``... for a tuple of
    stage outputs."""
    with torch.no_grad():
        outputs = module(inputs)
    output_names = (['logits'] if isinstance(outputs, torch.Tensor) else
                    [f'stage{i}' for i in range(len(outputs))])
    dynamic_axes = {}
    for name in ['inputs'] + output_names:
        axes = {0: 'batch'} if dynamic_batch else {}
        if dynamic_size and name != 'logits':
            axes.update({2: f'{name}_height', 3: f'{name}_width'})
        if axes:
            dynamic_axes[name] = axes
    # The TorchScript-based exporter: the dynamo one needs onnxscript.
    torch.onnx.export(
        module, (inputs, ),
        out,
        input_names=['inputs'],
        output_names=output_names,
        dynamic_axes=dynamic_axes or None,
        opset_version=opset,
        dynamo=False)
    return output_names


def verify_onnx(module: nn.Module, path: str, inputs: torch.Tensor,
                tolerance: float) -> float:
    """Largest relative deviation (max |onnx - torch| / max |torch|, per
    output) of onnxruntime's outputs from PyTorch's; raises if it exceeds
    ``tolerance``."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    with torch.no_grad():
        expected = module(inputs)
    if isinstance(expected, torch.Tensor):
        expected = (expected, )
    actual = session.run(None, {'inputs': inputs.numpy()})
    worst = 0.
    names = [output.name for output in session.get_outputs()]
    for name, ours, theirs in zip(names, expected, actual):
        ours = ours.numpy()
        if ours.shape != theirs.shape:
            raise AssertionError(f'{name}: onnxruntime gives shape '
                                 f'{theirs.shape}, PyTorch {ours.shape}.')
        deviation = np.abs(ours - theirs).max() / np.abs(ours).max()
        print(f'{name} {tuple(ours.shape)}: max |onnx - torch| / max |torch|'
              f' = {deviation:.2e}')
        worst = max(worst, deviation)
    if worst > tolerance:
        raise AssertionError(f'onnxruntime deviates from PyTorch by '
                             f'{worst:.2e} > --tolerance {tolerance:.0e}.')
    return worst
