# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Plot how a backbone's time and memory grow with the input size, next to
the token-mixing cost of sMLP and of a dense MLP-Mixer layer.

    python tools/analysis_tools/benchmark.py smlpnet-t --shapes 224 512 1024 \\
        --memory --json scaling.json
    python tools/analysis_tools/plot_scaling.py scaling.json \\
        --model smlpnet-t --out docs/scaling.png

Reads the inference rows of one model from benchmark.py's json, prints a
markdown table and draws the growth relative to the smallest size. The
token-mixing multiply-adds are analytic, per image, summed over all blocks of
the sMLPNet variant (``--arch``) on grids of side ceil(size / stride):
sMLP mixes each of the H*W*C values along its row and its column,
``HW(H+W)C``; a dense MLP-Mixer token-mixing layer on the same grid would
mix all tokens with each other, ``(HW)^2 C``
(``mmsmlp.analysis.token_mixing_macs``).
"""
import argparse
import json
import math
import os.path as osp
from typing import List

import matplotlib

matplotlib.use('Agg')  # draw to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from mmsmlp.analysis import token_mixing_macs  # noqa: E402
from mmsmlp.models import SMLPNet  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Plot time and memory against input size')
    parser.add_argument('results', help='json written by benchmark.py --json')
    parser.add_argument(
        '--model', default='smlpnet-t', help='the model whose rows to plot')
    parser.add_argument(
        '--arch',
        default='tiny',
        choices=sorted(SMLPNet.arch_zoo),
        help='sMLPNet variant of the analytic MAC counts')
    parser.add_argument('--out', default='scaling.png', help='image file')
    return parser.parse_args()


def scaling_rows(results: List[dict], model: str, arch: str) -> List[dict]:
    rows = []
    for r in results:
        if (r['model'], r['variant'], r['mode']) != (model, 'fp32',
                                                     'inference'):
            continue
        smlp, dense = token_mixing_macs(arch, r['shape'])
        rows.append(
            dict(
                shape=tuple(r['shape']),
                batch=r['batch_size'],
                ms=r['median_s'] * 1e3 / r['batch_size'],
                iqr_ms=r['iqr_s'] * 1e3 / r['batch_size'],
                peak_mib=(r['peak_bytes'] /
                          2**20 if r['peak_bytes'] else None),
                smlp_gmacs=smlp / 1e9,
                dense_gmacs=dense / 1e9))
    if not rows:
        raise ValueError(f'No fp32 inference rows of {model!r} in the '
                         'results; pass --model as named in benchmark.py.')
    return sorted(rows, key=lambda row: row['shape'][0] * row['shape'][1])


def markdown_table(rows: List[dict]) -> str:
    lines = [
        '| input | ms / image (IQR) | peak MiB | sMLP token mixing GMACs | '
        'dense MLP-Mixer token mixing GMACs | dense / sMLP |',
        '|---|---|---|---|---|---|'
    ]
    for r in rows:
        peak = f'{r["peak_mib"]:.0f}' if r['peak_mib'] else '-'
        lines.append(f'| {r["shape"][0]}x{r["shape"][1]} | {r["ms"]:.0f} '
                     f'({r["iqr_ms"]:.0f}) | {peak} | {r["smlp_gmacs"]:.2f} | '
                     f'{r["dense_gmacs"]:.1f} | '
                     f'{r["dense_gmacs"] / r["smlp_gmacs"]:.0f}x |')
    return '\n'.join(lines)


def plot(rows: List[dict], model: str, out: str) -> None:
    # x: the side of a square with the same number of pixels, on a log
    # scale, ticked at the measured sizes.
    sides = [math.sqrt(r['shape'][0] * r['shape'][1]) for r in rows]
    labels = [f'{r["shape"][0]}x{r["shape"][1]}' for r in rows]
    first = rows[0]
    fig, (growth, absolute) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = [('time / image (measured)', 'ms', 'o-'),
              ('peak memory (measured)', 'peak_mib', 's-'),
              ('sMLP token mixing MACs', 'smlp_gmacs', '--'),
              ('dense MLP-Mixer token mixing MACs', 'dense_gmacs', ':')]
    for label, key, style in series:
        if first[key] is None:
            continue
        growth.plot(
            sides, [r[key] / first[key] for r in rows], style, label=label)
    growth.plot(
        sides, [(s / sides[0])**2 for s in sides],
        color='gray',
        linewidth=0.8,
        label='pixels (linear growth)')
    growth.set(
        yscale='log',
        ylabel=f'relative to {labels[0]}',
        title=f'{model}: growth with input size')
    absolute.plot(
        sides, [r['smlp_gmacs'] for r in rows],
        '--',
        label='sMLP (all blocks)')
    absolute.plot(
        sides, [r['dense_gmacs'] for r in rows],
        ':',
        label='dense MLP-Mixer (same grids)')
    absolute.set(
        yscale='log',
        ylabel='GMACs per image',
        title='token mixing cost per image')
    for axis in (growth, absolute):
        axis.set_xscale('log')
        axis.set_xticks(sides, labels, rotation=45, fontsize=8)
        axis.minorticks_off()
        axis.set_xlabel('input size')
        axis.grid(True, which='major', linewidth=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main():
    args = parse_args()
    with open(args.results) as file:
        results = json.load(file)['results']
    rows = scaling_rows(results, args.model, args.arch)
    print(markdown_table(rows))
    plot(rows, osp.splitext(osp.basename(args.model))[0], args.out)
    print(f'Wrote {args.out}')


if __name__ == '__main__':
    main()
