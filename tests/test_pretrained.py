# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Official ImageNet weights reach sMLPNet wherever a user gives them, and a
checkpoint that does not fit fails loudly.

The official S and B files are random weights saved as SPACH's trainer saves
them, placed where torch hub caches the release URLs (the ``spach_hub``
fixture), so the URLs load through torch hub as a download would."""
import argparse
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mmsmlp
from mmsmlp.converters import CheckpointError, convert_official_checkpoint
from mmsmlp.models import SMLPNet
from mmsmlp.testing import (logged_messages, random_official_model,
                            randomize_batch_norms, small_smlpnet)

# Two blocks in the second stage, not the third (as SMALL_ARCH): the
# official numbering of blocks over all stages must place them.
UNEVEN_ARCH = dict(embed_dims=8, depths=(1, 2, 1, 1), alpha=2)


def uneven_net(**kwargs):
    kwargs.setdefault('arch', UNEVEN_ARCH)
    return small_smlpnet(**kwargs)


def random_uneven_net(**kwargs):
    net = uneven_net(**kwargs)
    randomize_batch_norms(net)
    return net.eval()


# ------------------------------------------------ official weights by name
def assert_official_logits(model, official):
    torch.manual_seed(0)
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = official.classify(images)
        actual = model(images, mode='tensor')
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_get_model_pretrained_gives_the_official_logits(spach_hub):
    from mmpretrain import get_model
    models = []
    logged = logged_messages(lambda: models.append(
        get_model('smlpnet-small_8xb128_in1k', pretrained=True)))
    assert ("converted the official sMLPNet checkpoint "
            f"{spach_hub.urls['small']} ('model' weights, epoch 299" in logged)
    assert_official_logits(models[0], spach_hub.small)


def test_weights_suffix_picks_the_ema_weights(spach_hub):
    from mmpretrain import get_model
    model = get_model(
        'smlpnet-small_8xb128_in1k',
        pretrained=spach_hub.urls['small'] + '#model_ema')
    assert_official_logits(model, spach_hub.small_ema)


def test_ema_suffix_on_a_file_without_ema_weights_is_an_error(spach_hub):
    from mmpretrain import get_model
    with pytest.raises(CheckpointError, match="no 'model_ema' weights"):
        get_model(
            'smlpnet-base_8xb128_in1k',
            pretrained=spach_hub.urls['base'] + '#model_ema')


def test_an_unreleased_spach_url_is_an_error():
    url = mmsmlp.converters.OFFICIAL_RELEASES + 'v1.0/smlp_t.pth'
    with pytest.raises(CheckpointError, match='none for sMLPNet-T'):
        load_checkpoint(uneven_net(), url)


# ------------------------------------------ downstream configs by default
def build_from_config(name: str, scope: str):
    from mmengine.registry import MODELS
    config = Config.fromfile(mmsmlp.get_config_path(name))
    init_default_scope(scope)
    return MODELS.build(config.model), config


@pytest.mark.parametrize('name, scope, arch', [
    ('configs/mask_rcnn/mask-rcnn_smlpnet-s_fpn_1x_coco.py', 'mmdet', 'small'),
    ('configs/upernet/smlpnet-b_upernet_8xb2-160k_ade20k-512x512.py', 'mmseg',
     'base'),
])
def test_downstream_configs_load_the_official_weights_by_default(
        spach_hub, tmp_path, name, scope, arch):
    """The default init_cfg loads every backbone tensor, as the converter
    tool's file loaded into the same backbone does (resized to the UperNet
    grid), and the features agree; at 224 they are the official model's."""
    model, config = build_from_config(name.split('/', 1)[1], scope)
    assert config.model.backbone.init_cfg.checkpoint == spach_hub.urls[arch]
    model.init_weights()

    converted = tmp_path / 'converted.pth'
    convert_official_checkpoint(spach_hub.cache / f'smlp_{arch[0]}.pth',
                                converted)
    backbone_cfg = dict(config.model.backbone, init_cfg=None)
    backbone_cfg.pop('type')
    reference = SMLPNet(**backbone_cfg)
    load_checkpoint(
        reference, str(converted), revise_keys=[(r'^backbone\.', '')])
    ours = model.backbone.state_dict()
    assert set(ours) == set(reference.state_dict())
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(ours[key], value, msg=key)

    images = torch.randn(1, 3, 224, 224)
    model.backbone.eval()
    with torch.no_grad():
        features = model.backbone(images)
        expected = (
            spach_hub.base(images)
            if arch == 'base' else spach_hub.small(images))
    if model.backbone.img_size == (224, 224):
        for actual, official in zip(features, expected):
            torch.testing.assert_close(actual, official, rtol=1e-4, atol=1e-4)
    else:
        with torch.no_grad():
            for actual, wanted in zip(features, reference.eval()(images)):
                torch.testing.assert_close(actual, wanted)


