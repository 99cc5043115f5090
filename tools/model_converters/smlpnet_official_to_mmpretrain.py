# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Convert an official sMLPNet checkpoint (microsoft/SPACH) to mmpretrain.

The output has ``backbone.*`` keys for ``SMLPNet`` and ``head.fc.*`` keys
for ``LinearClsHead``: use it as ``load_from`` of a classifier or as a
backbone ``Pretrained`` init with ``prefix='backbone.'``. The source is read
with ``weights_only=True`` and an explicit allow-list (see
``mmsmlp.converters.smlpnet_official``). Example::

    python tools/model_converters/smlpnet_official_to_mmpretrain.py \\
        smlp_s.pth checkpoints/smlpnet-small_in1k.pth --ema
"""
import argparse

from mmsmlp.converters import CheckpointError, convert_official_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an official sMLPNet (SPACH) checkpoint to an '
        'mmpretrain checkpoint')
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output mmpretrain checkpoint')
    parser.add_argument(
        '--ema',
        action='store_true',
        help="convert the EMA weights ('model_ema') instead of 'model'")
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        converted = convert_official_checkpoint(args.src, args.dst, args.ema)
    except CheckpointError as error:
        raise SystemExit(f'error: {error}') from error
    meta = converted['meta']
    print(f"converted '{meta['weights']}' of {args.src} "
          f"({len(converted['state_dict'])} tensors, {meta}) to {args.dst}")


if __name__ == '__main__':
    main()
