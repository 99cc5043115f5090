# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .seeded import SeededDataset, SeededIndex, SeededSampler

__all__ = ['SeededDataset', 'SeededIndex', 'SeededSampler']