def test_tiny_config_placeholder_says_how_to_get_weights():
    model, _ = build_from_config(
        'mask_rcnn/mask-rcnn_smlpnet-t_fpn_1x_coco.py', 'mmdet')
    with pytest.raises(
            FileNotFoundError, match='for sMLPNet-T there are none: train'):
        model.backbone.init_weights()


def test_an_evil_file_at_the_release_url_is_refused(spach_hub, tmp_path):
    """The release URL is read with weights_only: a file that would run
    code when unpickled is refused, and the code does not run."""

    class ShellCommand:

        def __reduce__(self):
            return os.system, (f'touch {tmp_path / "pwned"}', )

    cached = spach_hub.cache / 'smlp_b.pth'
    saved = tmp_path / 'smlp_b.pth'
    cached.rename(saved)
    try:
        torch.save(dict(model={}, hook=ShellCommand()), cached)
        with pytest.raises(Exception, match='Weights only load failed'):
            load_checkpoint(uneven_net(), spach_hub.urls['base'])
    finally:
        saved.rename(cached)
    assert not (tmp_path / 'pwned').exists()


# ---------------------------------------- official layout in every path
@pytest.fixture
def official_small():
    """An official model of UNEVEN_ARCH at 64 px with random weights."""
    return random_official_model(
        UNEVEN_ARCH['embed_dims'],
        UNEVEN_ARCH['depths'],
        UNEVEN_ARCH['alpha'],
        64,
        10,
        seed=3,
        weight_std=0.2)


def assert_same_features(backbone, official):
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for actual, expected in zip(backbone.eval()(images), official(images)):
            torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('wrap', ['bare', 'trainer'])
def test_load_state_dict_converts_the_official_layout(official_small, wrap):
    state_dict = official_small.state_dict()
    if wrap == 'trainer':
        state_dict = dict(model=state_dict, epoch=3)
    backbone = uneven_net()
    logged = logged_messages(lambda: backbone.load_state_dict(state_dict))
    assert ('SMLPNet: converted a bare official state dict' if wrap == 'bare'
            else "SMLPNet: converted the 'model' weights of an official "
            'training checkpoint') in logged
    assert 'leaving out 2 classifier tensors' in logged
    assert_same_features(backbone, official_small)


