# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Deployment with mmdeploy 1.3.1 to onnxruntime (docs/deployment.md): the
demo detector, instance segmenter and segmentor, trained briefly on the
generated demo data, exported by tools/deployment/deploy.py with the shipped
deploy configs and compared with PyTorch at input sizes below, at and above
the size the graph was traced at; the rewrites it relies on, alone."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from mmsmlp.apis import build_model

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / 'configs' / 'deploy'
MASK_RCNN_DEMO = (
    REPO / 'configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py')
FASTER_RCNN_DEMO = (
    REPO / 'configs/faster_rcnn/faster-rcnn_smlpnet-demo_fpn_shapes.py')
UPERNET_DEMO = REPO / 'configs/upernet/smlpnet-demo_upernet_shapes.py'
SEM_FPN_T = REPO / 'configs/sem_fpn/fpn_smlpnet-t_8xb4-40k_ade20k-512x512.py'
CLASSIFIER_DEMO = REPO / 'configs/smlpnet/smlpnet-demo_1xb32_shapes.py'
# The demo test pipelines resize images to the training size; the tests
# give images of the sizes they compare at instead.
NATIVE_SIZE = [
    'test_pipeline.1.scale=None', 'test_pipeline.1.scale_factor=1.0'
]


def run(*args, timeout=600):
    result = subprocess.run([sys.executable, *map(str, args)],
                            cwd=REPO,
                            capture_output=True,
                            text=True,
                            timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f'{args[0]} failed:\n{result.stderr[-4000:]}')
    return result.stdout


def train(config, work_dir, data_root, *options):
    """tools/train.py on the demo data at ``data_root``; the checkpoint."""
    run(
        REPO / 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', *options,
        *(f'{loader}.dataset.data_root={data_root}/'
          for loader in ('train_dataloader', 'val_dataloader',
                         'test_dataloader')))
    return (Path(work_dir) / 'last_checkpoint').read_text().strip()


def images_of_sizes(source, sizes, folder):
    """``source`` resized to each (height, width); their paths."""
    image = cv2.imread(str(source))
    paths = []
    for height, width in sizes:
        path = Path(folder) / f'{height}x{width}.png'
        cv2.imwrite(str(path), cv2.resize(image, (width, height)))
        paths.append(path)
    return paths


def deploy(deploy_cfg, model_cfg, checkpoint, traced, tested, work_dir,
           *options):
    """tools/deployment/deploy.py; its summary lines, one per tested image
    and the last."""
    output = run(REPO / 'tools/deployment/deploy.py', DEPLOY / deploy_cfg,
                 model_cfg, checkpoint, traced, '--test-img', *tested,
                 '--work-dir', work_dir, *options)
    lines = [
        line for line in output.splitlines()
        if '(input ' in line or line.startswith('deployed to')
    ]
    print('\n'.join(lines))
    return lines


@pytest.fixture(scope='module')
def det_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('det')
    run(REPO / 'tools/data/make_demo_det.py', '--out', root, '--num-train',
        '160', '--num-val', '2', '--seed', '0')
    return root


@pytest.fixture(scope='module')
def mask_rcnn(det_data, tmp_path_factory):
    """The Mask R-CNN demo after 100 iterations (5 epochs of 160 images),
    its warm-up shortened from 50 to 10 iterations."""
    work_dir = tmp_path_factory.mktemp('mask_rcnn')
    ann = det_data / 'annotations/instances_val.json'
    return train(MASK_RCNN_DEMO, work_dir, det_data, 'train_cfg.max_epochs=5',
                 'train_cfg.val_interval=5', f'val_evaluator.ann_file={ann}',
                 'default_hooks.checkpoint.interval=5',
                 'param_scheduler.0.end=10')


@pytest.mark.parametrize(
    'deploy_cfg, config, expected_lines', [
        ('mmdet/instance-seg/instance-seg_onnxruntime_dynamic.py',
         MASK_RCNN_DEMO, 'mask pixels agreeing'),
        ('mmdet/detection/detection_onnxruntime_dynamic.py', FASTER_RCNN_DEMO,
         'labels equal'),
    ],
    ids=['mask-rcnn', 'faster-rcnn'])
