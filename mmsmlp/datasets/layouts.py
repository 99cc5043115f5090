# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Small datasets in the toolkits' real on-disk layouts.

The shipped configs read ``data/coco``, ``data/ade/ADEChallengeData2016``,
``data/cityscapes`` and ``data/imagenet`` relative to the working directory.
``write_layouts(root)`` writes all four under ``root/data``, so that those
configs run unchanged from ``root``. The content is the demo's shapes, drawn
at the real datasets' sizes and encoded as they are (JPEG, Cityscapes PNG):

- COCO 2017 instances: ``train2017/``, ``val2017/`` at 640x480 and 480x640,
  ``annotations/instances_{train,val}2017.json`` with COCO's 80 categories
  and ids; an object is a polygon when it is one piece, compressed RLE when
  occlusion cut it, and every ``CROWD_EVERY``-th one is ``iscrowd`` with
  uncompressed RLE, as COCO's crowd regions.
- ADE20K: ``images/`` and ``annotations/`` for ``training`` and
  ``validation``, PNG maps with values 1-150 and 0 (ignored by
  ``reduce_zero_label``) on the background.
- Cityscapes: ``leftImg8bit/`` and ``gtFine/`` at 2048x1024, one city per
  split, ``*_gtFine_labelTrainIds.png`` with train ids 0-18 and 255.
- ImageNet as mmpretrain reads it: class folders in ``train/``, a flat
  ``val/``, and ``meta/train.txt`` / ``meta/val.txt``.