@pytest.mark.parametrize('layout', ['trainer', 'model'])
def test_pretrained_init_reads_official_local_files(official_small, tmp_path,
                                                    layout):
    """A local official file works as a Pretrained checkpoint with the
    prefix the configs use, like a converted one."""
    path = tmp_path / 'official.pth'
    weights = official_small.state_dict()
    torch.save(
        dict(model=weights) if layout == 'model' else dict(
            model=weights, args=argparse.Namespace(lr=1.)), path)
    backbone = uneven_net(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    backbone.init_weights()
    assert_same_features(backbone, official_small)


def test_converter_tool_and_loader_give_the_same_state_dict(
        official_small, tmp_path):
    path = tmp_path / 'official.pth'
    torch.save(dict(model=official_small.state_dict()), path)
    converted = tmp_path / 'converted.pth'
    convert_official_checkpoint(path, converted)
    from_file = uneven_net()
    load_checkpoint(
        from_file, str(converted), revise_keys=[(r'^backbone\.', '')])
    on_load = uneven_net()
    on_load.load_state_dict(official_small.state_dict())
    for key, value in from_file.state_dict().items():
        torch.testing.assert_close(on_load.state_dict()[key], value, msg=key)


def test_official_checkpoint_of_another_width_is_refused(official_small):
    with pytest.raises(ValueError, match=r'embed_dims.: 8'):
        uneven_net(arch=dict(UNEVEN_ARCH, embed_dims=16)).load_state_dict(
            official_small.state_dict())


# ------------------------------------------------------- loud failures
def mmpretrain_file(tmp_path, backbone, drop=()):
    path = tmp_path / 'classifier.pth'
    state_dict = {
        f'backbone.{key}': value
        for key, value in backbone.state_dict().items()
        if not key.startswith(drop)
    }
    torch.save(dict(state_dict=state_dict), path)
    return str(path)


def test_missing_prefix_is_named(tmp_path):
    path = mmpretrain_file(tmp_path, random_uneven_net())
    backbone = uneven_net(init_cfg=dict(type='Pretrained', checkpoint=path))
    message = (
        r"leave (\d+) of the \1 SMLPNet tensors at their initial "
        r"values.*Its SMLPNet weights are under 'backbone\.', not '': set "
        r"prefix='backbone\.'")
    with pytest.raises(ValueError, match=message):
        backbone.init_weights()


def test_wrong_prefix_is_named(tmp_path):
    path = tmp_path / 'detector.pth'
    torch.save(dict(state_dict={'neck.conv.weight': torch.zeros(1)}), path)
    backbone = uneven_net(
        init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='neck.'))
    with pytest.raises(
            ValueError,
            match=(
                r"not an sMLPNet checkpoint: none of its 1 keys is an SMLPNet "
                r"tensor under '' \(the first: conv.weight\).*check the prefix"
            )):
        backbone.init_weights()


def test_half_matching_checkpoint_is_refused_unless_partial_is_allowed(
        tmp_path):
    source = random_uneven_net()
    path = mmpretrain_file(tmp_path, source, drop=('stages.2', 'stages.3'))
    init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    with pytest.raises(
            ValueError,
            match=(r'lacks stages\.2, stages\.3\).*'
                   r'allow_partial_load=True')):
        uneven_net(init_cfg=init_cfg).init_weights()

    partial = uneven_net(init_cfg=init_cfg, allow_partial_load=True)
    logged = logged_messages(partial.init_weights)
    assert 'keep their initial values (allow_partial_load=True)' in logged
    torch.testing.assert_close(partial.stages[1].downsample.weight,
                               source.stages[1].downsample.weight)


def test_torch_strict_false_load_is_loud_too():
    with pytest.raises(ValueError, match='at their initial values'):
        uneven_net().load_state_dict({}, strict=False)


# ------------------------------------------------ window mode, img_size
def test_window_mode_refuses_another_grid_and_keeps_the_checkpoint_function():
    at_64 = random_uneven_net(mixing_mode='window')
    message = (r"mixing_mode='window'.*mixes 16 tokens along H \(an "
               r'img_size H of about 64 px\).*img_size=\(96, 96\).*Build the '
               r"backbone with the checkpoint's img_size")
    with pytest.raises(ValueError, match=message):
        uneven_net(
            img_size=96,
            mixing_mode='window').load_state_dict(at_64.state_dict())
    # Built with the checkpoint's img_size, it computes the checkpoint's
    # function at any input size.
    same = uneven_net(img_size=64, mixing_mode='window')
    same.load_state_dict(at_64.state_dict())
    images = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        for a, b in zip(same.eval()(images), at_64(images)):
            torch.testing.assert_close(a, b)
