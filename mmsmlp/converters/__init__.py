# Copyright (c) mmsmlp contributors. All rights reserved.
from .smlpnet_official import CheckpointError, convert_official_checkpoint

__all__ = ['CheckpointError', 'convert_official_checkpoint']
