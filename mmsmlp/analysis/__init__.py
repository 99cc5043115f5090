# Copyright (c) mmsmlp contributors. All rights reserved.
from .flops import (TwoStageForwardDummy, count_flops, flops_table,
                    is_two_stage, num_params, token_mixing_macs)

__all__ = [
    'TwoStageForwardDummy', 'count_flops', 'flops_table', 'is_two_stage',
    'num_params', 'token_mixing_macs'
]
