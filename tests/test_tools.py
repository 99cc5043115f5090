# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""End-to-end tests of tools/: distributed training with torchrun on the CPU
(gloo, SyncBN), resuming a killed run, tools/test.py and the clear errors
(GlooSyncBatchNorm itself: test_distributed.py).

Everything runs the real scripts in subprocesses on a tiny mmpretrain
classifier with an sMLPNet backbone and a few generated 32x32 images.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import mmsmlp  # noqa: F401  (allow-lists mmengine checkpoints for torch.load)
from mmsmlp.analysis.logs import collect_curves, load_scalar_records
from mmsmlp.engine import free_port

REPO = Path(__file__).resolve().parents[1]
TRAIN_ITERS = 6
CHECKPOINT_INTERVAL = 2

# Hooks the test configs import (custom_imports) to observe the runs.
HOOKS_MODULE = '''
import atexit
import os.path as osp
import time

import torch
from mmengine.dist import get_rank
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SaveRankStateHook(Hook):
    """Each process saves its model state and the images it trained on."""

    def before_run(self, runner):
        self.images = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.images += [s.img_path for s in data_batch['data_samples']]

    def after_train(self, runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        torch.save(dict(state_dict=model.state_dict(), images=self.images),
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))


@HOOKS.register_module()
class HangAfterCheckpointHook(Hook):
    """Stops the run right after the checkpoint of iteration ``at_iter`` is
    on disk (CheckpointHook runs before it), until the test kills it."""
    priority = 'LOWEST'

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at_iter:
            open(osp.join(runner.work_dir, 'checkpoint_written'), 'w').close()
            time.sleep(600)


@HOOKS.register_module()
class HangWhileSavingHook(Hook):
    """The checkpoint of iteration ``at_iter`` stops half-written (its first
    half on disk) until the test kills the run; once per work dir."""

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def before_save_checkpoint(self, runner, checkpoint):
        marker = osp.join(runner.work_dir, 'checkpoint_half_written')
        if runner.iter + 1 != self.at_iter or osp.exists(marker):
            return

        def put(backend, data, filepath):
            with open(filepath, 'wb') as f:
                f.write(data[:len(data) // 2])
            open(marker, 'w').close()
            time.sleep(600)

        LocalBackend.put = put


@HOOKS.register_module()
class SaveStartStateHook(Hook):
    """Saves the state training starts from (after a resume)."""

    def before_train(self, runner):
        torch.save(
            dict(
                iter=runner.iter,
                optimizer=runner.optim_wrapper.state_dict(),
                param_schedulers=[
                    s.state_dict() for s in runner.param_schedulers
                ],
                message_hub=runner.message_hub.state_dict()),
            osp.join(runner.work_dir, 'start_state.pth'))


@HOOKS.register_module()
class RecordProcessGroupAtExitHook(Hook):
    """Each process writes, when its interpreter starts to exit, whether a
    process group is still initialised (then finalization tears it down)."""

    def before_run(self, runner):
        path = osp.join(runner.work_dir, f'exit_rank{get_rank()}.txt')

        def record():
            with open(path, 'w') as f:
                f.write(str(torch.distributed.is_initialized()))

        atexit.register(record)


@HOOKS.register_module()
class RecordTestDtypeHook(Hook):
    """Writes the dtype of the backbone's last output in the test loop."""

    def before_test(self, runner):
        def record(module, inputs, outputs):
            with open(osp.join(runner.work_dir, 'test_dtype.txt'), 'w') as f:
                f.write(str(outputs[-1].dtype))

        runner.model.backbone.register_forward_hook(record)
'''

CONFIG = '''
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(
    imports=['mmsmlp', 'tools_test_hooks'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SMLPNet',
        arch=dict(embed_dims=8, depths=(1, 1, 1, 1), alpha=2),
        img_size=32,
        norm_cfg=dict(type='{norm}')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=2,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(
    num_classes=2, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)

pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root='{data_root}',
        data_prefix='train',
        pipeline=pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root='{data_root}',
        data_prefix='train',
        pipeline=pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=False, milestones=[3], gamma=0.1)
train_cfg = dict(by_epoch=False, max_iters={max_iters})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval={interval}))
custom_hooks = {custom_hooks}
randomness = dict(seed=0, deterministic=True)
'''


