# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .backbones import SMLPNet

__all__ = ['SMLPNet']
