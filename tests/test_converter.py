# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The official-checkpoint converter reproduces the outputs of the
official-style model it converts from.

The source model is ``mmsmlp.testing.OfficialSMLPNet``: this project's own
re-implementation of the official ``sMLPNet`` (microsoft/SPACH
``models/smlp.py``), written from its documented key layout and semantics
with the official module names, not the official code itself. A randomly
initialised instance is saved in the official checkpoint format, converted
and compared logit by logit with our classifier. This catches a wrong key
mapping, transposition or axis; a misreading of the official code that the
re-implementation shares with the converter would go unnoticed.
"""
import argparse
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mmsmlp  # noqa: F401  (registers SMLPNet)
from mmsmlp.converters import CheckpointError, convert_official_checkpoint
from mmsmlp.testing import random_official_model, save_as_spach_trainer

REPO = Path(__file__).parents[1]
CONVERTER = 'tools/model_converters/smlpnet_official_to_mmpretrain.py'
ARCH = dict(embed_dims=16, depths=(1, 1, 2, 1), alpha=3)
IMG_SIZE = 64
NUM_CLASSES = 10


def randomized_official_model(seed):
    """An official model with random weights and random BN statistics."""
    return random_official_model(
        ARCH['embed_dims'],
        ARCH['depths'],
        ARCH['alpha'],
        IMG_SIZE,
        NUM_CLASSES,
        seed,
        weight_std=0.2)


def converted_classifier_cfg(img_size=IMG_SIZE, **backbone_kwargs):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='SMLPNet', arch=ARCH, img_size=img_size, **backbone_kwargs),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=NUM_CLASSES,
            in_channels=ARCH['embed_dims'] * 8))


def build_classifier(**kwargs):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(converted_classifier_cfg(**kwargs))


@pytest.fixture
def official_checkpoint(tmp_path):
    model = randomized_official_model(seed=0)
    ema_model = randomized_official_model(seed=1)
    path = tmp_path / 'smlp_official.pth'
    save_as_spach_trainer(path, model, ema_model)
    return path, model, ema_model


def convert(src, dst, use_ema=False):
    convert_official_checkpoint(str(src), str(dst), use_ema)
    return dst


@pytest.mark.parametrize('use_ema', [False, True])
def test_converted_model_matches_official_logits(tmp_path, official_checkpoint,
                                                 use_ema):
    src, model, ema_model = official_checkpoint
    official = ema_model if use_ema else model
    dst = convert(src, tmp_path / 'converted.pth', use_ema)

    ours = build_classifier(drop_path_rate=0.)
    load_checkpoint(ours, str(dst), strict=True)

    torch.manual_seed(2)
    images = torch.randn(4, 3, IMG_SIZE, IMG_SIZE)
    for train_mode in (False, True):
        official.train(train_mode)
        ours.train(train_mode)
        with torch.no_grad():
            expected = official.classify(images)
            actual = ours(images, mode='tensor')
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_converted_checkpoint_content(tmp_path, official_checkpoint):
    src, model, _ = official_checkpoint
    dst = convert(src, tmp_path / 'converted.pth')
    checkpoint = torch.load(dst, weights_only=True)

    assert checkpoint['meta']['weights'] == 'model'
    assert checkpoint['meta']['epoch'] == 299
    assert checkpoint['meta']['depths'] == ARCH['depths']
    assert checkpoint['meta']['img_size'] == IMG_SIZE
    state_dict = checkpoint['state_dict']
    assert len(state_dict) == len(model.state_dict())
    # The official proj_h mixes W: it becomes mix_w, as a matrix.
    official_proj_h = model.state_dict()['token_mix.3.1.proj_h.weight']
    torch.testing.assert_close(
        state_dict['backbone.stages.2.blocks.1.global_mixing.mix_w.weight'],
        official_proj_h[:, :, 0, 0])
    torch.testing.assert_close(state_dict['head.fc.bias'],
                               model.state_dict()['mlp_head.0.bias'])


def test_backbone_pretrained_init_in_mmseg_at_other_size(
        tmp_path, official_checkpoint):
    """A 64 px checkpoint initialises the backbone of an mmseg model built
    for 128 px: every key is used, size-tied weights are resized."""
    from mmseg.registry import MODELS
    src, _, _ = official_checkpoint
    dst = convert(src, tmp_path / 'converted.pth')
    init_default_scope('mmseg')
    segmentor = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=dict(
                type='SMLPNet',
                arch=ARCH,
                img_size=2 * IMG_SIZE,
                init_cfg=dict(
                    type='Pretrained', checkpoint=str(dst),
                    prefix='backbone.')),
            decode_head=dict(
                type='FCNHead',
                in_channels=ARCH['embed_dims'] * 8,
                channels=16,
                num_convs=1,
                num_classes=3),
        ))
    segmentor.init_weights()

    converted = {
        key[len('backbone.'):]: value
        for key, value in torch.load(dst, weights_only=True)
        ['state_dict'].items() if key.startswith('backbone.')
    }
    backbone_state = segmentor.backbone.state_dict()
    assert set(backbone_state) == set(converted)
    for key, value in converted.items():
        if backbone_state[key].shape == value.shape:
            torch.testing.assert_close(backbone_state[key], value, msg=key)
        else:  # size-tied: twice the grid side at twice the image size
            assert '.mix_' in key, key
            assert backbone_state[key].shape[0] == 2 * value.shape[0]
    segmentor.eval()
    with torch.no_grad():
        features = segmentor.extract_feat(
            torch.randn(1, 3, 2 * IMG_SIZE, 2 * IMG_SIZE))
    assert features[-1].shape == (1, ARCH['embed_dims'] * 8, 4, 4)


class ShellCommand:
    """A pickled object that would run a shell command when unpickled."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def test_untrusted_pickled_type_is_refused(tmp_path, official_checkpoint):
    src, model, _ = official_checkpoint
    marker = tmp_path / 'pwned'
    bad = tmp_path / 'malicious.pth'
    torch.save(
        dict(model=model.state_dict(), hook=ShellCommand(f'touch {marker}')),
        bad)

    with pytest.raises(CheckpointError) as excinfo:
        convert(bad, tmp_path / 'out.pth')

    message = str(excinfo.value)
    assert 'system' in message and 'allow-list' in message
    assert not marker.exists()
    assert not (tmp_path / 'out.pth').exists()