def make_images(root: Path, per_class: int = 16) -> None:
    """Two classes of 32x32 images: horizontal and vertical stripes."""
    rng = np.random.default_rng(0)
    for label, axis in (('horizontal', 0), ('vertical', 1)):
        (root / 'train' / label).mkdir(parents=True)
        for i in range(per_class):
            stripes = (np.arange(32) // rng.integers(2, 6)) % 2 * 200
            image = np.repeat(stripes[:, None], 32, axis=1)
            image = image if axis == 0 else image.T
            image = image + rng.integers(0, 40, (32, 32))
            image = np.repeat(image[..., None], 3, axis=2).astype(np.uint8)
            cv2.imwrite(str(root / 'train' / label / f'{i:02d}.png'), image)


@pytest.fixture
def workspace(tmp_path):
    """Images, the observing hooks and a config writer."""
    make_images(tmp_path / 'data')
    (tmp_path / 'tools_test_hooks.py').write_text(HOOKS_MODULE)

    def write_config(name,
                     norm='BN',
                     custom_hooks='[]',
                     max_iters=TRAIN_ITERS,
                     default_scope=None):
        text = CONFIG.format(
            norm=norm,
            data_root=tmp_path / 'data',
            max_iters=max_iters,
            interval=CHECKPOINT_INTERVAL,
            custom_hooks=custom_hooks)
        if default_scope is not None:
            text += f'default_scope = {default_scope!r}\n'
        path = tmp_path / f'{name}.py'
        path.write_text(text)
        return str(path)

    return tmp_path, write_config


def tool_env(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        [str(tmp_path), str(REPO),
         env.get('PYTHONPATH', '')])
    return env


def run_in_own_group(command, timeout=300, **kwargs):
    """``subprocess.run`` for a command that starts processes of its own
    (torchrun, srun): on a timeout or an error, its whole process group is
    killed, not only its first process."""
    with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout,
                                       stderr)


def run_tool(tmp_path, *args, check=True, timeout=300):
    """Run a tools/ script from the repository root."""
    command = ['bash', *args
               ] if args[0].endswith('.sh') else [sys.executable, *args]
    result = run_in_own_group(
        command, timeout=timeout, cwd=REPO, env=tool_env(tmp_path))
    if check and result.returncode != 0:
        pytest.fail(f'{" ".join(args)} failed:\n{result.stderr[-4000:]}')
    return result


def dist_train_env(tmp_path, **variables):
    """The environment of tools/dist_train.sh on CPU processes (gloo), also
    on a machine with one GPU, where NCCL would put both ranks on the same
    device."""
    return dict(tool_env(tmp_path), CUDA_VISIBLE_DEVICES='', **variables)


def dist_train_on_two_cpus(tmp_path, config, work_dir, *args):
    """tools/dist_train.sh with 2 CPU processes on one node."""
    result = run_in_own_group([
        'bash', 'tools/dist_train.sh',
        str(config), '2', '--work-dir',
        str(work_dir), *args
    ],
                              cwd=REPO,
                              env=dist_train_env(
                                  tmp_path, PORT=str(free_port())))
    assert result.returncode == 0, result.stderr[-4000:]


def dist_train_on_two_nodes(tmp_path, config, work_dirs, *args):
    """tools/dist_train.sh as two nodes of one process each (NNODES=2,
    NODE_RANK=0/1, MASTER_ADDR=127.0.0.1), each in its own working and work
    directory, as on two machines."""
    port = str(free_port())
    nodes = []
    for node_rank, work_dir in enumerate(work_dirs):
        work_dir.mkdir()
        log = open(f'{work_dir}.log', 'w')
        nodes.append(
            subprocess.Popen([
                'bash',
                str(REPO / 'tools/dist_train.sh'),
                str(config), '1', '--work-dir',
                str(work_dir), *args
            ],
                             cwd=work_dir,
                             env=dist_train_env(
                                 tmp_path,
                                 NNODES='2',
                                 NODE_RANK=str(node_rank),
                                 MASTER_ADDR='127.0.0.1',
                                 PORT=port),
                             stdout=log,
                             stderr=subprocess.STDOUT,
                             start_new_session=True))
        log.close()
    try:
        for node, work_dir in zip(nodes, work_dirs):
            assert node.wait(timeout=300) == 0, log_tail(work_dir)
    finally:
        # torchrun and its worker outlive a killed bash: end the group.
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


def load_state_dict(checkpoint):
    return torch.load(checkpoint, map_location='cpu')['state_dict']


