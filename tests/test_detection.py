# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""sMLPNet detectors in mmdet (Mask R-CNN, Cascade Mask R-CNN, Faster R-CNN,
RetinaNet): every shipped config builds and runs, the demo dataset generator
writes exact COCO annotations (or box-only ones), and the demo configs train
and evaluate with the real Runner and CocoMetric."""
import json
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from mmdet.apis import DetInferencer
from mmdet.registry import DATASETS, MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.runner import Runner

from mmsmlp.testing import run_demo_generator

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / 'configs' / 'mask_rcnn'
DETECTOR_DIRS = ('mask_rcnn', 'cascade_rcnn', 'faster_rcnn', 'retinanet')
DEMO_CONFIG = CONFIG_DIR / 'mask-rcnn_smlpnet-demo_fpn_shapes.py'
BOX_DEMO_CONFIG = (
    REPO / 'configs' / 'faster_rcnn' /
    'faster-rcnn_smlpnet-demo_fpn_shapes.py')
# Two sizes that are not multiples of 32, mixed in one batch.
IMAGE_SHAPES = [(3, 96, 120), (3, 130, 160)]


def shipped_configs():
    """Every detector config but the ms-crop-3x ones, which build the model
    of the 1x config of the same name (checked by the recipe tests)."""
    return sorted(
        path for name in DETECTOR_DIRS
        for path in (REPO / 'configs' / name).glob('*.py')
        if 'ms-crop-3x' not in path.name)


def demo_train_set(config_path, data_root):
    """The training set of a COCO config, on demo data in ``data_root``."""
    cfg = Config.fromfile(config_path)
    cfg.train_dataloader.dataset.update(
        data_root=str(data_root),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=('disc', 'square', 'triangle')))
    return DATASETS.build(cfg.train_dataloader.dataset)


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def build_detector(config_path):
    """The config's detector, without loading the (user-supplied) pretrained
    backbone weights and, in two-stage detectors, with fewer proposals and
    sampled RoIs than for COCO (1000 and 512): the same code path at a cost
    the CPU tests can afford."""
    cfg = Config.fromfile(config_path)
    assert cfg.model.backbone.type == 'SMLPNet'
    cfg.model.backbone.init_cfg = None
    train_cfg = cfg.model.train_cfg
    if 'rpn_proposal' in train_cfg:
        train_cfg.rpn_proposal.max_per_img = 64
        cfg.model.test_cfg.rpn.max_per_img = 64
        # Cascade R-CNN trains one RoI head per stage.
        stages = train_cfg.rcnn
        for stage in stages if isinstance(stages, list) else [stages]:
            stage.sampler.num = 32
    return MODELS.build(cfg.model), cfg


def detector_num_classes(cfg):
    head = cfg.model.get('roi_head', cfg.model).bbox_head
    return (head[0] if isinstance(head, list) else head).num_classes


@pytest.mark.parametrize(
    'config_path', shipped_configs(), ids=lambda path: path.stem)
def test_config_loss_and_predict_on_mixed_sizes(config_path):
    torch.manual_seed(0)
    model, cfg = build_detector(config_path)
    assert cfg.model.neck.in_channels == model.backbone.channels
    batch = demo_mm_inputs(
        batch_size=len(IMAGE_SHAPES),
        image_shapes=IMAGE_SHAPES,
        num_items=[2, 3],
        num_classes=detector_num_classes(cfg),
        with_mask=model.with_mask)

    model.train()
    data = model.data_preprocessor(batch, training=True)
    # Both images share one tensor padded to multiples of 32.
    assert data['inputs'].shape[-2:] == (160, 160)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    # Cascade R-CNN names its losses per stage: s0.loss_cls, ...
    loss_kinds = {name.split('.')[-1] for name in log_vars}
    assert {'loss_cls', 'loss_bbox'} <= loss_kinds
    assert ('loss_mask' in loss_kinds) == model.with_mask
    assert torch.isfinite(loss)
    loss.backward()
    first_conv = model.backbone.stages[0].downsample.weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, training=False)
        results = model(**data, mode='predict')
    assert len(results) == len(IMAGE_SHAPES)
    for result, (_, height, width) in zip(results, IMAGE_SHAPES):
        pred = result.pred_instances
        assert pred.bboxes.shape[1] == 4
        assert len(pred.scores) == len(pred.labels) == len(pred.bboxes)
        if model.with_mask:
            assert pred.masks.shape == (len(pred.bboxes), height, width)
        else:
            assert 'masks' not in pred


def test_coco_configs_follow_the_swin_recipe():
    cfg = Config.fromfile(CONFIG_DIR / 'mask-rcnn_smlpnet-t_fpn_1x_coco.py')
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        norm_decay_mult=0., bias_decay_mult=0.)
    assert cfg.train_dataloader.batch_size * 8 == (
        cfg.auto_scale_lr.base_batch_size)
    init_cfg = cfg.model.backbone.init_cfg
    assert (init_cfg.type, init_cfg.prefix) == ('Pretrained', 'backbone.')
    window = Config.fromfile(CONFIG_DIR /
                             'mask-rcnn_smlpnet-t-window_fpn_1x_coco.py')
    assert cfg.model.backbone.mixing_mode == 'resize'
    assert window.model.backbone.mixing_mode == 'window'
    crop_3x = Config.fromfile(CONFIG_DIR /
                              'mask-rcnn_smlpnet-b_fpn_ms-crop-3x_coco.py')
    assert crop_3x.train_cfg.max_epochs == 36
    assert crop_3x.model == Config.fromfile(
        CONFIG_DIR / 'mask-rcnn_smlpnet-b_fpn_1x_coco.py').model


def test_new_heads_follow_their_toolkit_configs():
    """Cascade Mask R-CNN as mmdet's ConvNeXt 3x config (three 4conv1fc GIoU
    box heads, 36 epochs of multi-scale crops) and a 1x variant; RetinaNet
    and Faster R-CNN on box-only data; all with our AdamW recipe."""
    configs = REPO / 'configs'
    cascade = Config.fromfile(
        configs / 'cascade_rcnn' /
        'cascade-mask-rcnn_smlpnet-s_fpn_4conv1fc-giou_ms-crop-3x_coco.py')
    heads = cascade.model.roi_head.bbox_head
    assert [head.bbox_coder.target_stds[0]
            for head in heads] == [0.1, 0.05, 0.033]
    for head in heads:
        assert (head.type, head.num_shared_convs, head.num_shared_fcs,
                head.loss_bbox.type) == ('ConvFCBBoxHead', 4, 1, 'GIoULoss')
    assert cascade.model.backbone.arch == 'small'
    assert cascade.train_cfg.max_epochs == 36
    cascade_1x = Config.fromfile(
        configs / 'cascade_rcnn' /
        'cascade-mask-rcnn_smlpnet-s_fpn_4conv1fc-giou_1x_coco.py')
    assert cascade_1x.train_cfg.max_epochs == 12
    assert cascade_1x.model == cascade.model
    for name in ('retinanet/retinanet_smlpnet-b_fpn_1x_coco.py',
                 'faster_rcnn/faster-rcnn_smlpnet-b_fpn_1x_coco.py'):
        cfg = Config.fromfile(configs / name)
        assert cfg.model.backbone.arch == 'base'
        assert cfg.val_evaluator.metric == 'bbox'
        load = cfg.train_dataloader.dataset.pipeline[1]
        assert load.type == 'LoadAnnotations' and not load.get('with_mask')
    for cfg in (cascade, cascade_1x, cfg):
        assert cfg.optim_wrapper.optimizer.type == 'AdamW'
        assert cfg.optim_wrapper.optimizer.lr == 1e-4


def test_box_only_configs_load_box_only_coco_data(tmp_path):
    """make_demo_det.py --box-only writes COCO annotations without
    segmentation, and the box-only configs' pipeline loads them."""
    run_demo_generator('det', tmp_path, '--num-train', '2', '--num-val', '1',
                       '--box-only')
    coco = json.loads(
        (tmp_path / 'annotations/instances_train.json').read_text())
    assert coco['annotations']
    assert not any('segmentation' in ann for ann in coco['annotations'])
    dataset = demo_train_set(
        REPO / 'configs/retinanet/retinanet_smlpnet-t_fpn_1x_coco.py',
        tmp_path)
    instances = dataset[0]['data_samples'].gt_instances
    assert len(instances.bboxes) > 0 and 'masks' not in instances


