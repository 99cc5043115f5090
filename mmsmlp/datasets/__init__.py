# Copyright (c) mmsmlp contributors. All rights reserved.
from .seeded import SeededDataset, SeededIndex, SeededSampler

__all__ = ['SeededDataset', 'SeededIndex', 'SeededSampler']