def assert_same_tensors(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_dist_train_two_processes_on_cpu(workspace):
    """torchrun with 2 CPU processes: both train on their own half of the
    data, DDP averages the gradients and SyncBN the batch statistics, so
    both end with the same weights and BN statistics; rank 0's checkpoint
    holds them and tools/test.py evaluates it. Two nodes of one process each
    see the same data and end with the same weights."""
    tmp_path, write_config = workspace
    config = write_config(
        'dist', norm='SyncBN', custom_hooks="[dict(type='SaveRankStateHook')]")
    work_dir = tmp_path / 'dist_work'
    dist_train_on_two_cpus(tmp_path, config, work_dir, '--cfg-options',
                           'train_cfg.max_iters=3')

    ranks = [torch.load(work_dir / f'rank{r}.pth') for r in (0, 1)]
    # Each rank trained on its own images...
    assert len(ranks[0]['images']) == len(ranks[1]['images']) == 12
    assert not set(ranks[0]['images']) & set(ranks[1]['images'])
    # ...yet both hold the same weights and the same (synchronised) BN
    # running statistics: plain BN would differ.
    states = [rank['state_dict'] for rank in ranks]
    assert_same_tensors(states[0], states[1])
    bn_means = [k for k in states[0] if k.endswith('running_mean')]
    assert bn_means and all(states[0][k].abs().sum() > 0 for k in bn_means)

    checkpoint = work_dir / 'iter_3.pth'
    assert (work_dir /
            'last_checkpoint').read_text().strip().endswith('iter_3.pth')
    # mmengine's checkpoint loads with torch's default weights_only=True.
    assert_same_tensors(load_state_dict(checkpoint), states[0])

    # Two nodes of one process each train exactly as one node with two.
    nodes = [tmp_path / 'node0', tmp_path / 'node1']
    dist_train_on_two_nodes(tmp_path, config, nodes, '--cfg-options',
                            'train_cfg.max_iters=3')
    for rank, node in enumerate(nodes):
        state = torch.load(node / f'rank{rank}.pth')
        assert state['images'] == ranks[rank]['images']
        assert_same_tensors(state['state_dict'], states[0])
    assert_same_tensors(load_state_dict(nodes[0] / 'iter_3.pth'), states[0])

    run_tool(tmp_path, 'tools/test.py', config, str(checkpoint), '--work-dir',
             str(tmp_path / 'test_work'))
    table = run_tool(tmp_path, 'tools/analysis_tools/print_metrics.py',
                     f'tiny={tmp_path / "test_work"}').stdout
    assert table.splitlines()[2].split()[:2] == ['tiny', 'accuracy/top1']


@pytest.fixture
def start_training():
    """Starts tools/train.py in the background, its output going to
    ``<work_dir>.log`` (a file: a pipe nobody reads could block it); what
    still runs when the test ends is killed."""
    processes = []

    def start(tmp_path, config, work_dir):
        with open(f'{work_dir}.log', 'w') as log:
            processes.append(
                subprocess.Popen([
                    sys.executable, 'tools/train.py', config, '--work-dir',
                    str(work_dir)
                ],
                                 cwd=REPO,
                                 env=tool_env(tmp_path),
                                 stdout=log,
                                 stderr=subprocess.STDOUT))
        return processes[-1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def log_tail(work_dir: Path) -> str:
    return Path(f'{work_dir}.log').read_text()[-4000:]


def wait_for(path: Path, process, timeout=240):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f'training ended early:\n{log_tail(path.parent)}')
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f'no {path.name} after {timeout} s')
        time.sleep(0.2)


