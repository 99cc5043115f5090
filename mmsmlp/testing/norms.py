# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def randomize_batch_norms(model: nn.Module) -> None:
    """Give every BatchNorm of ``model`` non-trivial statistics and affine
    parameters (running mean in [-0.5, 0.5], variance in [0.5, 1.5], weight
    in [0.5, 1.5], bias in [-0.5, 0.5]), as a trained network has: with the
    initial zero means, unit variances and identity affines, a wrong copy of
    them would not show in the outputs, and padded zeros would stay zero."""
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.5, 0.5)
