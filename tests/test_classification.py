# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The pipelines of the mmpretrain configs of configs/smlpnet run, and
the demo config trains, evaluates and serves predictions end to end."""
import filecmp
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmsmlp  # noqa: F401  (registers SMLPNet)
from mmsmlp.datasets.demo import classification as demo_cls

REPO = Path(__file__).parents[1]
CONFIG_DIR = REPO / 'configs' / 'smlpnet'
DEMO_CONFIG = CONFIG_DIR / 'smlpnet-demo_1xb32_shapes.py'

# Their parameter counts are checked against the metafile by
# tests/test_model_index.py.
CONFIGS = sorted(path.name for path in CONFIG_DIR.glob('*.py'))


@pytest.mark.parametrize('name', CONFIGS)
def test_pipelines_run_on_an_image(tmp_path, name):
    cfg = Config.fromfile(CONFIG_DIR / name)
    init_default_scope('mmpretrain')
    rng = np.random.default_rng(0)
    image_path = tmp_path / 'image.png'
    cv2.imwrite(
        str(image_path), rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    crop = cfg.model.backbone.img_size

    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        pipeline = Compose(loader.dataset.pipeline)
        packed = pipeline(dict(img_path=str(image_path), gt_label=1))
        assert packed['inputs'].shape == (3, crop, crop)
        assert packed['inputs'].dtype == torch.uint8
        assert packed['data_samples'].gt_label.tolist() == [1]


def test_demo_generator_is_deterministic(tmp_path):
    """The same seed gives the same files, from the package function and
    from tools/data/make_demo_cls.py; another seed other files."""
    subprocess.run([
        sys.executable, 'tools/data/make_demo_cls.py', '--out',
        str(tmp_path / 'a'), '--seed', '0', '--num-train', '2', '--num-val',
        '1', '--size', '32'
    ],
                   cwd=REPO,
                   check=True,
                   capture_output=True,
                   timeout=300)
    for out, seed in (('b', 0), ('c', 1)):
        demo_cls.draw_dataset(
            str(tmp_path / out), seed, num_train=2, num_val=1, size=32)
    files = sorted(
        p.relative_to(tmp_path / 'a') for p in (tmp_path / 'a').rglob('*.png'))
    assert len(files) == 3 * len(demo_cls.CLASSES)
    assert {f.parts[1] for f in files} == set(demo_cls.CLASSES)
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / 'a', tmp_path / 'b', files, shallow=False)
    assert not mismatch and not errors
    _, mismatch, _ = filecmp.cmpfiles(
        tmp_path / 'a', tmp_path / 'c', files, shallow=False)
    assert mismatch


def test_demo_generator_refuses_bad_options(tmp_path):
    with pytest.raises(ValueError, match='num_val must be >= 1, got 0'):
        demo_cls.draw_dataset(str(tmp_path), num_val=0)
    with pytest.raises(ValueError, match=r'size must be >= 32 \(the backbone'):
        demo_cls.draw_dataset(str(tmp_path), size=16)
    assert not any(tmp_path.iterdir())


def demo_cfg(data_root, work_dir):
    """The demo config on a tiny dataset: 2 epochs of 3 iterations."""
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.train_dataloader.batch_size = 8
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_demo_config_trains_evaluates_and_infers(tmp_path):
    from mmpretrain.apis import ImageClassificationInferencer
    data_root = tmp_path / 'cls'
    demo_cls.draw_dataset(str(data_root), num_train=4, num_val=2)
    runner = Runner.from_cfg(demo_cfg(data_root, tmp_path / 'work'))
    initial = {k: v.clone() for k, v in runner.model.state_dict().items()}

    runner.train()

    changed = [
        k for k, v in runner.model.state_dict().items()
        if not torch.equal(v, initial[k])
    ]
    assert any(k.startswith('backbone.stages.0') for k in changed)
    assert any(k.startswith('head.fc') for k in changed)
    metrics = runner.test()
    assert 0 <= metrics['accuracy/top1'] <= 100
    checkpoint = tmp_path / 'work' / 'epoch_2.pth'
    assert checkpoint.exists()

    inferencer = ImageClassificationInferencer(
        str(DEMO_CONFIG), pretrained=str(checkpoint), device='cpu')
    image = next((data_root / 'val' / 'ring').glob('*.png'))
    result = inferencer(str(image))[0]
    assert result['pred_class'] in demo_cls.CLASSES
    assert result['pred_scores'].shape == (len(demo_cls.CLASSES), )
