# Copyright (c) mmsmlp contributors. All rights reserved.
from .flops import count_flops, flops_table, num_params, token_mixing_macs

__all__ = ['count_flops', 'flops_table', 'num_params', 'token_mixing_macs']
