# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The "Train on your own data" configs of configs/_examples_, as the docs
show them, train and evaluate on data that the demo generators write in each
toolkit's format, in a user's project folder (data/ taken from the current
directory), starting from the official sMLPNet-S weights as the configs say
(random weights in SPACH's format where torch hub caches the release URL).
Only the length of training is cut."""
import json
from pathlib import Path

import cv2
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmsmlp  # noqa: F401  (mmpretrain model names, SMLPNet)
from mmsmlp.testing import run_demo_generator

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / 'configs' / '_examples_'
STEM = 'backbone.stages.0.downsample.weight'


@pytest.fixture
def project(tmp_path, monkeypatch, spach_hub):
    """The current directory of a user's project; the official sMLPNet-S
    weights that the configs start from are in torch hub's cache."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load_short(name: str,
               project: Path,
               batch_size: int = 1,
               epochs: int = 1) -> Config:
    """The example config, trained for ``epochs`` epochs (or one iteration)
    of the given batch size, then validated once."""
    cfg = Config.fromfile(EXAMPLES / name)
    cfg.work_dir = str(project / 'work_dirs' / Path(name).stem)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.update(
            batch_size=batch_size, num_workers=0, persistent_workers=False)
    if 'max_epochs' in cfg.train_cfg:
        cfg.train_cfg.update(max_epochs=epochs, val_interval=epochs)
    else:
        cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    return cfg


def train_and_test(cfg: Config) -> tuple:
    """Train, then test; the trained model and the test metrics."""
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.model, runner.test()


def assert_started_from(model, official) -> None:
    """The backbone was initialised from the official model's weights (then
    trained a few steps at a warm-up learning rate)."""
    stem = official.state_dict()['to_patch_embedding.0.0.weight']
    assert torch.allclose(model.state_dict()[STEM], stem, atol=1e-2)


@pytest.mark.slow
def test_classification_from_class_folders(project, spach_hub):
    run_demo_generator('cls', project / 'data' / 'my_cls', '--num-train', '1',
                       '--num-val', '1')
    # Three epochs of one batch: the schedule starts its cosine decay after
    # two.
    cfg = load_short(
        'smlpnet-small_custom-cls.py', project, batch_size=6, epochs=3)
    model, metrics = train_and_test(cfg)
    assert model.head.fc.out_features == 6
    assert model.backbone.img_size == (64, 64)
    assert_started_from(model, spach_hub.small)
    assert 0 <= metrics['accuracy/top1'] <= 100


@pytest.mark.slow
def test_classification_of_small_grayscale_images(project):
    root = project / 'data' / 'my_cls'
    run_demo_generator('cls', root, '--num-train', '1', '--num-val', '1')
    for path in root.rglob('*.png'):  # as 28 x 28 grayscale images
        gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(path), cv2.resize(gray, (28, 28)))
    cfg = load_short(
        'smlpnet-small_custom-cls-gray-28px.py',
        project,
        batch_size=6,
        epochs=3)

    init_default_scope('mmpretrain')
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    image = next(root.rglob('*.png'))
    assert pipeline(dict(img_path=str(image)))['inputs'].shape == (1, 32, 32)
    model, metrics = train_and_test(cfg)
    assert model.backbone.in_channels == 1
    assert 0 <= metrics['accuracy/top1'] <= 100


@pytest.mark.slow
def test_detection_on_coco_instance_masks(project, spach_hub):
    run_demo_generator('det', project / 'data' / 'my_coco', '--num-train', '1',
                       '--num-val', '1')
    cfg = load_short('mask-rcnn_smlpnet-s_fpn_custom-coco.py', project)
    model, metrics = train_and_test(cfg)
    assert model.roi_head.bbox_head.num_classes == 3
    assert_started_from(model, spach_hub.small)
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)


@pytest.mark.slow
def test_detection_on_coco_boxes_without_masks(project):
    root = project / 'data' / 'my_coco'
    run_demo_generator('det', root, '--num-train', '1', '--num-val', '1')
    for split in ('train', 'val'):
        path = root / 'annotations' / f'instances_{split}.json'
        coco = json.loads(path.read_text())
        for annotation in coco['annotations']:
            del annotation['segmentation']
        path.write_text(json.dumps(coco))
    cfg = load_short('mask-rcnn_smlpnet-s_fpn_custom-coco-boxes.py', project)
    model, metrics = train_and_test(cfg)
    assert not model.roi_head.with_mask
    assert 'coco/bbox_mAP' in metrics and 'coco/segm_mAP' not in metrics


@pytest.mark.slow
def test_segmentation_on_png_label_maps(project, spach_hub):
    run_demo_generator('seg', project / 'data' / 'my_seg', '--num-train', '2',
                       '--num-val', '1')
    # Batches of two: UperNet's pooling module normalises 1 x 1 maps.
    cfg = load_short('smlpnet-s_upernet_custom-seg.py', project, batch_size=2)
    model, metrics = train_and_test(cfg)
    assert model.decode_head.num_classes == 4
    assert_started_from(model, spach_hub.small)
    assert 0 <= metrics['mIoU'] <= 100


DOCUMENTED_IN = {
    'smlpnet-small_custom-cls.py': 'classification.md',
    'smlpnet-small_custom-cls-gray-28px.py': 'classification.md',
    'mask-rcnn_smlpnet-s_fpn_custom-coco.py': 'detection.md',
    'mask-rcnn_smlpnet-s_fpn_custom-coco-boxes.py': 'detection.md',
    'smlpnet-s_upernet_custom-seg.py': 'segmentation.md',
}


def test_docs_show_the_example_configs_as_they_are():
    assert {path.name for path in EXAMPLES.glob('*.py')} == set(DOCUMENTED_IN)
    for name, doc in DOCUMENTED_IN.items():
        config = (EXAMPLES / name).read_text()
        shown = f'# configs/_examples_/{name}\n{config}'
        assert shown in (REPO / 'docs' / doc).read_text(), (
            f'docs/{doc} does not show configs/_examples_/{name} as it is')