def test_ms_crop_3x_train_pipeline_loads_coco_format_data(tmp_path):
    """The multi-scale crop pipeline that the 3x configs define (the others
    use mmdet's own) runs on COCO-format annotations."""
    run_demo_generator('det', tmp_path, '--num-train', '2', '--num-val', '1')
    dataset = demo_train_set(
        CONFIG_DIR / 'mask-rcnn_smlpnet-t_fpn_ms-crop-3x_coco.py', tmp_path)
    for sample in (dataset[0], dataset[1]):
        image_size = tuple(sample['inputs'].shape[1:])
        assert 480 <= min(image_size) <= 800 and max(image_size) <= 1333
        masks = sample['data_samples'].gt_instances.masks
        assert (masks.height, masks.width) == image_size


def test_backbone_loads_an_mmpretrain_classifier_checkpoint(tmp_path):
    """The documented init_cfg: an ImageNet classifier checkpoint (keys
    'backbone.*' and 'head.*', sMLP weights for 224 px) initialises the
    backbone through prefix='backbone.', resized to the config's img_size."""
    cfg = Config.fromfile(DEMO_CONFIG)
    classifier_backbone = MODELS.build(dict(cfg.model.backbone, img_size=224))
    state_dict = {
        f'backbone.{name}': value
        for name, value in classifier_backbone.state_dict().items()
    }
    state_dict['head.fc.weight'] = torch.zeros(3, 256)
    checkpoint = tmp_path / 'classifier.pth'
    torch.save(dict(state_dict=state_dict), checkpoint)

    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    patch_embed = 'stages.0.downsample.weight'
    torch.testing.assert_close(detector.backbone.state_dict()[patch_embed],
                               classifier_backbone.state_dict()[patch_embed])
    mix_h = detector.backbone.stages[0].blocks[0].global_mixing.mix_h
    assert mix_h.weight.shape == (40, 40)  # 224 px grid 56 -> 160 px grid 40