def test_dynamic_detector_agrees_with_pytorch_at_every_size(
        tmp_path, det_data, mask_rcnn, deploy_cfg, config, expected_lines):
    """Traced at 128x160, run at 96x128, 160x160 and 224x192 (the backbone's
    img_size is 160): every detection mmdet gives (scored >= 0.05), with its
    label, its box within 1e-3 px and its mask on >= 99.9% of the pixels.
    The Faster R-CNN demo is the Mask R-CNN demo without its mask head, so
    it takes the trained weights of the others."""
    traced, *tested = images_of_sizes(det_data / 'val/00001.png', [(128, 160),
                                                                   (96, 128),
                                                                   (160, 160),
                                                                   (224, 192)],
                                      tmp_path)
    lines = deploy(deploy_cfg, config, mask_rcnn, traced, tested, tmp_path,
                   '--min-score', '0.05', '--cfg-options', *NATIVE_SIZE)
    inputs = ['(input 96x128)', '(input 160x160)', '(input 224x192)']
    for line, size in zip(lines, inputs):
        assert size in line and expected_lines in line, lines
        assert int(line.split(': ')[1].split()[0]) > 0, line
    assert 'predictions agree with PyTorch' in lines[-1]


def test_static_detector_agrees_at_its_size(tmp_path, det_data, mask_rcnn):
    image, = images_of_sizes(det_data / 'val/00002.png', [(160, 128)],
                             tmp_path)
    lines = deploy('mmdet/detection/detection_onnxruntime_static.py',
                   FASTER_RCNN_DEMO, mask_rcnn, image, [image], tmp_path,
                   '--min-score', '0.05', '--cfg-options', *NATIVE_SIZE)
    assert '(input 160x128)' in lines[0] and 'labels equal' in lines[0]


