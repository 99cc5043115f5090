# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""UperNet and Semantic FPN with the sMLPNet pyramid in mmseg: the shipped
configs, the backbone's resize-on-load of 224 ImageNet weights (to square and
non-square grids), test-time augmentation and the CPU demo (data generator,
training, IoUMetric, inference)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.apis import MMSegInferencer
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmsmlp  # noqa: F401  registers SMLPNet
from mmsmlp.models import SMLPNet
from mmsmlp.testing import run_demo_generator

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / 'configs' / 'upernet'
SEM_FPN_DIR = REPO / 'configs' / 'sem_fpn'
CONFIGS = sorted([*CONFIG_DIR.glob('*.py'), *SEM_FPN_DIR.glob('*.py')])
ADE20K_T = CONFIG_DIR / 'smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py'
CITYSCAPES_T = CONFIG_DIR / 'smlpnet-t_upernet_4xb2-80k_cityscapes-512x1024.py'
DEMO = CONFIG_DIR / 'smlpnet-demo_upernet_shapes.py'

# Small inputs keep the 55-99M parameter ADE20K models fast on the CPU; the
# backbone keeps its configured reference grid (img_size), so the size-tied
# sMLP weights are resized at run time exactly as for any non-reference input.
TRAIN_SIZE = (64, 64)
TEST_SHAPE = (64, 96)
SLIDE_CFG = dict(mode='slide', crop_size=(48, 48), stride=(32, 32))


def load_config(path, **test_cfg):
    """A shipped config that builds without the ImageNet checkpoint."""
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = TRAIN_SIZE
    if test_cfg:
        cfg.model.test_cfg = test_cfg
    return cfg


def build_segmentor(cfg):
    init_default_scope('mmseg')
    return MODELS.build(cfg.model)


def random_batch(num_classes, shape, num_images=2):
    """Raw uint8 images and label maps, as the dataloader would give them."""
    generator = torch.Generator().manual_seed(0)
    inputs, data_samples = [], []
    for _ in range(num_images):
        inputs.append(
            torch.randint(
                0, 256, (3, *shape), generator=generator, dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, *shape), generator=generator)
        sample = SegDataSample(gt_sem_seg=PixelData(data=label))
        sample.set_metainfo(dict(ori_shape=shape, img_shape=shape))
        data_samples.append(sample)
    return dict(inputs=inputs, data_samples=data_samples)


def segmentor_num_classes(cfg):
    return cfg.model.decode_head.num_classes


@pytest.mark.parametrize('config', CONFIGS, ids=lambda path: path.stem)
def test_config_loss_and_predict(config):
    cfg = load_config(config)
    model = build_segmentor(cfg)
    assert isinstance(model.backbone, SMLPNet)
    num_classes = segmentor_num_classes(cfg)

    model.train()
    data = model.data_preprocessor(
        random_batch(num_classes, TRAIN_SIZE), training=True)
    losses = model(**data, mode='loss')
    assert 'decode.loss_ce' in losses
    assert ('aux.loss_ce' in losses) == model.with_auxiliary_head
    total = sum(value for key, value in losses.items() if 'loss' in key)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.stages[0].downsample.weight.grad.abs().sum() > 0

    model.eval()
    for test_cfg in (dict(mode='whole'), SLIDE_CFG):
        model.test_cfg = Config(test_cfg)
        with torch.no_grad():
            results = model.test_step(random_batch(num_classes, TEST_SHAPE))
        assert len(results) == 2
        for result in results:
            pred = result.pred_sem_seg.data
            assert pred.shape == (1, *TEST_SHAPE)
            assert 0 <= pred.min() and pred.max() < num_classes
            assert result.seg_logits.data.shape == (num_classes, *TEST_SHAPE)