def test_make_demo_det_is_exact_and_deterministic(tmp_path):
    args = ('--num-train', '3', '--num-val', '2', '--seed', '3')
    run_demo_generator('det', tmp_path / 'a', *args)
    run_demo_generator('det', tmp_path / 'b', *args)
    files = sorted(
        p.relative_to(tmp_path / 'a') for p in (tmp_path / 'a').rglob('*')
        if p.is_file())
    assert len(files) == 3 + 2 + 2
    for name in files:
        assert (tmp_path / 'a' /
                name).read_bytes() == (tmp_path / 'b' /
                                       name).read_bytes(), name

    coco = json.loads(
        (tmp_path / 'a/annotations/instances_train.json').read_text())
    assert [c['name']
            for c in coco['categories']] == ['disc', 'square', 'triangle']
    for image in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        assert anns
        masks = mask_utils.decode([a['segmentation'] for a in anns])
        assert masks.shape == (image['height'], image['width'], len(anns))
        assert masks.sum(axis=2).max() == 1  # visible parts do not overlap
        for ann, mask in zip(anns, np.moveaxis(masks, 2, 0)):
            ys, xs = np.nonzero(mask)
            assert ann['bbox'] == [
                xs.min(),
                ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1
            ]
            assert ann['area'] == mask.sum()


@pytest.mark.parametrize(
    'config, data_args, metric_names',
    [(DEMO_CONFIG, (), ('coco/bbox_mAP', 'coco/segm_mAP')),
     (BOX_DEMO_CONFIG, ('--box-only', ), ('coco/bbox_mAP', ))],
    ids=('mask-rcnn', 'box-only-faster-rcnn'))
def test_demo_config_trains_evaluates_and_infers(tmp_path, config, data_args,
                                                 metric_names):
    data_root = tmp_path / 'data'
    run_demo_generator('det', data_root, '--num-train', '8', '--num-val', '4',
                       *data_args)
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'work_dir')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.val_evaluator.ann_file = str(data_root /
                                     'annotations/instances_val.json')
    cfg.train_cfg.max_epochs = 2  # one batch of 8 per epoch
    cfg.train_cfg.val_interval = 100  # evaluated once, below
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1

    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val()
    assert {name
            for name in metrics if name.endswith('_mAP')} == set(metric_names)
    for name in metric_names:
        assert 0 <= metrics[name] <= 1

    # mmdet's inference API on the saved checkpoint, as docs/detection.md
    # shows it.
    inferencer = DetInferencer(
        model=cfg,
        weights=str(tmp_path / 'work_dir' / 'epoch_2.pth'),
        device='cpu',
        show_progress=False)
    image = data_root / 'val' / '00001.png'
    prediction = inferencer(str(image))['predictions'][0]
    assert len(prediction['labels']) == len(prediction['bboxes']) == len(
        prediction['scores'])
    if 'coco/segm_mAP' in metric_names:
        assert len(prediction['masks']) == len(prediction['labels'])
    else:
        assert 'masks' not in prediction