In the segmentation maps a class is a shape kind in a band of hues, so a
pixel's class follows from its region's shape and colour. Command line:
``tools/data/make_toolkit_layouts.py``.
"""
import json
import shutil
from pathlib import Path
from typing import Dict, Optional

import cv2
import numpy as np

from .demo import classification, detection
from .demo.drawing import check_counts, draw_background

# COCO 2017's category ids, in the order of mmdet's CocoDataset classes.
COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20,
            21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
            41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58,
            59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79,
            80, 81, 82, 84, 85, 86, 87, 88, 89, 90)
# The COCO category each demo shape is annotated as.
COCO_NAME_OF_SHAPE = {
    'disc': 'sports ball',
    'square': 'tv',
    'triangle': 'kite'
}
COCO_SIZES = ((480, 640), (640, 480))  # (height, width), COCO's commonest
CROWD_EVERY = 7
ADE20K_CLASSES = 150
ADE20K_SIZES = ((512, 683), (683, 512), (600, 800))
CITYSCAPES_CLASSES = 19
CITYSCAPES_SIZE = (1024, 2048)
CITYSCAPES_CITIES = {'train': 'aachen', 'val': 'frankfurt'}
IGNORE_INDEX = 255
IMAGENET_SIZES = ((375, 500), (500, 375), (333, 500))
MAX_OBJECTS = 6


def coco_categories() -> list:
    """COCO's 80 categories with their real ids."""
    from mmdet.datasets import CocoDataset
    names = CocoDataset.METAINFO['classes']
    return [
        dict(id=cat_id, name=name, supercategory='object')
        for cat_id, name in zip(COCO_IDS, names)
    ]


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's crowd encoding: run lengths over the column-major pixels,
    starting with background."""
    pixels = mask.ravel(order='F')
    boundaries = np.flatnonzero(pixels[1:] != pixels[:-1]) + 1
    runs = np.diff(np.concatenate([[0], boundaries, [pixels.size]]))
    if pixels[0]:
        runs = np.concatenate([[0], runs])
    return dict(counts=runs.tolist(), size=list(mask.shape))


def polygons(mask: np.ndarray) -> Optional[list]:
    """The outline of a one-piece mask as COCO polygons, or None when the
    mask is in several pieces."""
    num_labels, _ = cv2.connectedComponents(mask.astype(np.uint8))
    if num_labels != 2:
        return None
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outlines = [c.reshape(-1).astype(float).tolist() for c in contours]
    outlines = [o for o in outlines if len(o) >= 6]
    return outlines or None


def coco_annotation(mask, category_id, image_id, ann_id) -> dict:
    iscrowd = int(ann_id % CROWD_EVERY == 0)
    segmentation = None if iscrowd else polygons(mask)
    if segmentation is None:
        segmentation = (
            uncompressed_rle(mask)
            if iscrowd else detection.compressed_rle(mask))
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=category_id,
        segmentation=segmentation,
        area=float(mask.sum()),
        bbox=detection.tight_box(mask),
        iscrowd=iscrowd)


def write_coco_split(rng, root, split, num_images, first_image_id, categories):
    img_dir = Path(root, f'{split}2017')
    img_dir.mkdir(parents=True, exist_ok=True)
    id_of = {c['name']: c['id'] for c in categories}
    images, annotations = [], []
    for index in range(num_images):
        image_id = first_image_id + index
        height, width = COCO_SIZES[index % len(COCO_SIZES)]
        image, masks, labels = detection.draw_sample(rng, height, width,
                                                     MAX_OBJECTS)
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(str(img_dir / file_name), image[..., ::-1])
        images.append(
            dict(id=image_id, file_name=file_name, height=height, width=width))
        for mask, label in zip(masks, labels):
            if not mask.any():
                continue
            name = COCO_NAME_OF_SHAPE[detection.CLASSES[label]]
            annotations.append(
                coco_annotation(mask, id_of[name], image_id,
                                len(annotations) + 1))
    return dict(
        info=dict(description=f'mmsmlp shapes in COCO 2017 layout, {split}'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=categories)


def write_coco(root, num_train, num_val, seed=0) -> Dict[str, dict]:
    """COCO 2017 instances under ``root``; returns the annotations."""
    rng = np.random.default_rng(seed)
    categories = coco_categories()
    ann_dir = Path(root, 'annotations')
    ann_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, num_images, first_id in (('train', num_train, 1),
                                        ('val', num_val, 100001)):
        coco = write_coco_split(rng, root, split, num_images, first_id,
                                categories)
        with open(ann_dir / f'instances_{split}2017.json', 'w') as f:
            json.dump(coco, f)
        written[split] = coco
    return written


def class_colour(rng, label, num_classes):
    """An RGB colour in the hue band of ``label``: classes share a shape
    kind every ``len(detection.CLASSES)`` labels, and differ in hue band."""
    num_bands = -(-num_classes // len(detection.CLASSES))
    band = label // len(detection.CLASSES)
    hue = (band + rng.uniform(0.2, 0.8)) * 180 / num_bands
    hsv = np.array([[[hue, rng.uniform(140, 255),
                      rng.uniform(120, 255)]]]).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]


def draw_segmentation(rng,
                      height,
                      width,
                      num_classes,
                      background,
                      first_value=0):
    """An image and its label map: shapes of classes ``0..num_classes-1``,
    written as ``first_value + class``, the rest ``background``."""
    image = draw_background(rng, height, width)
    label_map = np.full((height, width), background, dtype=np.uint8)
    for _ in range(rng.integers(1, MAX_OBJECTS + 1)):
        label = int(rng.integers(num_classes))
        shape = label % len(detection.CLASSES)
        mask = detection.draw_object_mask(rng, shape, height, width)
        image[mask] = class_colour(rng, label, num_classes)
        label_map[mask] = first_value + label
    return image, label_map


def write_ade20k(root, num_train, num_val, seed=0) -> None:
    """ADEChallengeData2016 under ``root``: labels 1-150, 0 ignored."""
    rng = np.random.default_rng(seed)
    for split, prefix, num_images in (('training', 'ADE_train', num_train),
                                      ('validation', 'ADE_val', num_val)):
        img_dir = Path(root, 'images', split)
        ann_dir = Path(root, 'annotations', split)
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for index in range(num_images):
            height, width = ADE20K_SIZES[index % len(ADE20K_SIZES)]
            image, label_map = draw_segmentation(
                rng, height, width, ADE20K_CLASSES, 0, first_value=1)
            name = f'{prefix}_{index + 1:08d}'
            cv2.imwrite(str(img_dir / f'{name}.jpg'), image[..., ::-1])
            cv2.imwrite(str(ann_dir / f'{name}.png'), label_map)


def write_cityscapes(root, num_train, num_val, seed=0) -> None:
    """Cityscapes fine annotations under ``root``: train ids 0-18, 255
    ignored."""
    rng = np.random.default_rng(seed)
    height, width = CITYSCAPES_SIZE
    for split, num_images in (('train', num_train), ('val', num_val)):
        city = CITYSCAPES_CITIES[split]
        img_dir = Path(root, 'leftImg8bit', split, city)
        ann_dir = Path(root, 'gtFine', split, city)
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for index in range(num_images):
            image, label_map = draw_segmentation(rng, height, width,
                                                 CITYSCAPES_CLASSES,
                                                 IGNORE_INDEX)
            stem = f'{city}_{index:06d}_000019'
            cv2.imwrite(
                str(img_dir / f'{stem}_leftImg8bit.png'), image[..., ::-1])
            cv2.imwrite(
                str(ann_dir / f'{stem}_gtFine_labelTrainIds.png'), label_map)


def draw_imagenet_image(rng, height, width, name):
    """One demo object on a square canvas, pasted into an image of the
    given size (the demo draws on square canvases only)."""
    image = draw_background(rng, height, width)
    side = min(height, width)
    canvas = draw_background(rng, side, side)
    classification.draw_object(rng, canvas, name)
    top = int(rng.integers(height - side + 1))
    left = int(rng.integers(width - side + 1))
    image[top:top + side, left:left + side] = canvas
    return image


def write_imagenet(root, num_train, num_val, seed=0) -> None:
    """ImageNet as mmpretrain's ``ImageNet`` reads it with ``split``: the
    demo's classes as labels 0-5 of the 1000, ``num_train`` and ``num_val``
    images per class."""
    rng = np.random.default_rng(seed)
    meta = Path(root, 'meta')
    meta.mkdir(parents=True, exist_ok=True)
    lines = {'train': [], 'val': []}
    for label, name in enumerate(classification.CLASSES):
        wnid = f'n{label:08d}'
        for split, count in (('train', num_train), ('val', num_val)):
            for index in range(count):
                height, width = IMAGENET_SIZES[index % len(IMAGENET_SIZES)]
                image = draw_imagenet_image(rng, height, width, name)
                if split == 'train':
                    relative = f'{wnid}/{wnid}_{index + 1}.JPEG'
                else:
                    number = len(lines['val']) + 1
                    relative = f'ILSVRC2012_val_{number:08d}.JPEG'
                path = Path(root, split, relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), image[..., ::-1])
                lines[split].append(f'{relative} {label}')
    for split, split_lines in lines.items():
        (meta / f'{split}.txt').write_text('\n'.join(split_lines) + '\n')


# Where each toolkit's base dataset config looks, relative to its data root.
LAYOUTS = {
    'coco': ('data/coco', write_coco),
    'ade20k': ('data/ade/ADEChallengeData2016', write_ade20k),
    'cityscapes': ('data/cityscapes', write_cityscapes),
    'imagenet': ('data/imagenet', write_imagenet),
}

#: The file that marks a dataset directory as written here.
MARKER = '.mmsmlp_layout'


def clear_written_layout(directory: Path) -> None:
    """Remove what an earlier :func:`write_layouts` wrote in ``directory``:
    ADE20K and Cityscapes are read by scanning folders, so files of a larger
    earlier run would join the dataset. A directory that holds anything else
    (a real dataset) is refused, never removed."""
    if (directory / MARKER).is_file():
        shutil.rmtree(directory)
    elif directory.is_dir() and any(directory.iterdir()):
        raise FileExistsError(
            f'{directory} holds files that mmsmlp did not write (no '
            f'{MARKER}): perhaps a real dataset, which the small one would '
            'be mixed into. Give another root.')


def write_layouts(root: str,
                  counts: Dict[str, tuple],
                  seed: int = 0) -> Dict[str, Path]:
    """Write each dataset named in ``counts`` (``{'coco': (num_train,
    num_val), ...}``; ImageNet counts are per class) under ``root``, where
    the shipped configs look for it, in place of one written there before.
    Returns each dataset's directory."""
    unknown = sorted(set(counts) - set(LAYOUTS))
    if unknown:
        raise ValueError(f'Unknown dataset layouts {unknown}; choose from '
                         f'{sorted(LAYOUTS)}.')
    written = {}
    for name, (num_train, num_val) in counts.items():
        check_counts(**{
            f'{name} num_train': num_train,
            f'{name} num_val': num_val
        })
        relative, write = LAYOUTS[name]
        written[name] = Path(root, relative)
        clear_written_layout(written[name])
        write(written[name], num_train, num_val, seed)
        (written[name] / MARKER).write_text(
            json.dumps(dict(num_train=num_train, num_val=num_val, seed=seed)))
    return written
