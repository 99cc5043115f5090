# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .smlpnet import SMLPNet

__all__ = ['SMLPNet']