def reduced_detector(config, folder):
    """A COCO config's detector with the demo's backbone and neck and 3
    classes, its Resize left out, random weights saved: config and
    checkpoint. RetinaNet's classifier starts at a 5% prior and spreads its
    scores, so that random weights detect above score_thr."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(
        arch=dict(embed_dims=32, depths=(1, 1, 2, 1), alpha=3),
        img_size=160,
        init_cfg=None,
        with_cp=False)
    cfg.model.neck.in_channels = [32, 64, 128, 256]
    if 'roi_head' in cfg.model:
        for head in cfg.model.roi_head.bbox_head:
            head.num_classes = 3
        cfg.model.roi_head.mask_head.num_classes = 3
    else:
        cfg.model.bbox_head.num_classes = 3
        cfg.model.bbox_head.init_cfg = dict(
            type='Normal',
            layer='Conv2d',
            std=0.01,
            override=dict(
                type='Normal', name='retina_cls', std=0.3, bias_prob=0.05))
    cfg.test_pipeline[1] = dict(
        type='Resize', scale_factor=1.0, keep_ratio=True)
    return save_random_model(cfg, folder)


def save_random_model(cfg, folder):
    config, checkpoint = Path(folder) / 'model.py', Path(folder) / 'model.pth'
    cfg.dump(config)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return config, checkpoint


@pytest.mark.parametrize(
    'deploy_cfg, config', [
        ('mmdet/instance-seg/instance-seg_onnxruntime_dynamic.py',
         'cascade_rcnn/'
         'cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou_1x_coco.py'),
        ('mmdet/detection/detection_onnxruntime_dynamic.py',
         'retinanet/retinanet_smlpnet-t_fpn_1x_coco.py'),
    ],
    ids=['cascade-mask-rcnn', 'retinanet'])
def test_dynamic_cascade_and_retinanet_agree_with_pytorch(
        tmp_path, det_data, deploy_cfg, config):
    """The other detector families, reduced, with random weights."""
    config, checkpoint = reduced_detector(REPO / 'configs' / config, tmp_path)
    traced, *tested = images_of_sizes(det_data / 'val/00001.png', [(128, 160),
                                                                   (96, 128),
                                                                   (224, 192)],
                                      tmp_path)
    lines = deploy(deploy_cfg, config, checkpoint, traced, tested, tmp_path,
                   '--min-score', '0.05')
    for line in lines[:-1]:
        assert int(line.split(': ')[1].split()[0]) > 0, line
    assert 'predictions agree with PyTorch' in lines[-1]


@pytest.fixture(scope='module')
def upernet(tmp_path_factory):
    """The UperNet demo after 300 iterations, and a validation image."""
    root = tmp_path_factory.mktemp('seg')
    run(REPO / 'tools/data/make_demo_seg.py', '--out', root, '--num-train',
        '64', '--num-val', '1', '--seed', '0')
    checkpoint = train(UPERNET_DEMO, tmp_path_factory.mktemp('upernet'), root,
                       'train_cfg.max_iters=300', 'train_cfg.val_interval=300',
                       'default_hooks.checkpoint.interval=300',
                       'param_scheduler.0.end=30',
                       'param_scheduler.1.begin=30',
                       'param_scheduler.1.end=300')
    return checkpoint, root / 'img_dir/val/00000.jpg'


def test_dynamic_upernet_agrees_with_pytorch_at_every_size(tmp_path, upernet):
    """Traced at the backbone's 128x128, run where the stride-32 map is
    3x4, 5x5 and 7x6: pyramid pooling into 1, 2, 3 and 6 bins exact (not
    only where the map is a multiple of 6), the maps agreeing on >= 99.9%
    of the pixels."""
    checkpoint, source = upernet
    traced, *tested = images_of_sizes(source,
                                      [(128, 128), (96, 128), (160, 160),
                                       (224, 192)], tmp_path)
    lines = deploy('mmseg/segmentation_onnxruntime_dynamic.py', UPERNET_DEMO,
                   checkpoint, traced, tested, tmp_path, '--cfg-options',
                   *NATIVE_SIZE)
    for line, size in zip(lines, ['96, 128', '160, 160', '224, 192']):
        assert f'({size}) map' in line, lines
        assert int(line.split(' map, ')[1].split()[0]) > 1, line  # classes
    assert 'predictions agree with PyTorch' in lines[-1]


def test_static_upernet_agrees_at_a_size_not_a_multiple_of_the_bins(
        tmp_path, upernet):
    """At 128x128 the stride-32 map is 4x4: mmdeploy's own pooling rewrite
    gives an AveragePool with kernel int(4 / 6) = 0 there."""
    checkpoint, image = upernet
    lines = deploy('mmseg/segmentation_onnxruntime_static.py', UPERNET_DEMO,
                   checkpoint, image, [image], tmp_path)
    assert '(128, 128) map' in lines[0]


def test_dynamic_semantic_fpn_agrees_with_pytorch_at_every_size(tmp_path):
    """Semantic FPN-T reduced (random weights): its heads' Upsample sizes
    follow the input in the graph."""
    cfg = Config.fromfile(SEM_FPN_T)
    cfg.model.backbone.update(
        arch=dict(embed_dims=16, depths=(1, 1, 2, 1), alpha=3),
        img_size=(128, 128),
        init_cfg=None)
    cfg.model.neck.in_channels = [16, 32, 64, 128]
    cfg.model.test_cfg = dict(mode='whole')  # what mmdeploy exports
    cfg.test_pipeline[1] = dict(
        type='Resize', scale_factor=1.0, keep_ratio=True)
    config, checkpoint = save_random_model(cfg, tmp_path)
    rng = np.random.default_rng(0)
    source = tmp_path / 'source.png'
    cv2.imwrite(str(source), rng.integers(0, 255, (128, 128, 3), np.uint8))
    traced, *tested = images_of_sizes(source,
                                      [(128, 128), (96, 128), (160, 160),
                                       (224, 192)], tmp_path)
    lines = deploy('mmseg/segmentation_onnxruntime_dynamic.py', config,
                   checkpoint, traced, tested, tmp_path)
    for line, size in zip(lines, ['96, 128', '160, 160', '224, 192']):
        assert f'({size}) map' in line, lines


def test_dynamic_classifier_agrees_with_pytorch_at_every_size(tmp_path):
    """The demo classifier (img_size 64, random weights, its head's
    spread so that classes score apart) without its resize and crop, traced
    at 64x64, run at 48x80 and 96x128."""
    cfg = Config.fromfile(CLASSIFIER_DEMO)
    cfg.model.head.init_cfg = dict(type='Normal', layer='Linear', std=1.)
    cfg.test_pipeline = [
        step for step in cfg.test_pipeline
        if step['type'] not in ('ResizeEdge', 'CenterCrop')
    ]
    config, checkpoint = save_random_model(cfg, tmp_path)
    rng = np.random.default_rng(0)
    source = tmp_path / 'source.png'
    cv2.imwrite(str(source), rng.integers(0, 255, (64, 64, 3), np.uint8))
    traced, *tested = images_of_sizes(source, [(64, 64), (48, 80), (96, 128)],
                                      tmp_path)
    lines = deploy('mmpretrain/classification_onnxruntime_dynamic.py', config,
                   checkpoint, traced, tested, tmp_path)
    for line, size in zip(lines, ['48x80', '96x128']):
        assert f'(input {size}): top class' in line, lines


def test_sliding_window_segmentor_is_refused_with_the_fix(tmp_path):
    """mmdeploy exports whole-image inference; the shipped ADE20K configs
    test with a sliding window."""
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    checkpoint = tmp_path / 'empty.pth'
    torch.save({'state_dict': {}}, checkpoint)
    result = subprocess.run([
        sys.executable, REPO / 'tools/deployment/deploy.py',
        DEPLOY / 'mmseg/segmentation_onnxruntime_dynamic.py', SEM_FPN_T,
        checkpoint, image, '--work-dir', tmp_path
    ],
                            cwd=REPO,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode != 0
    assert "model.test_cfg.mode='slide'" in result.stderr
    assert '--cfg-options model.test_cfg.mode=whole' in result.stderr


class Pooling(nn.Module):

    def __init__(self, bins):
        super().__init__()
        self.bins = bins

    def forward(self, x):
        from mmsmlp.deployment.mmdeploy_support import \
            adaptive_avg_pool2d_exact
        return adaptive_avg_pool2d_exact(x, self.bins)


@pytest.mark.parametrize('bins', [1, 2, 3, 6, (2, 5)])
def test_exact_adaptive_pooling_at_every_size(tmp_path, bins):
    """Against PyTorch's adaptive pooling, eager and as a graph traced at
    one size, at sizes smaller than the bins, multiples of them and not."""
    module = Pooling(bins)
    sizes = [(4, 4), (1, 7), (5, 6), (12, 18), (13, 7)]
    for height, width in sizes:
        x = torch.randn(2, 3, height, width)
        torch.testing.assert_close(module(x), F.adaptive_avg_pool2d(x, bins))
    path = tmp_path / 'pool.onnx'
    torch.onnx.export(
        module, (torch.randn(1, 3, 9, 9), ),
        path,
        input_names=['x'],
        dynamic_axes={'x': {
            0: 'n',
            2: 'h',
            3: 'w'
        }},
        opset_version=17,
        dynamo=False)
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    for height, width in sizes:
        x = torch.randn(2, 3, height, width)
        got, = session.run(None, {'x': x.numpy()})
        torch.testing.assert_close(
            torch.from_numpy(got), F.adaptive_avg_pool2d(x, bins))


def test_mmdeploy_fixes_apply_only_where_mmdeploy_is_used():
    """Importing mmsmlp (and its ONNX export) leaves torch as it is; the
    deployment module fixes what mmdeploy 1.3.1 needs of torch >= 2.9."""
    probe = '''
import torch, torch.onnx.symbolic_opset9 as opset9
import mmsmlp, mmsmlp.deployment
before = (torch.onnx.export, hasattr(opset9, '_cast_Long'))
import mmsmlp.deployment.mmdeploy_support
print(before[0] is torch.onnx.export, before[1], hasattr(opset9, '_cast_Long'))
'''
    assert run('-c', probe).split() == ['False', 'False', 'True']


def test_an_fx_wrap_during_an_export_survives_mmdeploys_rewriter():
    """A torch.fx.wrap while mmdeploy's rewriters are active (timm's, when an
    export imports it) neither breaks the rewriter's exit nor is undone."""
    probe = '''
import torch.fx
from torch.fx._symbolic_trace import _wrapped_fns_to_patch
from mmdeploy.core import RewriterContext
import mmsmlp.deployment.mmdeploy_support

def registered_during_export(x):
    return x

with RewriterContext(cfg={}, backend='onnxruntime'):
    torch.fx.wrap('registered_during_export')
print(any(name == 'registered_during_export'
          for _, name in _wrapped_fns_to_patch))
'''
    assert run('-c', probe).split() == ['True']
