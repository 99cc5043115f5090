# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Draw a small semantic-segmentation dataset in the standard mmseg layout.

Every image shows a few flat discs, rectangles and triangles over a noisy
colour gradient. Each class has its own band of hues (discs reddish,
rectangles greenish, triangles bluish; random saturation and brightness) that
the background can also take, so a pixel's class follows from its colour,
texture and the shape of its region together. The output is::

    OUT/img_dir/{train,val}/XXXXX.jpg   RGB images
    OUT/ann_dir/{train,val}/XXXXX.png   uint8 label maps (values in CLASSES)

which ``mmseg.datasets.BaseSegDataset`` reads with ``img_suffix='.jpg'``,
``seg_map_suffix='.png'`` and ``reduce_zero_label=False``. The same seed
always gives the same files. Command line: ``tools/data/make_demo_seg.py``.
"""
from pathlib import Path

import cv2
import numpy as np

from .drawing import check_counts, check_size, draw_background

# Label value of each class in the PNG maps (index = value).
CLASSES = ('background', 'disc', 'rectangle', 'triangle')
# Centre of each foreground class's hue band, in degrees.
CLASS_HUES = {'disc': 0, 'rectangle': 120, 'triangle': 240}
HUE_SPREAD = 30


def class_color(rng, label):
    """An RGB colour from the hue band of class ``label``."""
    hue = CLASS_HUES[CLASSES[label]] + rng.uniform(-HUE_SPREAD, HUE_SPREAD)
    hsv = np.array([[[(hue % 360) / 2,
                      rng.uniform(120, 255),
                      rng.uniform(100, 255)]]]).astype(np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def shape_polygon(rng, label, center, radius):
    """The outline of one rectangle or triangle as an int32 point array."""
    if label == CLASSES.index('rectangle'):
        half_w, half_h = radius * rng.uniform(0.6, 1.0, size=2)
        points = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h),
                  (-half_w, half_h)]
    else:
        angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2, 4]) * np.pi / 3
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius
    return np.round(np.asarray(points) + center).astype(np.int32)


def draw_shape(canvas, label, center, radius, polygon, value):
    """Fill one shape with ``value`` (a colour or a label) in place."""
    if label == CLASSES.index('disc'):
        cv2.circle(
            canvas,
            tuple(int(c) for c in np.round(center)),
            int(round(radius)),
            value,
            thickness=-1)
    else:
        cv2.fillPoly(canvas, [polygon], value)


def draw_sample(rng, size, max_shapes):
    """One image and its label map; later shapes occlude earlier ones in
    both."""
    image = draw_background(rng, size, size, noise_std=12)
    label_map = np.zeros((size, size), dtype=np.uint8)
    for _ in range(rng.integers(1, max_shapes + 1)):
        label = int(rng.integers(1, len(CLASSES)))
        radius = rng.uniform(0.1, 0.25) * size
        center = rng.uniform(radius, size - radius, size=2)
        color = class_color(rng, label)
        polygon = (None if label == CLASSES.index('disc') else shape_polygon(
            rng, label, center, radius))
        draw_shape(image, label, center, radius, polygon, color)
        draw_shape(label_map, label, center, radius, polygon, label)
    return image, label_map


def write_split(rng, out, split, num_images, size, max_shapes):
    img_dir = Path(out, 'img_dir', split)
    ann_dir = Path(out, 'ann_dir', split)
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    for index in range(num_images):
        image, label_map = draw_sample(rng, size, max_shapes)
        name = f'{index:05d}'
        # The arrays are RGB; OpenCV writes BGR.
        cv2.imwrite(str(img_dir / f'{name}.jpg'), image[..., ::-1])
        cv2.imwrite(str(ann_dir / f'{name}.png'), label_map)


def draw_dataset(out: str,
                 seed: int = 0,
                 num_train: int = 240,
                 num_val: int = 40,
                 size: int = 128,
                 max_shapes: int = 4) -> None:
    """Draw ``num_train`` training and ``num_val`` validation images of
    ``size`` x ``size`` pixels with up to ``max_shapes`` shapes each, and
    their label maps, into ``out``."""
    check_counts(num_train=num_train, num_val=num_val, max_shapes=max_shapes)
    check_size('size', size, 32, 'the backbone needs >= 32 px')
    rng = np.random.default_rng(seed)
    for split, num_images in (('train', num_train), ('val', num_val)):
        write_split(rng, out, split, num_images, size, max_shapes)