def assert_same_state(a, b, where='state'):
    """Recursive equality of checkpoint states (tensors, numbers, dicts,
    lists and mmengine HistoryBuffers via their __dict__)."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f'{where}[{i}]')
    elif hasattr(a, '__dict__') and not isinstance(a, type):
        assert type(a) is type(b), where
        assert_same_state(vars(a), vars(b), where)
    else:
        assert a == b, where


def kill_beside_reference(tmp_path, start_training, config, reference_config,
                          marker):
    """Train ``config`` in ``tmp_path/interrupted`` and, beside it, the
    uninterrupted ``reference_config`` in ``tmp_path/reference``; SIGKILL the
    first once its hook has written ``marker``. Gives its work dir and the
    reference's process."""
    interrupted = tmp_path / 'interrupted'
    process = start_training(tmp_path, config, interrupted)
    reference = start_training(tmp_path, reference_config,
                               tmp_path / 'reference')
    wait_for(interrupted / marker, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return interrupted, reference


def test_resume_after_kill_matches_uninterrupted_run(workspace,
                                                     start_training):
    """Kill training right after the iteration-4 checkpoint, resume with
    --resume: it restarts at iteration 4 with the checkpoint's optimizer,
    scheduler and message hub and ends with the weights of a run that was
    never interrupted."""
    tmp_path, write_config = workspace
    resume_at = 2 * CHECKPOINT_INTERVAL
    config = write_config(
        'resume',
        custom_hooks=(f"[dict(type='HangAfterCheckpointHook', "
                      f"at_iter={resume_at}), "
                      "dict(type='SaveStartStateHook')]"))
    reference_config = write_config('reference')

    interrupted, reference = kill_beside_reference(tmp_path, start_training,
                                                   config, reference_config,
                                                   'checkpoint_written')
    assert not (interrupted / f'iter_{TRAIN_ITERS}.pth').exists()
    checkpoint = torch.load(
        interrupted / f'iter_{resume_at}.pth', map_location='cpu')

    run_tool(tmp_path, 'tools/train.py', config, '--work-dir',
             str(interrupted), '--resume')
    assert reference.wait(timeout=240) == 0, log_tail(tmp_path / 'reference')

    start = torch.load(interrupted / 'start_state.pth', map_location='cpu')
    assert start['iter'] == resume_at
    assert_same_state(start['optimizer'], checkpoint['optimizer'], 'optimizer')
    assert start['optimizer']['state'], 'no momentum buffers were resumed'
    assert_same_state(start['param_schedulers'],
                      checkpoint['param_schedulers'], 'param_schedulers')
    hub, saved_hub = start['message_hub'], checkpoint['message_hub']
    assert 'train/loss' in hub['log_scalars']
    assert_same_state(hub['log_scalars'], saved_hub['log_scalars'],
                      'log_scalars')
    # The hub saved during iteration 4 records its index, 3; the resumed
    # loop sets the index of the iteration it starts with.
    assert_same_state(hub['runtime_info'],
                      dict(saved_hub['runtime_info'], iter=resume_at),
                      'runtime_info')

    final = f'iter_{TRAIN_ITERS}.pth'
    assert_same_tensors(
        load_state_dict(interrupted / final),
        load_state_dict(tmp_path / 'reference' / final))
    assert not all(
        torch.equal(a, b)
        for a, b in zip(checkpoint['state_dict'].values(),
                        load_state_dict(interrupted / final).values()))

    # The loss curve of the work dir joins both runs and, after the resume,
    # follows the uninterrupted run's.
    losses = collect_curves(load_scalar_records(str(interrupted)),
                            ['loss'])['loss']
    reference_losses = collect_curves(
        load_scalar_records(str(tmp_path / 'reference')), ['loss'])['loss']
    assert [step for step, _ in losses] == list(range(1, TRAIN_ITERS + 1))
    assert losses[resume_at:] == reference_losses[resume_at:]
    run_tool(tmp_path, 'tools/analysis_tools/plot_curves.py', str(interrupted),
             '--keys', 'loss', 'lr', '--out', str(tmp_path / 'curves.png'))
    assert cv2.imread(str(tmp_path / 'curves.png')).shape[0] > 100


def test_killed_while_saving_resumes_from_last_complete_checkpoint(
        workspace, start_training):
    """SIGKILL while the iteration-4 checkpoint is being written, keeping
    one checkpoint (max_keep_ckpts=1): the iteration-2 checkpoint is still
    there, --resume starts from it, never from the truncated file, and the
    run ends with the weights of an uninterrupted one."""
    tmp_path, write_config = workspace
    resume_at = 2 * CHECKPOINT_INTERVAL

    def keep_one_checkpoint(config):
        text = Path(config).read_text()
        Path(config).write_text(
            text.replace(f'interval={CHECKPOINT_INTERVAL})',
                         f'interval={CHECKPOINT_INTERVAL}, max_keep_ckpts=1)'))
        return config

    config = keep_one_checkpoint(
        write_config(
            'saving',
            custom_hooks=(f"[dict(type='HangWhileSavingHook', "
                          f"at_iter={resume_at}), "
                          "dict(type='SaveStartStateHook')]")))
    reference_config = keep_one_checkpoint(write_config('reference'))

    interrupted, reference = kill_beside_reference(tmp_path, start_training,
                                                   config, reference_config,
                                                   'checkpoint_half_written')
    previous = f'iter_{resume_at - CHECKPOINT_INTERVAL}.pth'
    assert sorted(p.name for p in interrupted.glob('iter_*.pth')) == [previous]
    assert (interrupted / 'last_checkpoint').read_text().endswith(previous)
    truncated, = interrupted.glob(f'iter_{resume_at}.pth*')
    with pytest.raises(Exception):
        torch.load(truncated, map_location='cpu')

    run_tool(tmp_path, 'tools/train.py', config, '--work-dir',
             str(interrupted), '--resume')
    assert reference.wait(timeout=240) == 0, log_tail(tmp_path / 'reference')
    start = torch.load(interrupted / 'start_state.pth', map_location='cpu')
    assert start['iter'] == resume_at - CHECKPOINT_INTERVAL
    final = f'iter_{TRAIN_ITERS}.pth'
    assert sorted(p.name for p in interrupted.glob('iter_*.pth')) == [final]
    assert_same_tensors(
        load_state_dict(interrupted / final),
        load_state_dict(tmp_path / 'reference' / final))


# The shipped demo configs with random augmentation in the data (random
# crops and flips), the model (drop path) and the batches (mixup, cutmix),
# on few images, checkpointed every epoch.
AUGMENTED_CLASSIFIER = """
_base_ = ['{repo}/configs/smlpnet/smlpnet-demo_1xb32_shapes.py']
dataset = dict(data_root='{data}')
train_dataloader = dict(
    batch_size=16,
    num_workers={num_workers},
    persistent_workers={persistent},
    dataset=dataset)
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dataset)
test_dataloader = val_dataloader
model = dict(
    backbone=dict(drop_path_rate=0.2),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
train_cfg = dict(max_epochs=3, val_interval=1)
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=-1, save_best=None))
randomness = dict(seed={seed})
"""
AUGMENTED_DETECTOR = """
_base_ = ['{repo}/configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py']
dataset = dict(
    data_root='{data}/',
    ann_file='annotations/instances_train.json',
    data_prefix=dict(img='train/'))
train_dataloader = dict(batch_size=4, num_workers={num_workers},
                        persistent_workers={persistent}, dataset=dataset)
model = dict(backbone=dict(drop_path_rate=0.2))
train_cfg = dict(max_epochs=3)
val_dataloader = val_cfg = val_evaluator = None
default_hooks = dict(checkpoint=dict(interval=1))
randomness = dict(seed={seed})
"""


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    """Small demo data sets: 48 classification and 8 detection images."""
    root = tmp_path_factory.mktemp('demo_data')
    for task, size in (('cls', ['--num-train', '8', '--num-val', '2']),
                       ('det', ['--num-train', '8', '--num-val', '2'])):
        subprocess.run([
            sys.executable,
            str(REPO / 'tools' / 'data' / f'make_demo_{task}.py'), '--out',
            str(root / task), *size
        ],
                       check=True,
                       capture_output=True,
                       timeout=300)
    return root


def resume_beside_uninterrupted(tmp_path, config, processes):
    """Train ``config`` for 3 epochs; then, in another work dir, resume from
    its epoch-1 checkpoint (a new process, as after a kill). Gives both
    runs' final weights."""
    config = str(config)

    def train(work_dir, *args):
        if processes == 1:
            run_tool(tmp_path, 'tools/train.py', config, '--work-dir',
                     str(work_dir), *args)
        else:
            dist_train_on_two_cpus(tmp_path, config, work_dir, *args)

    train(tmp_path / 'uninterrupted')
    train(tmp_path / 'resumed', '--resume',
          str(tmp_path / 'uninterrupted' / 'epoch_1.pth'))
    return (load_state_dict(tmp_path / 'resumed' / 'epoch_3.pth'),
            load_state_dict(tmp_path / 'uninterrupted' / 'epoch_3.pth'))


@pytest.mark.parametrize(
    'num_workers,processes', [(0, 1), (2, 1), (1, 2)],
    ids=['in-process', 'two-workers', 'two-processes'])
def test_resumed_augmented_classifier_matches_uninterrupted_run(
        tmp_path, demo_data, num_workers, processes):
    """The demo classification config, with random crops, flips, drop path,
    mixup and cutmix, resumed after epoch 1, ends with the weights of the
    uninterrupted run: with the transforms in the training process, in
    persistent workers, and on two processes (a seed the config leaves to
    mmengine, which draws one, comes from the checkpoint)."""
    config = tmp_path / 'augmented.py'
    config.write_text(
        AUGMENTED_CLASSIFIER.format(
            repo=REPO,
            data=demo_data / 'cls',
            num_workers=num_workers,
            persistent=num_workers > 0,
            seed=None if processes == 2 else 0))
    resumed, uninterrupted = resume_beside_uninterrupted(
        tmp_path, config, processes)
    assert_same_tensors(resumed, uninterrupted)


def test_resumed_augmented_detector_matches_uninterrupted_run(
        tmp_path, demo_data):
    """The demo Mask R-CNN config (random flips, aspect-ratio batches, RPN
    and RoI sampling, drop path) in one data loader worker, likewise."""
    config = tmp_path / 'augmented_detector.py'
    config.write_text(
        AUGMENTED_DETECTOR.format(
            repo=REPO,
            data=demo_data / 'det',
            num_workers=1,
            persistent=True,
            seed=0))
    resumed, uninterrupted = resume_beside_uninterrupted(tmp_path, config, 1)
    assert_same_tensors(resumed, uninterrupted)


def test_resume_without_a_checkpoint_warns_and_trains_from_scratch(workspace):
    """``--resume`` where nothing was saved trains from scratch, as the
    toolkits' --resume does (requeued jobs rely on it), and says so."""
    tmp_path, write_config = workspace
    config = write_config('fresh', max_iters=2)
    work_dir = tmp_path / 'misspelt'
    result = run_tool(tmp_path, 'tools/train.py', config, '--work-dir',
                      str(work_dir), '--resume')
    assert (f'--resume: {work_dir} has no checkpoint to resume from'
            in result.stderr)
    assert 'training starts from scratch' in result.stderr
    assert (work_dir / 'iter_2.pth').is_file()


def test_resume_from_a_file_that_is_no_checkpoint_is_an_error(workspace):
    tmp_path, write_config = workspace
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    result = run_tool(
        tmp_path,
        'tools/train.py',
        write_config('plain'),
        '--work-dir',
        str(tmp_path / 'run'),
        '--resume',
        str(text),
        check=False)
    assert result.returncode != 0
    assert f'{text} is not a checkpoint' in result.stderr
    assert not (tmp_path / 'run' / 'iter_2.pth').exists()


def test_moved_work_dir_resumes_from_its_own_files_and_prunes_leftovers(
        workspace):
    """A work dir moved elsewhere resumes from its own latest checkpoint
    (``last_checkpoint`` holds the old absolute path), and checkpoints
    beyond ``max_keep_ckpts=1`` that a killed run left (one between the
    save and the deletion) are pruned at the next save."""
    tmp_path, write_config = workspace

    def keep_one(config):
        text = Path(config).read_text().replace(
            f'interval={CHECKPOINT_INTERVAL})',
            f'interval={CHECKPOINT_INTERVAL}, max_keep_ckpts=1)')
        Path(config).write_text(text)
        return config

    run_tool(tmp_path, 'tools/train.py', keep_one(write_config('first')),
             '--work-dir', str(tmp_path / 'original'))
    moved = tmp_path / 'moved'
    shutil.move(tmp_path / 'original', moved)
    final = f'iter_{TRAIN_ITERS}.pth'
    shutil.copy(moved / final, moved / f'iter_{CHECKPOINT_INTERVAL}.pth')

    longer = keep_one(
        write_config(
            'longer',
            max_iters=TRAIN_ITERS + CHECKPOINT_INTERVAL,
            custom_hooks="[dict(type='SaveStartStateHook')]"))
    run_tool(tmp_path, 'tools/train.py', longer, '--work-dir', str(moved),
             '--resume')
    start = torch.load(moved / 'start_state.pth', map_location='cpu')
    assert start['iter'] == TRAIN_ITERS
    assert sorted(p.name for p in moved.glob('iter_*.pth')) == [
        f'iter_{TRAIN_ITERS + CHECKPOINT_INTERVAL}.pth'
    ]


def test_test_with_amp_autocasts_to_bfloat16_on_the_cpu(workspace):
    tmp_path, write_config = workspace
    config = write_config(
        'amp', custom_hooks="[dict(type='RecordTestDtypeHook')]")
    run_tool(tmp_path, 'tools/train.py', config, '--work-dir',
             str(tmp_path / 'train'))
    checkpoint = (tmp_path / 'train' / 'last_checkpoint').read_text().strip()
    for amp, dtype in (([], 'torch.float32'), (['--amp'], 'torch.bfloat16')):
        work_dir = tmp_path / f'test{len(amp)}'
        run_tool(tmp_path, 'tools/test.py', config, checkpoint, '--work-dir',
                 str(work_dir), *amp)
        assert (work_dir / 'test_dtype.txt').read_text() == dtype
        assert list(work_dir.glob('*/*.json'))  # the metrics


def test_unknown_scope_is_a_clear_error(workspace):
    tmp_path, write_config = workspace
    config = write_config('foreign', default_scope='mmfoo')
    result = run_tool(tmp_path, 'tools/train.py', config, check=False)
    assert result.returncode != 0
    assert "default_scope='mmfoo'" in result.stderr
    assert 'mmpretrain, mmdet, mmseg' in result.stderr


def test_missing_files_are_clear_errors(workspace):
    tmp_path, write_config = workspace
    result = run_tool(
        tmp_path, 'tools/train.py', 'configs/nothing_here.py', check=False)
    assert result.returncode != 0
    assert "Config file not found: 'configs/nothing_here.py'" in result.stderr

    config = write_config('plain')
    result = run_tool(
        tmp_path,
        'tools/test.py',
        config,
        str(tmp_path / 'missing.pth'),
        check=False)
    assert result.returncode != 0
    assert 'Checkpoint not found' in result.stderr
    assert 'missing.pth' in result.stderr

    result = run_tool(
        tmp_path,
        'tools/train.py',
        config,
        '--resume',
        str(tmp_path / 'gone.pth'),
        check=False)
    assert result.returncode != 0
    assert 'Checkpoint to resume from not found' in result.stderr


def test_dist_train_a_backbone_with_fewer_outputs(workspace):
    """DDP (without find_unused_parameters) trains a backbone whose last
    stage is not among its outputs: the stages after the last output are
    not built, so every parameter gets a gradient in every step."""
    tmp_path, write_config = workspace
    config = Path(
        write_config(
            'three_stages',
            max_iters=2,
            custom_hooks="[dict(type='RecordProcessGroupAtExitHook')]"))
    config.write_text(config.read_text().replace(
        'img_size=32,',
        'img_size=32, out_indices=(0, 1, 2),').replace('in_channels=64',
                                                       'in_channels=32'))
    work_dir = tmp_path / 'work'
    dist_train_on_two_cpus(tmp_path, config, work_dir)
    assert (work_dir / 'iter_2.pth').exists()
    # Left to interpreter finalization, the gloo process group can abort a
    # process at exit (mmsmlp.engine.shut_down_distributed says how).
    for rank in (0, 1):
        assert (work_dir / f'exit_rank{rank}.txt').read_text() == 'False'


# ---------------------------------------------------------------------------
# A real slurm: munged, slurmctld and slurmd on this machine, CPUs only.

SLURM_PROGRAMS = ('munged', 'slurmctld', 'slurmd', 'srun', 'sinfo', 'scontrol',
                  'scancel')

SLURM_CONF = '''\
ClusterName=mmsmlp
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={controller_port}
SlurmdPort={daemon_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
'''


def start_daemon(root: Path, name: str, *command: str, env: dict):
    """Start a daemon in the foreground, its output going to ``root/name``."""
    with open(root / f'{name}.out', 'w') as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    """A one-node slurm cluster (partition ``cpu``, 2 CPUs) for the module;
    gives the environment that reaches it (SLURM_CONF)."""
    missing = [name for name in SLURM_PROGRAMS if shutil.which(name) is None]
    if missing:
        pytest.skip(f'slurm is not installed (no {", ".join(missing)}): '
                    'apt-get install slurm-wlm munge (tools/run_tests.sh '
                    'does it when it runs as root on Debian or Ubuntu)')
    if os.geteuid() != 0:
        pytest.skip('slurmd runs job steps as their user only as root')
    root = tmp_path_factory.mktemp('slurm')
    for folder in ('state', 'spool'):
        (root / folder).mkdir()
    key = root / 'munge.key'
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    conf = root / 'slurm.conf'
    conf.write_text(
        SLURM_CONF.format(
            host=socket.gethostname().split('.')[0],
            controller_port=free_port(),
            daemon_port=free_port(),
            root=root))
    env = dict(os.environ, SLURM_CONF=str(conf))
    daemons = [
        start_daemon(
            root,
            'munged',
            'munged',
            '--foreground',
            '--force',
            f'--key-file={key}',
            f'--socket={root}/munge.socket',
            f'--pid-file={root}/munged.pid',
            f'--seed-file={root}/munge.seed',
            f'--log-file={root}/munged.log',
            env=env),
    ]
    try:
        wait_until(lambda: (root / 'munge.socket').exists(), 'munged started',
                   root, daemons)
        daemons.append(
            start_daemon(root, 'slurmctld', 'slurmctld', '-D', '-i', env=env))
        daemons.append(start_daemon(root, 'slurmd', 'slurmd', '-D', env=env))
        wait_until(lambda: node_state(env) == 'idle', 'the node is idle', root,
                   daemons)
        yield env
    finally:
        if len(daemons) == 3:
            subprocess.run(['scancel', '--partition=cpu'], env=env, timeout=30)
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def node_state(env: dict) -> str:
    return subprocess.run(['sinfo', '-h', '-o', '%T'],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=30).stdout.strip()


def wait_until(condition, what: str, root: Path, daemons, timeout=60):
    """Wait until ``condition()`` holds while the daemons run; fail with
    their logs otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if (time.monotonic() > deadline
                or any(daemon.poll() is not None for daemon in daemons)):
            logs = '\n'.join(f'{path.name}:\n{path.read_text()[-2000:]}'
                             for path in sorted(root.glob('*.log')) +
                             sorted(root.glob('*.out')))
            pytest.fail(f'slurm: not {what} after {timeout} s:\n{logs}')
        time.sleep(0.5)


def run_slurm_script(tmp_path, slurm_env, script, *args, gpus_per_node=0):
    """tools/slurm_{train,test}.sh with 2 tasks on partition ``cpu``."""
    return run_in_own_group(['bash', script, 'cpu', 'mmsmlp-test', *args],
                            cwd=REPO,
                            env=dict(
                                tool_env(tmp_path),
                                **slurm_env,
                                GPUS='2',
                                GPUS_PER_NODE=str(gpus_per_node),
                                CPUS_PER_TASK='1',
                                MASTER_PORT=str(free_port()),
                                CUDA_VISIBLE_DEVICES=''))


def test_slurm_train_and_test_on_cpus(workspace, slurm):
    """slurm_train.sh starts 2 tasks through srun on a CPU partition
    (--launcher slurm, gloo): both train on their own half of the data and
    end with the same weights, rank 0 writes the one checkpoint, and
    slurm_test.sh evaluates it with 2 tasks."""
    tmp_path, write_config = workspace
    config = write_config(
        'slurm',
        norm='SyncBN',
        custom_hooks="[dict(type='SaveRankStateHook')]")
    work_dir = tmp_path / 'slurm_work'
    result = run_slurm_script(tmp_path, slurm, 'tools/slurm_train.sh', config,
                              str(work_dir), '--cfg-options',
                              'train_cfg.max_iters=3',
                              'default_hooks.checkpoint.interval=3')
    assert result.returncode == 0, result.stderr[-4000:]
    assert '--gres' not in result.stderr  # the script's set -x trace

    ranks = [torch.load(work_dir / f'rank{r}.pth') for r in (0, 1)]
    assert len(ranks[0]['images']) == len(ranks[1]['images']) == 12
    assert not set(ranks[0]['images']) & set(ranks[1]['images'])
    assert_same_tensors(ranks[0]['state_dict'], ranks[1]['state_dict'])
    assert sorted(p.name
                  for p in work_dir.glob('iter_*.pth')) == ['iter_3.pth']
    checkpoint = work_dir / 'iter_3.pth'
    assert_same_tensors(load_state_dict(checkpoint), ranks[0]['state_dict'])

    result = run_slurm_script(tmp_path, slurm, 'tools/slurm_test.sh', config,
                              str(checkpoint), '--work-dir',
                              str(tmp_path / 'slurm_test'))
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'accuracy/top1' in result.stdout + result.stderr


def test_slurm_scripts_ask_for_gpus_only_when_told(workspace, slurm):
    """With GPUS_PER_NODE > 0 the scripts request GPUs (--gres=gpu:N), which
    this CPU partition rejects before anything runs."""
    tmp_path, write_config = workspace
    result = run_slurm_script(
        tmp_path,
        slurm,
        'tools/slurm_train.sh',
        write_config('gpus'),
        str(tmp_path / 'gpu_work'),
        gpus_per_node=2)
    assert result.returncode != 0
    assert '--gres=gpu:2' in result.stderr
    assert 'Invalid generic resource (gres) specification' in result.stderr