def test_ade20k_configs_train_and_test_as_documented():
    """The choices the configs state: 512 reference grid, sliding-window
    testing, SyncBN in the heads, AdamW without decay on norms and biases,
    warm-up then poly decay, 8 GPUs x 2 images."""
    for name, channels in (('t', 80), ('s', 96), ('b', 112)):
        cfg = Config.fromfile(
            str(CONFIG_DIR / f'smlpnet-{name}_upernet_8xb2-160k_ade20k-'
                '512x512.py'))
        backbone = cfg.model.backbone
        assert backbone.type == 'SMLPNet'
        assert tuple(backbone.img_size) == (512, 512)
        assert backbone.init_cfg.prefix == 'backbone.'
        assert cfg.model.decode_head.in_channels == [
            channels * 2**i for i in range(4)
        ]
        assert cfg.model.auxiliary_head.in_index == 2
        assert cfg.model.auxiliary_head.in_channels == channels * 4
        assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'
        assert cfg.model.test_cfg == dict(
            mode='slide', crop_size=(512, 512), stride=(341, 341))
        assert cfg.optim_wrapper.optimizer == dict(
            type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)
        assert cfg.optim_wrapper.paramwise_cfg == dict(
            norm_decay_mult=0., bias_decay_mult=0.)
        warmup, poly = cfg.param_scheduler
        assert (warmup.type, warmup.end) == ('LinearLR', 1500)
        assert (poly.type, poly.begin, poly.end) == ('PolyLR', 1500, 160000)
        assert cfg.train_cfg.max_iters == 160000
        assert cfg.train_dataloader.batch_size == 2


def test_new_configs_follow_their_toolkit_configs():
    """Semantic FPN with PoolFormer's 40k ADE20K recipe; UperNet on
    Cityscapes with a non-square 512x1024 reference grid, tested in windows
    of that size."""
    fpn = Config.fromfile(
        str(SEM_FPN_DIR / 'fpn_smlpnet-s_8xb4-40k_ade20k-512x512.py'))
    assert fpn.model.neck.in_channels == [96, 192, 384, 768]
    assert fpn.optim_wrapper.optimizer == dict(
        type='AdamW', lr=2e-4, weight_decay=1e-4)
    assert fpn.train_cfg.max_iters == fpn.param_scheduler[0].end == 40000
    assert fpn.train_dataloader.batch_size == 4
    cityscapes = Config.fromfile(str(CITYSCAPES_T))
    assert tuple(cityscapes.model.backbone.img_size) == (512, 1024)
    assert cityscapes.model.test_cfg == dict(
        mode='slide', crop_size=(512, 1024), stride=(256, 512))
    assert cityscapes.train_cfg.max_iters == 80000
    assert cityscapes.param_scheduler[1].end == 80000
    assert cityscapes.model.decode_head.num_classes == 19


@pytest.mark.parametrize(
    'config, stage0_grid', [(ADE20K_T, (128, 128)),
                            (CITYSCAPES_T, (128, 256))],
    ids=('ade20k', 'cityscapes'))
