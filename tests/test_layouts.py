# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The datasets of mmsmlp.datasets.layouts, read by the shipped configs'
own training and validation datasets, pipelines included."""
import json
import time
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmsmlp.apis import import_toolkit
from mmsmlp.datasets.layouts import (ADE20K_CLASSES, CITYSCAPES_CLASSES,
                                     IGNORE_INDEX, write_layouts)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    'coco': 'configs/mask_rcnn/mask-rcnn_smlpnet-t_fpn_ms-crop-3x_coco.py',
    'ade20k': 'configs/upernet/smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py',
    'cityscapes':
    'configs/upernet/smlpnet-t_upernet_4xb2-80k_cityscapes-512x1024.py',
    'imagenet': 'configs/smlpnet/smlpnet-tiny_8xb128_in1k.py',
}
COUNTS = {
    'coco': (3, 2),
    'ade20k': (3, 2),
    'cityscapes': (1, 1),
    'imagenet': (2, 1)
}


@pytest.fixture(scope='module')
def layout_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('layouts')
    write_layouts(str(root), COUNTS)
    return root


def build_dataset(name, split, root, monkeypatch):
    """The config's own dataset of ``split``, its relative data root read
    from ``root`` as the shipped configs read it from the working dir."""
    config = str(REPO / CONFIGS[name])
    cfg = Config.fromfile(config)
    import_toolkit(cfg, config)
    init_default_scope(cfg.default_scope)
    from mmengine.registry import DATASETS
    monkeypatch.chdir(root)
    return DATASETS.build(cfg[f'{split}_dataloader'].dataset)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_layout_goes_through_the_shipped_pipeline(layout_root, split,
                                                       monkeypatch):
    dataset = build_dataset('coco', split, layout_root, monkeypatch)
    assert len(dataset) == COUNTS['coco'][split == 'val']
    sample = dataset[0]
    instances = sample['data_samples'].gt_instances
    assert len(instances) > 0
    # Polygons, compressed RLE and crowd RLE all decode to masks.
    assert instances.masks.to_ndarray().any()
    assert sample['inputs'].shape[0] == 3


def test_coco_annotations_use_every_encoding(layout_root):
    anns = []
    for split in ('train', 'val'):
        annotations = layout_root / 'data/coco/annotations'
        path = annotations / f'instances_{split}2017.json'
        coco = json.loads(path.read_text())
        assert len(coco['categories']) == 80
        anns += coco['annotations']
    kinds = {('crowd' if a['iscrowd'] else
              'polygon' if isinstance(a['segmentation'], list) else 'rle')
             for a in anns}
    assert kinds == {'crowd', 'polygon', 'rle'}


@pytest.mark.parametrize('name, num_classes',
                         [('ade20k', ADE20K_CLASSES),
                          ('cityscapes', CITYSCAPES_CLASSES)])
@pytest.mark.parametrize('split', ['train', 'val'])
def test_segmentation_layouts_go_through_the_shipped_pipelines(
        layout_root, name, num_classes, split, monkeypatch):
    dataset = build_dataset(name, split, layout_root, monkeypatch)
    assert len(dataset) == COUNTS[name][split == 'val']
    labels = dataset[0]['data_samples'].gt_sem_seg.data.numpy()
    values = set(np.unique(labels)) - {IGNORE_INDEX}
    assert values and max(values) < num_classes


@pytest.mark.parametrize('split', ['train', 'val'])
def test_imagenet_layout_goes_through_the_shipped_pipeline(
        layout_root, split, monkeypatch):
    dataset = build_dataset('imagenet', split, layout_root, monkeypatch)
    assert len(dataset) == 6 * COUNTS['imagenet'][split == 'val']
    sample = dataset[0]
    assert tuple(sample['inputs'].shape[-2:]) == (224, 224)


def test_rehearsal_launch_stops_every_process_after_the_checkpoint(tmp_path):
    """launch() kills the launcher's whole tree, a process that left its
    session (as torchrun's ranks do) included, once the awaited
    checkpoint is named the latest; and it reports their peak memory."""
    from mmsmlp.rehearsal import launch
    script = (
        "setsid python -c 'import time; x = bytearray(64 << 20); "
        "time.sleep(60)' & echo $! > rank.pid; sleep 1; "
        "echo epoch_1.pth > last_checkpoint; touch epoch_1.pth; sleep 60")
    step = launch(['bash', '-c', script],
                  tmp_path,
                  tmp_path / 'log',
                  stop_after=(tmp_path, 'epoch_1.pth'),
                  poll_seconds=0.2)
    assert step.returncode is None  # stopped, not exited
    assert step.seconds < 30
    assert step.peak_rss_mib > 64
    rank = int((tmp_path / 'rank.pid').read_text())
    assert not running(rank)


def running(pid, wait_seconds=5.0):
    """Whether ``pid`` still runs after ``wait_seconds`` (a killed process
    can stay a zombie where no init reaps it)."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            stat = Path(f'/proc/{pid}/stat').read_text()
        except OSError:
            return False
        if stat.rsplit(')', 1)[1].split()[0] == 'Z':
            return False
        time.sleep(0.1)
    return True


def test_a_smaller_rewrite_replaces_the_earlier_layout(tmp_path):
    """ADE20K is read by scanning folders: files of a larger earlier run
    must not join the dataset."""
    write_layouts(str(tmp_path), dict(ade20k=(3, 3)))
    ade = write_layouts(str(tmp_path), dict(ade20k=(2, 1)))['ade20k']
    assert len(list((ade / 'images' / 'validation').iterdir())) == 1
    assert len(list((ade / 'annotations' / 'training').iterdir())) == 2


def test_a_directory_not_written_here_is_refused_and_kept(tmp_path):
    real = tmp_path / 'data' / 'coco' / 'train2017'
    real.mkdir(parents=True)
    (real / '000000000009.jpg').write_bytes(b'a real image')
    with pytest.raises(FileExistsError, match='did not write'):
        write_layouts(str(tmp_path), dict(coco=(1, 1)))
    assert (real / '000000000009.jpg').read_bytes() == b'a real image'
