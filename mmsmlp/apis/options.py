# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The command-line options of ``tools/train.py`` and ``tools/test.py`` and
what each one changes in a config.

Most options mean the same in the three toolkits; where they differ
(``--out``, ``--show-dir``, ``--tta``), small per-toolkit branches keep the
difference in one place.
"""
import argparse
import copy
import logging
import os
import os.path as osp
import warnings
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

from mmsmlp.utils import read_checkpoint_meta
from .toolkit import check_file

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')

# Used by ``--tta`` when a config defines no ``tta_model`` of its own.
DEFAULT_TTA_MODELS = dict(
    mmpretrain=dict(type='AverageClsScoreTTA'),
    mmdet=dict(
        type='DetTTAModel',
        tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                     max_per_img=100)),
    mmseg=dict(type='SegTTAModel'),
)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add the options train and test share: work dir, cfg options and the
    distributed launcher."""
    parser.add_argument(
        '--work-dir',
        help='the directory for logs, checkpoints and metrics '
        '(default: work_dirs/<config file name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs merged '
        'into it, e.g. train_cfg.max_iters=100 '
        'optim_wrapper.optimizer.lr=0.01. A list is written key="[a,b]" '
        'or key=a,b; quote nested lists and use no white space.')
    parser.add_argument(
        '--launcher',
        choices=LAUNCHERS,
        default='none',
        help='job launcher: pytorch for torchrun (tools/dist_*.sh), '
        'slurm for srun (tools/slurm_*.sh)')
    # torch.distributed.launch passes --local-rank since torch 2.0 and
    # --local_rank before; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace) -> None:
    """Make ``--local-rank`` visible to mmengine, which reads LOCAL_RANK."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


# ---------------------------------------------------------------------------
# Training options.


def enable_amp(cfg: Config, dtype: Optional[str] = None) -> None:
    """Switch the optimizer wrapper to automatic mixed precision, in
    ``dtype`` (default: mmengine's choice, float16 on CUDA).

    mmengine 0.10's ``AmpOptimWrapper`` refuses to be built without a GPU
    (NPU, MLU, MUSA), although torch's bf16 autocast runs on the CPU.
    """
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
    elif wrapper_type != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type="OptimWrapper", '
                         f'but the config uses {wrapper_type!r}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if dtype is not None:
        cfg.optim_wrapper.dtype = dtype


def enable_auto_scale_lr(cfg: Config) -> None:
    """Scale the learning rate by the real total batch size."""
    auto_scale_lr = cfg.get('auto_scale_lr', None)
    if auto_scale_lr is None or 'base_batch_size' not in auto_scale_lr:
        raise ValueError(
            '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=N)` '
            'in the config: the total batch size its learning rate is for.')
    auto_scale_lr.enable = True


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` alone resumes from the work dir's latest checkpoint, and
    starts from scratch, with a warning, where there is none (as the
    toolkits' ``--resume`` does, which requeued jobs rely on); ``--resume
    CKPT`` from that checkpoint, which must exist and be readable.

    A config without a seed (``randomness.seed=None``) takes the
    checkpoint's: mmengine restores it only after the data samplers are
    built with a fresh one, so the resumed run would shuffle differently.
    """
    if resume is None:
        return
    if resume == 'auto':
        checkpoint = find_resume_checkpoint(cfg.work_dir)
        if checkpoint is None:
            warnings.warn(
                f'--resume: {osp.abspath(cfg.work_dir)} has no checkpoint to '
                'resume from (no last_checkpoint file), so training starts '
                'from scratch. Check --work-dir if a run was saved there.')
            return
    else:
        check_file(resume, 'Checkpoint to resume from')
        checkpoint = resume
    cfg.resume = True
    cfg.load_from = checkpoint
    if '://' in checkpoint:
        return
    seed = read_checkpoint_meta(checkpoint).get('seed')
    randomness = cfg.get('randomness') or ConfigDict()
    if randomness.get('seed') is None and seed is not None:
        cfg.randomness = ConfigDict(randomness, seed=seed)


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that ``work_dir/last_checkpoint`` names, None without
    that file.

    The file holds the absolute path of the checkpoint saved last. A work
    dir that was moved or copied resumes from its own file of that name;
    the path itself is taken where the work dir has no such file
    (checkpoints saved to another ``out_dir``).
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        recorded = f.read().strip()
    own = osp.join(work_dir, osp.basename(recorded))
    if osp.isfile(own):
        return own
    if osp.isfile(recorded):
        return recorded
    raise FileNotFoundError(
        f'{record} names {recorded}, which does not exist, and '
        f'{work_dir} has no {osp.basename(recorded)}: resume with --resume '
        'CKPT from a checkpoint that exists, or delete last_checkpoint to '
        'train from scratch.')


def use_atomic_checkpoints(cfg: Config) -> None:
    """Save checkpoints with :class:`mmsmlp.engine.AtomicCheckpointHook`
    where the config uses mmengine's ``CheckpointHook``, so that a run killed
    while it saves resumes from its last complete checkpoint."""
    hook = cfg.get('default_hooks', {}).get('checkpoint', None)
    if hook is not None and hook.get('type') == 'CheckpointHook':
        hook.type = 'AtomicCheckpointHook'


def use_seeded_training(cfg: Config) -> None:
    """Make every random draw of training a function of its place in it, so
    that a resumed run repeats the uninterrupted one: the training data are
    sampled by :class:`mmsmlp.datasets.SeededSampler` and transformed by
    :class:`mmsmlp.datasets.SeededDataset` (a seed per sample), and
    :class:`mmsmlp.engine.IterationSeedHook` seeds each iteration."""
    loader = cfg.get('train_dataloader')
    if not loader:
        return
    if loader.sampler.get('type') != 'SeededSampler':
        loader.sampler = ConfigDict(
            type='SeededSampler', sampler=loader.sampler)
    if loader.dataset.get('type') != 'SeededDataset':
        loader.dataset = ConfigDict(
            type='SeededDataset', dataset=loader.dataset)
    hooks = cfg.get('custom_hooks') or []
    if all(hook.get('type') != 'IterationSeedHook' for hook in hooks):
        cfg.custom_hooks = [*hooks, ConfigDict(type='IterationSeedHook')]


# ---------------------------------------------------------------------------
# Test options: where the toolkits differ.


def enable_amp_test(cfg: Config) -> None:
    """Run the test loop under autocast: mmengine's ``TestLoop`` with
    ``fp16=True``, which autocasts to float16 on CUDA and to bfloat16 on the
    CPU.

    mmdet models are refused on the CPU: their boxes reach mmcv 2.1's CPU
    ``nms`` and ``roi_align``, which have no bfloat16 kernels.
    """
    if cfg.get('default_scope') == 'mmdet' and not torch.cuda.is_available():
        raise ValueError(
            '--amp on the CPU autocasts to bfloat16, and mmcv\'s CPU nms and '
            'roi_align, which mmdet models call, have no bfloat16 kernels; '
            'test mmdet models with --amp on a GPU (float16), or without '
            '--amp on the CPU.')
    test_cfg = cfg.get('test_cfg') or ConfigDict()
    loop_type = test_cfg.get('type', 'TestLoop')
    if loop_type != 'TestLoop':
        raise ValueError(f'--amp needs test_cfg.type="TestLoop" (mmengine\'s, '
                         f'which has the fp16 option), but the config uses '
                         f'{loop_type!r}.')
    test_cfg.fp16 = True
    cfg.test_cfg = test_cfg


def enable_show_dir(cfg: Config, show_dir: str) -> None:
    """Save every test image, painted with its prediction, under
    ``show_dir`` (taken from the current directory, whatever the toolkit's
    hook would do with a relative path)."""
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise ValueError(
            '--show-dir needs a `visualization` entry in default_hooks; '
            "inherit the toolkit's default runtime to get one.")
    hook = hooks['visualization']
    show_dir = osp.abspath(show_dir)
    scope = cfg.default_scope
    if scope == 'mmpretrain':
        # VisualizationHook paints every `interval`-th image (default 5000).
        hook.enable = True
        hook.interval = 1
        hook.out_dir = show_dir
    elif scope == 'mmdet':
        # DetVisualizationHook paints every test image.
        hook.draw = True
        hook.test_out_dir = show_dir
    else:
        # SegVisualizationHook paints every `interval`-th batch (default 50)
        # through the visualizer's backends, which write to
        # <save_dir>/vis_data/vis_image.
        hook.draw = True
        hook.interval = 1
        cfg.visualizer.save_dir = show_dir


def add_prediction_dump(cfg: Config, out: str) -> None:
    """Make the test evaluator keep the predictions at ``out``.

    mmseg writes one PNG per image into the directory ``out``; mmdet and
    mmpretrain dump a pickle file, which the runner adds as a metric after
    it is built (see :func:`attach_pickle_dump`).
    """
    if cfg.default_scope == 'mmseg':
        evaluators = cfg.test_evaluator
        for evaluator in (evaluators
                          if isinstance(evaluators, list) else [evaluators]):
            evaluator.output_dir = out
            evaluator.keep_results = True
    elif not out.endswith(('.pkl', '.pickle')):
        raise ValueError(
            f'--out must name a .pkl file for {cfg.default_scope} configs, '
            f'got {out!r}.')


def attach_pickle_dump(runner, cfg: Config, out: str) -> None:
    """Append the toolkit's result dumper to the built test evaluator."""
    if cfg.default_scope == 'mmseg':
        return
    if cfg.default_scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults as Dumper
    else:
        from mmengine.evaluator import DumpResults as Dumper
    runner.test_evaluator.metrics.append(Dumper(out_file_path=out))


def enable_tta(cfg: Config) -> None:
    """Wrap the model in the toolkit's test-time-augmentation model and test
    on ``cfg.tta_pipeline``; configs without them get horizontal flips."""
    if cfg.default_scope == 'mmdet' and cfg.model.get('roi_head',
                                                      {}).get('mask_head'):
        raise ValueError(
            "--tta: mmdet's DetTTAModel merges boxes only and does not "
            'support instance segmentation models such as Mask R-CNN; test '
            'without --tta.')
    if 'tta_model' not in cfg:
        warnings.warn('The config has no tta_model; using '
                      f'{DEFAULT_TTA_MODELS[cfg.default_scope]}.')
        cfg.tta_model = DEFAULT_TTA_MODELS[cfg.default_scope]
    if 'tta_pipeline' not in cfg:
        warnings.warn('The config has no tta_pipeline; testing on the '
                      'images and their horizontal flips.')
        cfg.tta_pipeline = flip_tta_pipeline(innermost_dataset(cfg).pipeline)
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    innermost_dataset(cfg).pipeline = cfg.tta_pipeline


def innermost_dataset(cfg: Config) -> ConfigDict:
    """The test dataset, looking through dataset wrappers."""
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    return dataset


def flip_tta_pipeline(test_pipeline: list) -> list:
    """Turn a test pipeline into one that yields each image unflipped and
    flipped, packed with the flip in the metainfo the TTA models read."""
    pipeline = copy.deepcopy(test_pipeline)
    pack = pipeline[-1]
    if 'meta_keys' in pack:
        pack.meta_keys = tuple(pack.meta_keys) + tuple(
            key
            for key in ('flip', 'flip_direction') if key not in pack.meta_keys)
    pipeline[-1] = dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='RandomFlip', prob=1.),
            dict(type='RandomFlip', prob=0.)
        ], [pack]])
    return pipeline