def test_unknown_type_is_named(tmp_path, official_checkpoint):
    """Even a harmless type outside the allow-list is refused by name."""
    src, model, _ = official_checkpoint
    bad = tmp_path / 'unknown.pth'
    torch.save(
        dict(
            model=model.state_dict(),
            args=argparse.Namespace(output_dir=pathlib.PosixPath('out'))), bad)
    with pytest.raises(CheckpointError, match='PosixPath'):
        convert(bad, tmp_path / 'out.pth')


def test_missing_ema_weights_is_an_error(tmp_path, official_checkpoint):
    src, model, _ = official_checkpoint
    plain = tmp_path / 'plain.pth'
    torch.save(model.state_dict(), plain)
    # A bare state dict converts ...
    convert(plain, tmp_path / 'ok.pth')
    # ... but has no EMA weights to pick.
    with pytest.raises(CheckpointError, match="no 'model_ema' weights"):
        convert(plain, tmp_path / 'out.pth', use_ema=True)


def test_foreign_keys_are_an_error(tmp_path, official_checkpoint):
    src, model, _ = official_checkpoint
    weights = model.state_dict()
    weights['pos_embed'] = torch.zeros(1)
    bad = tmp_path / 'foreign.pth'
    torch.save(dict(model=weights), bad)
    with pytest.raises(CheckpointError, match='pos_embed'):
        convert(bad, tmp_path / 'out.pth')


def run_converter(*args):
    return subprocess.run([sys.executable, CONVERTER, *map(str, args)],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_command_line_converts_and_reports_errors(tmp_path,
                                                  official_checkpoint):
    src, model, _ = official_checkpoint
    dst = tmp_path / 'out' / 'converted.pth'
    result = run_converter(src, dst, '--ema')
    assert result.returncode == 0, result.stderr
    assert "converted 'model_ema'" in result.stdout
    assert f'{len(model.state_dict())} tensors' in result.stdout
    assert torch.load(
        dst, weights_only=True)['meta']['weights'] == ('model_ema')

    plain = tmp_path / 'plain.pth'
    torch.save(model.state_dict(), plain)
    result = run_converter(plain, tmp_path / 'ema.pth', '--ema')
    assert result.returncode == 1
    assert "error: no 'model_ema' weights" in result.stderr
    assert not (tmp_path / 'ema.pth').exists()


def test_command_line_refuses_to_overwrite_its_input(tmp_path,
                                                     official_checkpoint):
    src = official_checkpoint[0]
    original = src.read_bytes()
    (tmp_path / 'link.pth').symlink_to(src)
    for dst in (src, tmp_path / '.' / src.name, tmp_path / 'link.pth'):
        result = run_converter(src, dst)
        assert result.returncode == 1
        assert 'is the checkpoint being converted' in result.stderr
        assert src.read_bytes() == original
