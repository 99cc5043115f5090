# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""SMLPNet inside real mmpretrain, mmdet and mmseg models, and mmengine
checkpoints on the installed torch."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmsmlp  # noqa: F401  (registers SMLPNet, allow-lists checkpoints)

SMALL_BACKBONE = dict(
    type='SMLPNet', arch=dict(embed_dims=8, depths=(1, 1, 1, 1)), img_size=64)
CHANNELS = [8, 16, 32, 64]


def build(scope: str, cfg: dict):
    init_default_scope(scope)
    registry = {
        'mmpretrain': 'mmpretrain.registry',
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry',
    }[scope]
    return __import__(registry, fromlist=['MODELS']).MODELS.build(cfg)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_registered_without_scope_prefix(scope):
    backbone = build(scope, dict(SMALL_BACKBONE))
    assert type(backbone).__name__ == 'SMLPNet'


def small_classifier_cfg():
    return dict(
        type='ImageClassifier',
        backbone=SMALL_BACKBONE,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=5,
            in_channels=64,
            loss=dict(type='CrossEntropyLoss')),
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=5))


def test_mmpretrain_image_classifier_step():
    from mmpretrain.structures import DataSample
    model = build('mmpretrain', small_classifier_cfg())
    batch = dict(
        inputs=[
            torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(2)])
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    losses['loss'].backward()
    assert model.backbone.stages[0].downsample.weight.grad is not None
    model.eval()
    with torch.no_grad():
        preds = model.test_step(batch)
    assert preds[0].pred_score.shape == (5, )


def test_mmdet_mask_rcnn_step(tmp_path):
    from mmdet.testing import demo_mm_inputs
    config = tmp_path / 'mask_rcnn.py'
    config.write_text(
        "_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'\n"
        f'model = dict(backbone=dict(_delete_=True, **{SMALL_BACKBONE!r}),\n'
        f'             neck=dict(in_channels={CHANNELS!r}))\n')
    model = build('mmdet', Config.fromfile(config).model)
    batch = demo_mm_inputs(
        2, [(3, 96, 128), (3, 80, 100)],
        num_items=[2, 1],
        num_classes=80,
        with_mask=True)
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert model.backbone.stages[3].downsample.weight.grad is not None
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    assert 'masks' in results[0].pred_instances


def test_mmseg_upernet_step(tmp_path):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    config = tmp_path / 'upernet.py'
    config.write_text(
        "_base_ = 'mmseg::_base_/models/upernet_swin.py'\n"
        "norm_cfg = dict(type='BN', requires_grad=True)\n"
        f'model = dict(backbone=dict(_delete_=True, **{SMALL_BACKBONE!r}),\n'
        '             data_preprocessor=dict(size=(64, 96)),\n'
        f'             decode_head=dict(in_channels={CHANNELS!r},\n'
        '                              channels=16,\n'
        '                              num_classes=4, norm_cfg=norm_cfg),\n'
        '             auxiliary_head=dict(in_channels=32, channels=8,\n'
        '                                 num_classes=4,\n'
        '                                 norm_cfg=norm_cfg))\n')
    model = build('mmseg', Config.fromfile(config).model)
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 64, 96)))
        samples.append(sample)
    batch = dict(
        inputs=[
            torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=samples)
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert model.backbone.stages[2].downsample.weight.grad is not None
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    assert results[0].pred_sem_seg.data.shape == (1, 64, 96)


def test_mmengine_checkpoint_saves_loads_and_resumes(tmp_path):
    """A Runner checkpoint (message hub of HistoryBuffers, numpy scalars,
    optimizer and scheduler state) loads under torch's default
    weights_only, and a second Runner resumes from it."""
    import mmcv
    import numpy as np
    from mmengine.runner import Runner
    from mmpretrain.datasets import CustomDataset  # noqa: F401
    for cls in range(2):
        folder = tmp_path / 'data' / f'class{cls}'
        folder.mkdir(parents=True)
        for i in range(4):
            image = np.full((64, 64, 3), 60 + 120 * cls, np.uint8)
            mmcv.imwrite(image, str(folder / f'{i}.png'))

    def make_runner(max_iters, resume):
        init_default_scope('mmpretrain')
        return Runner(
            model=small_classifier_cfg() | dict(
                head=dict(type='LinearClsHead', num_classes=2,
                          in_channels=64)),
            work_dir=str(tmp_path / 'work'),
            train_dataloader=dict(
                batch_size=2,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=True),
                dataset=dict(
                    type='CustomDataset',
                    data_root=str(tmp_path / 'data'),
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='PackInputs')
                    ])),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            param_scheduler=dict(
                type='CosineAnnealingLR', by_epoch=False, T_max=4),
            train_cfg=dict(by_epoch=False, max_iters=max_iters),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=2, by_epoch=False)),
            randomness=dict(seed=0),
            resume=resume,
            default_scope='mmpretrain')

    make_runner(2, resume=False).train()
    checkpoint = torch.load(tmp_path / 'work' / 'iter_2.pth')  # weights_only
    assert checkpoint['meta']['iter'] == 2
    assert 'train/loss' in checkpoint['message_hub']['log_scalars']
    resumed = make_runner(4, resume=True)
    resumed.train()
    assert resumed.iter == 4
    assert len(resumed.message_hub.get_scalar('train/loss').data[0]) == 4
