# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""How much batch padding changes an image's sMLPNet features in Mask R-CNN.

    python tools/analysis_tools/batch_padding.py [CONFIG ...]
        [--pairs H W H W ...] [--seed 0]

For each Mask R-CNN config (default: the sMLPNet-T ``window`` and
``resize`` configs) and each pair of image sizes, the detector's own data
preprocessor batches a random image of the first size with one of the
second (padding both to the larger height and width, rounded up to 32) and
alone (padded to a multiple of 32 only). The backbone runs in eval mode on
both; for each stage the script prints the largest absolute difference of
the first image's features between the two runs, over the tokens its
pixels cover, next to the largest absolute feature there, and the mean
absolute difference relative to the mean absolute feature.

The backbone is randomly initialised (no trained sMLPNet-T exists), with
BatchNorm statistics and affine parameters drawn as a trained network would
have non-trivial ones (running mean in [-0.5, 0.5], variance in [0.5, 1.5],
weight in [0.5, 1.5], bias in [-0.5, 0.5]): with the initial zero means
and unit variances BatchNorm would keep padded zeros at zero. The numbers
show the mechanism and its order of magnitude, not a trained model's.
"""
import argparse
import math

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from mmsmlp.models.backbones.smlpnet_layers import stage_stride
from mmsmlp.testing import randomize_batch_norms

CONFIGS = [
    'configs/mask_rcnn/mask-rcnn_smlpnet-t-window_fpn_1x_coco.py',
    'configs/mask_rcnn/mask-rcnn_smlpnet-t_fpn_1x_coco.py'
]
# (first image, second image): the tests' small batch, two landscape COCO
# images, and a landscape image batched with a portrait one.
PAIRS = [(96, 120, 130, 160), (800, 1067, 800, 1333), (800, 1067, 1333, 800)]


def build_backbone_and_preprocessor(config: str, seed: int):
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    detector = MODELS.build(cfg.model)
    randomize_batch_norms(detector.backbone)
    return (detector.backbone.eval(), detector.data_preprocessor,
            cfg.model.backbone.mixing_mode)


@torch.no_grad()
def compare(backbone, preprocessor, first, second, seed: int):
    generator = torch.Generator().manual_seed(seed)
    images = [
        torch.randint(
            0, 256, (3, h, w), dtype=torch.uint8, generator=generator)
        for h, w in (first, second)
    ]
    alone = backbone(preprocessor(dict(inputs=images[:1]))['inputs'])
    batch = preprocessor(dict(inputs=images))['inputs']
    in_batch = backbone(batch)
    rows = []
    for i, (a, b) in enumerate(zip(alone, in_batch)):
        h, w = (math.ceil(s / stage_stride(i)) for s in first)
        a, b = a[0, :, :h, :w], b[0, :, :h, :w]
        diff = (a - b).abs()
        rows.append((i, diff.max().item(), a.abs().max().item(),
                     (diff.mean() / a.abs().mean()).item()))
    return tuple(batch.shape[-2:]), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=CONFIGS)
    parser.add_argument(
        '--pairs',
        type=int,
        nargs='+',
        help='H W H W per pair: first image, second image')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    pairs = PAIRS if args.pairs is None else [
        tuple(args.pairs[i:i + 4]) for i in range(0, len(args.pairs), 4)
    ]
    register_all_modules()
    torch.set_grad_enabled(False)
    for config in args.configs:
        backbone, preprocessor, mode = build_backbone_and_preprocessor(
            config, args.seed)
        print(f'{config} (mixing_mode={mode!r})')
        for h1, w1, h2, w2 in pairs:
            padded, rows = compare(backbone, preprocessor, (h1, w1), (h2, w2),
                                   args.seed)
            print(f'  {h1}x{w1} alone vs in a batch with {h2}x{w2} '
                  f'(padded to {padded[0]}x{padded[1]}):')
            for stage, max_diff, max_out, mean_rel in rows:
                print(f'    stage {stage}: max |diff| {max_diff:.3g} '
                      f'(max |out| {max_out:.3g}), mean |diff| / mean |out| '
                      f'{mean_rel:.2%}')


if __name__ == '__main__':
    main()
