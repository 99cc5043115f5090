# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Draw a small instance-segmentation dataset in COCO format.

Every image shows a few filled discs, squares and triangles in random
colours over a textured background; objects overlap and later ones occlude
earlier ones. The annotations describe exactly the drawn pixels: each
object's segmentation is the COCO RLE of its *visible* pixels (occlusion can
cut an object into several parts, which a bitmap keeps exactly), its box is
the tight box of those pixels and its area their count. An object is only
placed if it leaves every earlier object at least half visible. The output
follows the COCO layout::

    OUT/annotations/instances_{train,val}.json
    OUT/{train,val}/XXXXX.png      (lossless, so pixels match the masks)

and loads with ``mmdet.datasets.CocoDataset`` and ``CocoMetric``. The same
seed always gives the same files. With ``box_only`` the annotations have no
``segmentation``, as box-only COCO data (the images are the same). Command
line:
``tools/data/make_demo_det.py``.
"""
import json
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from .drawing import check_counts, check_size, draw_background

CLASSES = ('disc', 'square', 'triangle')
# An object that would leave an earlier one less visible than this is
# redrawn elsewhere, so that every annotated object stays recognisable.
MIN_VISIBLE_FRACTION = 0.5
PLACEMENT_TRIES = 20


def draw_object_mask(rng, label, height, width):
    """The full (unoccluded) bool mask of one randomly placed object."""
    radius = rng.uniform(0.08, 0.22) * min(height, width)
    center = rng.uniform(radius, (width - radius, height - radius))
    mask = np.zeros((height, width), dtype=np.uint8)
    if CLASSES[label] == 'disc':
        cv2.circle(
            mask,
            tuple(int(c) for c in np.round(center)),
            int(round(radius)),
            1,
            thickness=-1)
    else:
        num_corners = 4 if CLASSES[label] == 'square' else 3
        first_angle = rng.uniform(0, 2 * np.pi)
        angles = first_angle + np.arange(num_corners) * 2 * np.pi / num_corners
        corners = np.stack([np.cos(angles), np.sin(angles)], 1) * radius
        cv2.fillPoly(mask, [np.round(corners + center).astype(np.int32)], 1)
    return mask.astype(bool)


def place_object(rng, label, masks, height, width):
    """The mask of a new object that leaves each of ``masks`` at least
    ``MIN_VISIBLE_FRACTION`` visible, or None if no try does."""
    for _ in range(PLACEMENT_TRIES):
        new_mask = draw_object_mask(rng, label, height, width)
        if all((mask & ~new_mask).sum() >= MIN_VISIBLE_FRACTION * mask.sum()
               for mask in masks):
            return new_mask
    return None


def pick_colour(rng, image, mask):
    """A random colour that stands out from the pixels it covers."""
    covered = image[mask].mean(axis=0)
    for _ in range(PLACEMENT_TRIES):
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - covered).mean() > 60:
            break
    return colour


def draw_sample(rng, height, width, max_objects):
    """One RGB image and the visible bool mask and label of each object."""
    image = draw_background(rng, height, width)
    masks, labels = [], []
    for _ in range(rng.integers(1, max_objects + 1)):
        label = int(rng.integers(len(CLASSES)))
        new_mask = place_object(rng, label, masks, height, width)
        if new_mask is None:
            continue
        colour = pick_colour(rng, image, new_mask)
        texture = rng.normal(0, 8, size=(int(new_mask.sum()), 3))
        image[new_mask] = np.clip(colour + texture, 0, 255).astype(np.uint8)
        masks = [mask & ~new_mask for mask in masks] + [new_mask]
        labels.append(label)
    return image, masks, labels


def compressed_rle(mask: np.ndarray) -> dict:
    """COCO's compressed RLE of a bool mask, its counts as text (JSON)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def tight_box(mask: np.ndarray) -> list:
    """The COCO box ``[x, y, width, height]`` of a mask's pixels."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def instance_annotation(mask, label, image_id, ann_id):
    """A COCO annotation whose RLE, box and area match ``mask`` exactly."""
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=label + 1,  # COCO category ids start at 1
        segmentation=compressed_rle(mask),
        area=float(mask.sum()),
        bbox=tight_box(mask),
        iscrowd=0)


def write_split(rng, out, split, num_images, size_range, max_objects):
    """Draw ``num_images`` images into ``out/split`` and return their COCO
    annotation dict."""
    img_dir = Path(out, split)
    img_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        height, width = (
            int(s)
            for s in rng.integers(size_range[0], size_range[1] + 1, size=2))
        image, masks, labels = draw_sample(rng, height, width, max_objects)
        file_name = f'{image_id:05d}.png'
        # The array is RGB; OpenCV writes BGR.
        cv2.imwrite(str(img_dir / file_name), image[..., ::-1])
        images.append(
            dict(id=image_id, file_name=file_name, height=height, width=width))
        for mask, label in zip(masks, labels):
            annotations.append(
                instance_annotation(mask, label, image_id,
                                    len(annotations) + 1))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(CLASSES)
    ]
    return dict(
        info=dict(description=f'mmsmlp demo shapes, {split}'),
        images=images,
        annotations=annotations,
        categories=categories)


def drop_masks(coco: dict) -> None:
    """Make ``coco`` box-only: remove each annotation's segmentation."""
    for annotation in coco['annotations']:
        del annotation['segmentation']


def draw_dataset(out: str,
                 seed: int = 0,
                 num_train: int = 400,
                 num_val: int = 50,
                 min_size: int = 112,
                 max_size: int = 160,
                 max_objects: int = 4,
                 box_only: bool = False) -> Dict[str, dict]:
    """Draw ``num_train`` training and ``num_val`` validation images (sides
    drawn at random between ``min_size`` and ``max_size``, up to
    ``max_objects`` objects each) into ``out``; with ``box_only``, write
    annotations without masks.

    Returns:
        dict: the COCO annotations written for each split.
    """
    check_counts(num_train=num_train, num_val=num_val, max_objects=max_objects)
    check_size('min_size', min_size, 64, 'so that objects fit')
    check_size('max_size', max_size, min_size, 'min_size')
    rng = np.random.default_rng(seed)
    ann_dir = Path(out, 'annotations')
    ann_dir.mkdir(parents=True, exist_ok=True)
    annotations = {}
    for split, num_images in (('train', num_train), ('val', num_val)):
        coco = write_split(rng, out, split, num_images, (min_size, max_size),
                           max_objects)
        if box_only:
            drop_masks(coco)
        with open(ann_dir / f'instances_{split}.json', 'w') as f:
            json.dump(coco, f)
        annotations[split] = coco
    return annotations
