# Copyright (c) mmsmlp contributors. All rights reserved.
"""Print the sMLPNet paper's ablations as a markdown table: each config's
parameters and multiply-adds as built here, next to the paper's numbers.

    python tools/analysis_tools/ablation_table.py [CONFIG ...]

Without arguments, one row per ablation of the paper, in its order (the
configs of ``configs/smlpnet/ablations`` and the main T, S and B configs
they are compared with). Parameters and multiply-adds are counted as
``get_flops.py`` counts them: the whole classifier, at the config's
``img_size``.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Sequence

import torch
from mmengine.config import Config

from get_flops import build_model, count, params, tensor_forward

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
from _toolkit import check_file  # noqa: E402

CONFIGS = REPO / 'configs' / 'smlpnet'

# What the paper reports for each ablation: (what changes, params, top-1).
# Empty where the paper gives no number; its qualitative findings instead
# where it gives no accuracy (from the paper's ablation section).
PAPER_ROWS = {
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="The paper's ablation configs as a markdown table of "
        'parameters, multiply-adds and the paper\'s numbers')
    parser.add_argument(
        'configs',
        nargs='*',
        help='mmpretrain configs (default: every ablation of the paper)')
    return parser.parse_args(argv)


def paper_row(config: Path) -> Sequence[str]:
    """(change, params, top-1) the paper gives for ``config``, or blanks."""
    try:
        key = config.resolve().relative_to(CONFIGS).as_posix()
    except ValueError:  # a config outside configs/smlpnet
        key = None
    return PAPER_ROWS.get(key, ('', '', ''))


def measure(config: Path) -> Sequence[float]:
    """Parameters (millions) and multiply-adds (billions) of the classifier
    the config builds, on one image of the backbone's ``img_size``."""
    cfg = Config.fromfile(str(config))
    model = build_model(cfg)
    inputs = torch.randn(
        1,
        3,
        *model.backbone.img_size,
        generator=torch.Generator().manual_seed(0))
    flop_counter, _ = count(tensor_forward(model, cfg.default_scope, inputs))
    return params(model) / 1e6, flop_counter.get_total_flops() / 2 / 1e9


def display_name(config: Path) -> str:
    """The config's path from the repository root, as the docs cite it."""
    path = config.resolve()
    return path.relative_to(REPO).as_posix() if path.is_relative_to(
        REPO) else str(config)


def markdown_table(configs: Sequence[Path]) -> str:
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    for config in configs:
        change, paper_params, paper_top1 = paper_row(config)
        num_params, macs = measure(config)
        cells = (f'`{display_name(config)}`', change, f'{num_params:.2f}',
                 f'{macs:.2f}', paper_params, paper_top1)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: List[str] = None) -> None:
    args = parse_args(argv)
    configs = [Path(c) for c in args.configs
               ] or [CONFIGS / name for name in PAPER_ROWS]
    for config in configs:
        check_file(str(config), 'Config file')
    print(markdown_table(configs))
    if not args.configs:
        print()
        print('\n\n'.join(FOOTNOTES))


if __name__ == '__main__':
    main()