def test_pretrained_224_checkpoint_resized_on_load(tmp_path, config,
                                                   stage0_grid):
    """init_cfg loads an ImageNet classifier checkpoint made at 224 into the
    backbone built for the crop size (512x512, or non-square 512x1024):
    plain weights unchanged, sMLP weights resampled to each axis."""
    classifier_backbone = SMLPNet('tiny', img_size=224)
    checkpoint = tmp_path / 'smlpnet-t_in1k.pth'
    torch.save(
        dict(
            state_dict={
                f'backbone.{key}': value
                for key, value in classifier_backbone.state_dict().items()
            }), checkpoint)
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    segmentor = build_segmentor(cfg)
    segmentor.backbone.init_weights()

    loaded = segmentor.backbone.state_dict()
    source = classifier_backbone.state_dict()
    key = 'stages.1.blocks.0.local_mixing.conv.weight'
    torch.testing.assert_close(loaded[key], source[key])
    height, width = stage0_grid
    for axis, length in (('h', height), ('w', width)):
        mix = f'stages.0.blocks.0.global_mixing.mix_{axis}.weight'
        assert source[mix].shape == (56, 56)
        assert loaded[mix].shape == (length, length)
    last = 'stages.3.blocks.0.global_mixing.mix_w.weight'
    assert loaded[last].shape == (width // 8, width // 8)


def write_image_and_label(directory, shape=TEST_SHAPE):
    rng = np.random.default_rng(0)
    image = directory / 'image.png'
    label = directory / 'label.png'
    cv2.imwrite(str(image), rng.integers(0, 256, (*shape, 3), np.uint8))
    cv2.imwrite(str(label), rng.integers(0, 150, shape, np.uint8))
    return image, label


def test_ade20k_tta(tmp_path):
    """mmseg's multi-scale + flip TTA of the ADE20K base, on our model."""
    cfg = load_config(ADE20K_T, **SLIDE_CFG)
    init_default_scope('mmseg')
    tta_model = MODELS.build(dict(cfg.tta_model, module=cfg.model)).eval()
    image, label = write_image_and_label(tmp_path)
    pipeline = Compose(cfg.tta_pipeline)
    sample = pipeline(
        dict(
            img_path=str(image),
            seg_map_path=str(label),
            reduce_zero_label=True,
            seg_fields=[]))
    with torch.no_grad():
        results = tta_model.test_step(pseudo_collate([sample]))
    assert len(sample['inputs']) == 2 * len(cfg.img_ratios)
    pred = results[0].pred_sem_seg.data
    assert pred.shape == (1, *TEST_SHAPE)
    assert pred.max() < segmentor_num_classes(cfg)


def make_demo_seg(out, num_train, num_val):
    run_demo_generator('seg', out, '--num-train', str(num_train), '--num-val',
                       str(num_val))


def test_make_demo_seg_is_deterministic(tmp_path):
    for name in ('a', 'b'):
        make_demo_seg(tmp_path / name, num_train=3, num_val=2)
    files = sorted(
        path.relative_to(tmp_path / 'a')
        for path in (tmp_path / 'a').rglob('*') if path.is_file())
    assert len(files) == 2 * (3 + 2)
    for path in files:
        assert (tmp_path / 'a' / path).read_bytes() == (tmp_path / 'b' /
                                                        path).read_bytes()
    labels = cv2.imread(
        str(tmp_path / 'a/ann_dir/train/00000.png'), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.shape == (128, 128)
    assert set(np.unique(labels)) <= {0, 1, 2, 3}


def demo_config(data_root, work_dir, max_iters):
    cfg = Config.fromfile(str(DEMO))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(data_root)
        cfg[f'{split}_dataloader'].batch_size = 4
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.param_scheduler = [cfg.param_scheduler[0]]  # warm-up only
    return cfg


def test_mixing_mode_study_trains_and_tabulates_both_modes(tmp_path):
    """tools/analysis_tools/mixing_mode_study.py on a tiny demo: one seed,
    two test sizes. At the training size the grid is the reference grid, so
    the two modes are the same model and must score the same."""
    data_root = tmp_path / 'seg'
    make_demo_seg(data_root, num_train=4, num_val=2)
    options = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=2'
    ]
    result = subprocess.run([
        sys.executable, 'tools/analysis_tools/mixing_mode_study.py', '--tasks',
        'segmentation', '--seeds', '0', '--test-scales', '1', '1.5',
        '--work-dir',
        str(tmp_path / 'study'), '--cfg-options', *options
    ],
                            cwd=REPO,
                            env=dict(os.environ, OMP_NUM_THREADS='1'),
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp_path / 'study' / 'results.json') as file:
        runs = json.load(file)['runs']
    miou = {
        (run['mode'], run['test_scale']): run['metrics']['mIoU']
        for run in runs
    }
    assert set(miou) == {(mode, scale)
                         for mode in ('window', 'resize')
                         for scale in (1.0, 1.5)}
    assert miou['window', 1.0] == miou['resize', 1.0]
    assert '| segmentation | resize | 1.5x | 1 | mIoU |' in result.stdout


def test_demo_trains_evaluates_and_infers(tmp_path):
    data_root = tmp_path / 'seg'
    make_demo_seg(data_root, num_train=8, num_val=4)
    cfg = demo_config(data_root, tmp_path / 'work', max_iters=3)

    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc'}
    assert 0 <= metrics['mIoU'] <= 100
    checkpoint = tmp_path / 'work' / 'iter_3.pth'
    assert checkpoint.is_file()

    # Multi-scale + flip TTA from the ADE20K base, as tools/test.py --tta.
    tta_cfg = demo_config(data_root, tmp_path / 'tta', max_iters=3)
    tta_cfg.test_dataloader.dataset.pipeline = tta_cfg.tta_pipeline
    tta_cfg.model = dict(tta_cfg.tta_model, module=tta_cfg.model)
    tta_cfg.load_from = str(checkpoint)
    tta_metrics = Runner.from_cfg(tta_cfg).test()
    assert 0 <= tta_metrics['mIoU'] <= 100

    inferencer = MMSegInferencer(
        model=str(DEMO), weights=str(checkpoint), device='cpu')
    image = data_root / 'img_dir' / 'val' / '00000.jpg'
    result = inferencer(str(image), return_datasamples=True)
    assert result.pred_sem_seg.data.shape == (1, 128, 128)
    assert inferencer.model.dataset_meta['classes'][0] == 'background'
