# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""``import mmsmlp`` changes how official sMLPNet checkpoints load and
nothing else: checkpoints of other models, SPACH's other releases and odd
file names load the same with and without the import, in fresh processes
(the same keys, tensors and log lines); files that are no checkpoint are
named as such."""
import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.runner import load_checkpoint, save_checkpoint

from mmsmlp.converters import CheckpointError
from mmsmlp.models import SMLPNet

SHIFTVIT = ('https://github.com/microsoft/SPACH/releases/download/v1.0/'
            'shiftvit_tiny_light.pth')

# Loads each checkpoint the way users do and prints, as JSON, what came
# back: keys and tensors (saved to OUT_DIR) and the log lines, timestamps
# left out. argv: IMPORT_MMSMLP (0/1), OUT_DIR, then (name, kind, path).
CHILD = r'''
import json, logging, sys
import torch
if sys.argv[1] == '1':
    import mmsmlp  # noqa: F401
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

logger = MMLogger.get_instance('child', log_level='INFO')
lines = []
class Keep(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())
logger.addHandler(Keep())

def model_for(keys):
    """A module with a tensor of the right shape for each key."""
    root = torch.nn.Module()
    for key, value in keys.items():
        owner = root
        *path, leaf = key.split('.')
        for part in path:
            if not hasattr(owner, part):
                owner.add_module(part, torch.nn.Module())
            owner = getattr(owner, part)
        if value.is_floating_point():
            owner.register_parameter(leaf, torch.nn.Parameter(
                torch.zeros_like(value), requires_grad=False))
        else:
            owner.register_buffer(leaf, torch.zeros_like(value))
    return root

report = {}
for name, kind, path in zip(*[iter(sys.argv[3:])] * 3):
    start = len(lines)
    if kind == 'raw':
        result = CheckpointLoader.load_checkpoint(path, logger=logger)
        weights = result.get('model', result.get('state_dict', result))
    else:
        keys = torch.load(path + '.keys', weights_only=True)
        model = model_for(keys)
        if kind == 'load_checkpoint':
            load_checkpoint(model, path, logger=logger)
        else:
            class Wrapper(BaseModule):
                def __init__(self):
                    super().__init__(init_cfg=dict(
                        type='Pretrained', checkpoint=path))
                    self.inner = model
            wrapper = Wrapper()
            wrapper.init_weights()
        weights = model.state_dict()
    torch.save(dict(weights), f'{sys.argv[2]}/{name}.pt')
    report[name] = sorted(weights), [
        line.replace(path, 'PATH') for line in lines[start:]]
print('REPORT' + json.dumps(report))
'''


def mmpretrain_scope():
    """mmpretrain's modules registered and its scope current, whatever
    scope an earlier test left (mmdet, mmseg)."""
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)


def small_resnet_classifier():
    from mmpretrain.models import ImageClassifier
    mmpretrain_scope()
    return ImageClassifier(
        backbone=dict(type='mmpretrain.ResNet', depth=18, base_channels=8),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(
            type='mmpretrain.LinearClsHead', num_classes=3, in_channels=64))


def small_swin_classifier():
    from mmpretrain.models import ImageClassifier
    mmpretrain_scope()
    return ImageClassifier(
        backbone=dict(
            type='mmpretrain.SwinTransformer',
            arch=dict(
                embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1]),
            img_size=64),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(
            type='mmpretrain.LinearClsHead', num_classes=3, in_channels=128))


@pytest.fixture(scope='module')
def foreign_checkpoints(tmp_path_factory):
    """Checkpoints of other models in the layouts they come in, and a file
    in torch hub's cache where ShiftViT's release URL points."""
    root = tmp_path_factory.mktemp('foreign')
    torch.manual_seed(0)
    resnet = small_resnet_classifier().state_dict()
    swin = small_swin_classifier().state_dict()
    files = []

    def add(name,
            checkpoint,
            weights,
            kinds=('load_checkpoint', 'pretrained', 'raw')):
        path = str(root / name)
        if name.endswith('by_mmengine.pth'):
            save_checkpoint(checkpoint, path)
        else:
            torch.save(checkpoint, path)
        torch.save(weights, path + '.keys')
        files.extend((f'{name}:{kind}', kind, path) for kind in kinds)

    add(
        'resnet_by_mmengine.pth',
        dict(
            meta=dict(epoch=3, mmpretrain_version='1.2.0'), state_dict=resnet),
        resnet)
    add('swin_by_mmengine.pth', dict(meta=dict(iter=10), state_dict=swin),
        swin)
    add('model_entry.pth', dict(model=resnet, epoch=1), resnet, ('raw', ))
    add('state_dict_entry.pth', dict(state_dict=swin), swin)
    ddp = {f'module.{key}': value for key, value in resnet.items()}
    add('ddp.pth', dict(state_dict=ddp), resnet, ('load_checkpoint', ))
    add('weird#model', dict(state_dict=resnet), resnet)

    torch_home = root / 'torch_home'
    cache = torch_home / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    torch.save(dict(model=swin), cache / os.path.basename(SHIFTVIT))
    files.append(('shiftvit:raw', 'raw', SHIFTVIT))
    return root, files, str(torch_home)


def run_child(root, files, torch_home, import_mmsmlp: bool):
    out = root / f'out_{int(import_mmsmlp)}'
    out.mkdir(exist_ok=True)
    args = [item for entry in files for item in entry]
    env = dict(os.environ, TORCH_HOME=torch_home)
    result = subprocess.run([
        sys.executable, '-c', CHILD,
        str(int(import_mmsmlp)),
        str(out), *args
    ],
                            capture_output=True,
                            text=True,
                            timeout=300,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines()
                if line.startswith('REPORT'))
    return json.loads(line[len('REPORT'):]), out


def test_import_mmsmlp_changes_nothing_for_other_checkpoints(
        foreign_checkpoints):
    root, files, torch_home = foreign_checkpoints
    without, out_without = run_child(root, files, torch_home, False)
    with_import, out_with = run_child(root, files, torch_home, True)
    assert set(without) == {name for name, _, _ in files}
    assert with_import == without  # keys and log lines, per load
    for name in without:
        expected = torch.load(out_without / f'{name}.pt', weights_only=True)
        loaded = torch.load(out_with / f'{name}.pt', weights_only=True)
        assert expected.keys() == loaded.keys()
        for key in expected:
            assert torch.equal(expected[key], loaded[key]), (name, key)
    # The loads did load: the weights are the saved ones, not zeros.
    resnet = torch.load(
        root / 'resnet_by_mmengine.pth.keys', weights_only=True)
    loaded = torch.load(
        out_with / 'ddp.pth:load_checkpoint.pt', weights_only=True)
    key = 'backbone.conv1.weight'
    assert torch.equal(loaded[key], resnet[key]) and resnet[key].abs().sum()


# ------------------------------------------------------------ bad files
@pytest.mark.parametrize(
    'content', [b'', b'hello, not a checkpoint\n', b'PK\x03\x04truncated'])
def test_a_file_that_is_no_checkpoint_is_named(tmp_path, content):
    path = tmp_path / 'notes.pth'
    path.write_bytes(content)
    with pytest.raises(
            CheckpointError, match=f'{path} is not a checkpoint: torch.load'):
        load_checkpoint(
            SMLPNet(dict(embed_dims=8, depths=(1, 1, 1, 1))), str(path))


def test_a_checkpoint_of_another_model_is_named_as_such(tmp_path):
    """Swin's ``stages.*.blocks.*`` keys were taken for an sMLPNet of
    other depths."""
    swin = small_swin_classifier().state_dict()
    backbone = {
        key[len('backbone.'):]: value
        for key, value in swin.items() if key.startswith('backbone.')
    }
    with pytest.raises(
            ValueError,
            match='It is not an sMLPNet checkpoint: '
            r"none of its \d+ keys is an SMLPNet tensor"):
        SMLPNet('tiny').load_state_dict(backbone)


def test_a_backbone_only_file_as_load_from_says_how_to_load_it(tmp_path):
    """mmengine hands the backbone only the keys under its prefix, so the
    backbone saw none of the file's keys."""
    from mmpretrain.models import ImageClassifier
    mmpretrain_scope()
    arch = dict(embed_dims=8, depths=(1, 1, 1, 1))
    path = tmp_path / 'backbone.pth'
    torch.save(SMLPNet(arch, img_size=64).state_dict(), path)
    classifier = ImageClassifier(
        backbone=dict(type='SMLPNet', arch=arch, img_size=64),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(
            type='mmpretrain.LinearClsHead', num_classes=3, in_channels=64))
    message = (
        r"This SMLPNet is the model's 'backbone\.' and the checkpoint "
        r"has no keys under that prefix.*init_cfg=dict\(type='Pretrained', "
        r'checkpoint=FILE\)')
    with pytest.raises(ValueError, match=message):
        load_checkpoint(classifier, str(path))
