# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The sMLPNet paper's ablations as a markdown table: each config's
parameters and multiply-adds as built here, next to the paper's numbers.

Parameters and multiply-adds are counted as ``tools/analysis_tools/
get_flops.py`` counts them: the whole classifier, on one image of the
backbone's ``img_size``.
"""
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from mmsmlp.apis import build_model, tensor_forward
from .flops import count_flops, num_params

# What the paper reports for each ablation, by config path relative to the
# repository's configs/smlpnet: (what changes, params, top-1). Empty where
# the paper gives no number; its qualitative findings instead where it gives
# no accuracy (from the paper's ablation section).
PAPER_ABLATIONS = {
    'smlpnet-tiny_8xb128_in1k.py': ('sMLPNet-T (alpha 3)', '24.1', '81.9'),
    'ablations/smlpnet-tiny-a2_8xb128_in1k.py':
    ('sMLPNet-T, alpha 2 (baseline)', '19.2', '81.3'),
    'ablations/smlpnet-tiny-a2-global-only_8xb128_in1k.py':
    ('no DWConv ("global only")', '19.1', '80.6'),
    'ablations/smlpnet-tiny-a2-local-only_8xb128_in1k.py':
    ('no sMLP ("local only")', '', '80.7'),
    'ablations/smlpnet-tiny-a2-multi-stage-mlp_8xb128_in1k.py':
    ('DWConv in stage 1, dense token MLP in 2-4', '', '77.8'),
    'ablations/smlpnet-tiny-a2-no-identity_8xb128_in1k.py':
    ('parallel, no identity branch', '', 'below baseline (*)'),
    'ablations/smlpnet-tiny-a2-sequential_8xb128_in1k.py':
    ('sequential H then W, identity', '', 'below parallel (*)'),
    'ablations/smlpnet-tiny-a2-sequential-no-identity_8xb128_in1k.py':
    ('sequential H then W, no identity', '', 'below parallel (*)'),
    'smlpnet-small_8xb128_in1k.py': ('sMLPNet-S, concat + 1x1 fusion', '48.6',
                                     '83.1'),
    'ablations/smlpnet-small-sum-fusion_8xb128_in1k.py':
    ('sMLPNet-S, sum fusion', '', '81.5'),
    'ablations/smlpnet-small-weighted-sum-fusion_8xb128_in1k.py':
    ('sMLPNet-S, weighted-sum fusion', '', '81.8'),
    'smlpnet-base_8xb128_in1k.py': ('sMLPNet-B', '65.9', '83.4'),
    'ablations/smlpnet-base-no-smlp-s1_8xb128_in1k.py':
    ('sMLPNet-B, no sMLP in stage 1', '', 'decreasing (**)'),
    'ablations/smlpnet-base-no-smlp-s1-2_8xb128_in1k.py':
    ('sMLPNet-B, no sMLP in stages 1-2', '', 'decreasing (**)'),
    'ablations/smlpnet-base-no-smlp-s1-3_8xb128_in1k.py':
    ('sMLPNet-B, no sMLP in stages 1-3', '', 'decreasing (**)'),
    'ablations/smlpnet-base-no-smlp-s1-4_8xb128_in1k.py':
    ('sMLPNet-B, no sMLP in stages 1-4', '', 'decreasing (**)'),
}
FOOTNOTES = (
    '(*) The paper gives no number: parallel branches beat sequential ones '
    'and the identity branch always helps.',
    '(**) The paper gives no number: accuracy decreases step by step as sMLP '
    'is removed from more stages (see its ablation section).',
)
HEADER = ('config', 'change', 'params (M)', 'MACs (G)', 'paper params (M)',
          'paper top-1 (%)')


def paper_row(config: Path, config_dir: Path) -> Sequence[str]:
    """(change, params, top-1) the paper gives for ``config``, or blanks."""
    try:
        key = config.resolve().relative_to(config_dir.resolve()).as_posix()
    except ValueError:  # a config outside config_dir
        key = None
    return PAPER_ABLATIONS.get(key, ('', '', ''))


def measure_classifier(config: Path) -> Tuple[float, float]:
    """Parameters (millions) and multiply-adds (billions) of the classifier
    the config builds, on one image of the backbone's ``img_size``."""
    cfg = Config.fromfile(str(config))
    model = build_model(cfg)
    inputs = torch.randn(
        1,
        3,
        *model.backbone.img_size,
        generator=torch.Generator().manual_seed(0))
    flop_counter, _ = count_flops(
        tensor_forward(model, cfg.default_scope, inputs))
    return num_params(model) / 1e6, flop_counter.get_total_flops() / 2 / 1e9


def ablation_table(configs: Sequence[Path],
                   config_dir: Path,
                   display_root: Optional[Path] = None) -> str:
    """A markdown row per config: measured parameters and multiply-adds next
    to the paper's numbers, which are looked up by the config's path
    relative to ``config_dir`` (the repository's ``configs/smlpnet``).
    Configs are named by their path relative to ``display_root``."""
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    for config in configs:
        change, paper_params, paper_top1 = paper_row(config, config_dir)
        params, macs = measure_classifier(config)
        cells = (f'`{display_name(config, display_root)}`', change,
                 f'{params:.2f}', f'{macs:.2f}', paper_params, paper_top1)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def display_name(config: Path, root: Optional[Path]) -> str:
    path = config.resolve()
    if root is not None and path.is_relative_to(root.resolve()):
        return path.relative_to(root.resolve()).as_posix()
    return str(config)
