# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Draw a small image-classification dataset in the mmpretrain folder format.

Every image shows one object on a noisy colour-gradient background: a filled
disc, ring, square or triangle in a random colour, or a square patch of
stripes or of a checkerboard. Size, position, rotation and colours are random,
so the class is given by the shape or the texture alone. The output is::

    OUT/train/<class>/XXXXX.png
    OUT/val/<class>/XXXXX.png

which ``mmpretrain.datasets.CustomDataset`` reads with ``data_prefix='train'``
or ``'val'`` (classes are the sorted folder names, listed in ``CLASSES``). The
same seed always gives the same files. Command line:
``tools/data/make_demo_cls.py``.
"""
from pathlib import Path

import cv2
import numpy as np

from .drawing import check_counts, check_size, draw_background

# Sorted, so that the class index equals CustomDataset's folder index.
CLASSES = ('checkerboard', 'disc', 'ring', 'square', 'stripes', 'triangle')


def random_color(rng):
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


def rotated_square(center, half_side, angle):
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) * half_side
    rotation = np.array([[np.cos(angle), -np.sin(angle)],
                         [np.sin(angle), np.cos(angle)]])
    return np.round(corners @ rotation.T + center).astype(np.int32)


def texture(rng, size, name):
    """A full-size stripes or checkerboard pattern in two random colours,
    at a random period and orientation."""
    period = rng.uniform(0.08, 0.16) * size
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    u = xs * np.cos(angle) + ys * np.sin(angle)
    v = -xs * np.sin(angle) + ys * np.cos(angle)
    phase = np.floor(u / period)
    if name == 'checkerboard':
        phase += np.floor(v / period)
    on = (phase % 2).astype(bool)
    pattern = np.empty((size, size, 3), dtype=np.uint8)
    pattern[on] = random_color(rng)
    pattern[~on] = random_color(rng)
    return pattern


def draw_object(rng, image, name):
    """Draw one object of class ``name`` into ``image`` in place."""
    size = image.shape[0]
    radius = rng.uniform(0.2, 0.35) * size
    center = rng.uniform(radius, size - radius, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    color = random_color(rng)
    if name == 'disc':
        cv2.circle(image, tuple(int(c) for c in center), int(radius), color,
                   -1)
    elif name == 'ring':
        thickness = max(2, int(radius * rng.uniform(0.2, 0.35)))
        cv2.circle(image, tuple(int(c) for c in center),
                   int(radius - thickness / 2), color, thickness)
    elif name == 'triangle':
        angles = angle + np.array([0, 2, 4]) * np.pi / 3
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius
        cv2.fillPoly(image, [np.round(points + center).astype(np.int32)],
                     color)
    else:  # square, or a square patch of stripes / checkerboard
        polygon = rotated_square(center, radius / np.sqrt(2) * 1.2, angle)
        if name == 'square':
            cv2.fillPoly(image, [polygon], color)
        else:
            mask = np.zeros(image.shape[:2], dtype=np.uint8)
            cv2.fillPoly(mask, [polygon], 1)
            image[mask.astype(bool)] = texture(rng, size,
                                               name)[mask.astype(bool)]


def write_split(rng, out, split, num_per_class, size):
    for name in CLASSES:
        class_dir = Path(out, split, name)
        class_dir.mkdir(parents=True, exist_ok=True)
        for index in range(num_per_class):
            image = draw_background(rng, size, size)
            draw_object(rng, image, name)
            # The arrays are RGB; OpenCV writes BGR.
            cv2.imwrite(str(class_dir / f'{index:05d}.png'), image[..., ::-1])


def draw_dataset(out: str,
                 seed: int = 0,
                 num_train: int = 250,
                 num_val: int = 50,
                 size: int = 64) -> None:
    """Draw ``num_train`` training and ``num_val`` validation images per
    class, ``size`` x ``size`` pixels, into ``out``."""
    check_counts(num_train=num_train, num_val=num_val)
    check_size('size', size, 32, 'the backbone needs >= 32 px')
    rng = np.random.default_rng(seed)
    for split, num_per_class in (('train', num_train), ('val', num_val)):
        write_split(rng, out, split, num_per_class, size)
