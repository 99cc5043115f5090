# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .flops import (TwoStageForwardDummy, count_flops, flops_table,
                    is_two_stage, num_params, token_mixing_macs)

__all__ = [
    'TwoStageForwardDummy', 'count_flops', 'flops_table', 'is_two_stage',
    'num_params', 'token_mixing_macs'
]
