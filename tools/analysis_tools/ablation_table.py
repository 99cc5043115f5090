# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Print the sMLPNet paper's ablations as a markdown table: each config's
parameters and multiply-adds as built here, next to the paper's numbers.

    python tools/analysis_tools/ablation_table.py [CONFIG ...]

Without arguments, one row per ablation of the paper, in its order (the
configs of ``configs/smlpnet/ablations`` and the main T, S and B configs
they are compared with). Parameters and multiply-adds are counted as
``get_flops.py`` counts them: the whole classifier, at the config's
``img_size`` (see ``mmsmlp.analysis.ablations``).
"""
import argparse
from pathlib import Path

from mmsmlp.analysis.ablations import (FOOTNOTES, PAPER_ABLATIONS,
                                       ablation_table)
from mmsmlp.apis import check_file

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs' / 'smlpnet'


def parse_args():
    parser = argparse.ArgumentParser(
        description="The paper's ablation configs as a markdown table of "
        'parameters, multiply-adds and the paper\'s numbers')
    parser.add_argument(
        'configs',
        nargs='*',
        help='mmpretrain configs (default: every ablation of the paper)')
    return parser.parse_args()


def main():
    args = parse_args()
    configs = [Path(c) for c in args.configs
               ] or [CONFIG_DIR / name for name in PAPER_ABLATIONS]
    for config in configs:
        check_file(str(config), 'Config file')
    print(ablation_table(configs, CONFIG_DIR, display_root=REPO))
    if not args.configs:
        print()
        print('\n\n'.join(FOOTNOTES))


if __name__ == '__main__':
    main()
