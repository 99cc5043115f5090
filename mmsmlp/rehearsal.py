# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The dress rehearsal: the shipped configs, run as users run them.

Each :class:`Rehearsal` is one shipped config trained for a few iterations
through ``tools/dist_train.sh`` on CPU processes, continued with
``--resume``, and evaluated by ``tools/dist_test.sh`` with its own
evaluator. The runs start in a root directory that holds the datasets of
:mod:`mmsmlp.datasets.layouts` where the configs look for them
(``data/coco``, ...), so the configs read their real layouts through their
own pipelines, unchanged but for the options each rehearsal lists with its
reason. The ImageNet rehearsal writes ``checkpoints/smlpnet-tiny_in1k.pth``,
the placeholder path from which the detection and segmentation configs
initialise their backbones: the pretrain-then-fine-tune chain.

Command line: ``tools/rehearsal.py``; the results are in
``docs/rehearsal.md``.
"""
import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from mmsmlp.analysis.logs import read_json_lines, scalar_logs, test_metrics
from mmsmlp.converters import OFFICIAL_WEIGHTS
from mmsmlp.datasets.demo.classification import CLASSES as IMAGENET_CLASSES
from mmsmlp.datasets.layouts import write_layouts
from mmsmlp.engine import free_port
from mmsmlp.model_index import mim_root
from mmsmlp.testing import write_official_standins
from mmsmlp.utils.checkpoint import read_checkpoint_meta

PRETRAINED = 'checkpoints/smlpnet-tiny_in1k.pth'  # the configs' placeholder
# Where the runs' torch hub caches downloads: the S and B configs start from
# SPACH's released weights, which stand there in for the downloads.
TORCH_HOME = 'torch_home'
LOG_EVERY_ITERATION = (('default_hooks.logger.interval=1',
                        'log the losses of every iteration, to check each'), )
# Randomly initialised detection heads score every box below the shipped
# 0.05 after a few iterations, and CocoMetric computes nothing without
# detections.
KEEP_ALL_BOXES = 'the untrained heads score every box below 0.05'


@dataclass(frozen=True)
class Rehearsal:
    """One shipped config and how the rehearsal runs it.

    Args:
        name: a short name, for the command line and the table.
        config: the config, relative to ``configs/`` (of the repository, or
            of the installed package, see ``mim_root``).
        dataset: its dataset layout (a key of ``layouts.LAYOUTS``).
        world_size: the number of processes.
        iterations: training iterations before the resume, and again after.
        batch_size: samples per process, when memory forces fewer than the
            config's ``train_dataloader.batch_size`` (None keeps that).
        by_epoch: whether the config trains by epochs (mmpretrain, mmdet)
            or by iterations (mmseg).
        changes: ``(cfg option, reason)`` pairs beyond the data roots and
            the schedule length.
        test_args: extra ``tools/test.py`` options.
        resume: whether the run is continued with ``--resume`` and tested;
            False for a single training run (the S and B steps).
    """
    name: str
    config: str
    dataset: str
    world_size: int
    iterations: int
    batch_size: Optional[int] = None
    by_epoch: bool = True
    changes: Tuple[Tuple[str, str], ...] = ()
    test_args: Tuple[str, ...] = ()
    resume: bool = True

    @property
    def config_path(self) -> Path:
        return mim_root() / 'configs' / self.config

    @property
    def samples_per_gpu(self) -> int:
        return self.batch_size or config_batch_size(str(self.config_path))

    def train_options(self) -> List[Tuple[str, str]]:
        """Every ``--cfg-options`` entry of the training runs, with reasons.
        The schedules stay as shipped: the runs are stopped, as a preempted
        job is, once they have saved the checkpoint the rehearsal waits for.
        """
        if self.by_epoch:
            indices = self.iterations * self.world_size * self.samples_per_gpu
            options = [(f'train_dataloader.dataset.indices={indices}',
                        f'an epoch of {self.iterations} iteration(s)')]
        else:
            options = [(f'default_hooks.checkpoint.interval={self.iterations}',
                        f'a checkpoint every {self.iterations} iteration(s)')]
        options += LOG_EVERY_ITERATION
        if self.batch_size:
            options.append((f'train_dataloader.batch_size={self.batch_size}',
                            'CPU memory'))
        return options + list(self.changes)

    def checkpoint_name(self, run: int) -> str:
        """The checkpoint that ends training run ``run`` (1 or 2)."""
        if self.by_epoch:
            return f'epoch_{run}.pth'
        return f'iter_{run * self.iterations}.pth'


@functools.lru_cache()
def config_batch_size(config: str) -> int:
    """The samples per process of a config's training dataloader."""
    return Config.fromfile(config).train_dataloader.batch_size


def detection(name,
              config,
              world_size=2,
              iterations=1,
              batch_size=None,
              score_key='rcnn'):
    """A COCO detector; ``score_key`` is where its test_cfg keeps
    ``score_thr`` (``None``: directly in test_cfg, as RetinaNet)."""
    option = ('model.test_cfg.rcnn.score_thr=0.0'
              if score_key == 'rcnn' else 'model.test_cfg.score_thr=0.0')
    return Rehearsal(
        name,
        config,
        'coco',
        world_size,
        iterations,
        batch_size=batch_size,
        changes=((option, KEEP_ALL_BOXES), ))


def segmentation(name,
                 config,
                 dataset,
                 world_size=2,
                 batch_size=None,
                 test_args=()):
    return Rehearsal(
        name,
        config,
        dataset,
        world_size,
        iterations=1,
        batch_size=batch_size,
        by_epoch=False,
        test_args=test_args)


# A training step of sMLPNet-T at batch 16 peaks at 4.4 GB in one process:
# 8 such ranks exceed 24 GB.
IMAGENET = Rehearsal(
    'imagenet',
    'smlpnet/smlpnet-tiny_8xb128_in1k.py',
    'imagenet',
    8,
    1,
    batch_size=4)
FULL = (
    IMAGENET,
    # 8 ranks of a detector or segmentor do not fit in 24 GB, even at one
    # sample each and without data workers; 4 ranks of Mask R-CNN with 2
    # images each peaked at 5.4 GB a rank and were OOM-killed on saving
    # (docs/rehearsal.md).
    detection(
        'mask-rcnn-1x',
        'mask_rcnn/mask-rcnn_smlpnet-t_fpn_1x_coco.py',
        world_size=4,
        batch_size=1),
    detection('mask-rcnn-3x',
              'mask_rcnn/mask-rcnn_smlpnet-t_fpn_ms-crop-3x_coco.py'),
    detection('mask-rcnn-layer-decay',
              'mask_rcnn/mask-rcnn_smlpnet-t_fpn_layer-decay_1x_coco.py'),
    detection(
        'cascade-mask-rcnn-1x',
        'cascade_rcnn/cascade-mask-rcnn_smlpnet-t_fpn_4conv1fc-giou_1x_coco.py'
    ),
    detection('faster-rcnn-1x',
              'faster_rcnn/faster-rcnn_smlpnet-t_fpn_1x_coco.py'),
    detection(
        'retinanet-1x',
        'retinanet/retinanet_smlpnet-t_fpn_1x_coco.py',
        score_key=None),
    segmentation(
        'upernet-ade20k',
        'upernet/smlpnet-t_upernet_8xb2-160k_ade20k-512x512.py',
        'ade20k',
        # A rank peaked at 7.7 GB with the shipped 2 images (the CI run):
        # 4 ranks would not fit.
        world_size=2,
        test_args=('--tta', )),
    segmentation(
        'upernet-layer-decay',
        'upernet/smlpnet-t_upernet_8xb2-layer-decay-160k_ade20k-512x512.py',
        'ade20k'),
    # At the shipped 2 crops of 512x1024 a rank peaked at 11.5 GB and was
    # OOM-killed in the first iteration (docs/rehearsal.md).
    segmentation(
        'upernet-cityscapes',
        'upernet/smlpnet-t_upernet_4xb2-80k_cityscapes-512x1024.py',
        'cityscapes',
        batch_size=1),
    segmentation('sem-fpn-ade20k',
                 'sem_fpn/fpn_smlpnet-t_8xb4-40k_ade20k-512x512.py', 'ade20k'),
)


def full_size_step(rehearsal: Rehearsal, arch: str) -> Rehearsal:
    """The S or B twin (``arch`` 'small' or 'base') of a T rehearsal:
    built, and trained one iteration at the config's input size on one
    process, with neither resume nor test."""
    config = rehearsal.config.replace('smlpnet-tiny_', f'smlpnet-{arch}_')
    config = config.replace('smlpnet-t_', f'smlpnet-{arch[0]}_')
    # The shipped 128 samples do not fit one CPU process; 8 is half of what
    # a T process trains on in CI, for models 2-3x its size (not measured).
    # The detectors and segmentors keep their batch.
    batch_size = 8 if rehearsal.dataset == 'imagenet' else None
    return replace(
        rehearsal,
        name=f'{rehearsal.name}-{arch}',
        config=config,
        world_size=1,
        iterations=1,
        batch_size=batch_size,
        test_args=(),
        resume=False)


# The layer-decay variants are T configs only.
FULL_SIZE_STEPS = tuple(
    full_size_step(rehearsal, arch) for arch in ('small', 'base')
    for rehearsal in FULL if 'layer-decay' not in rehearsal.name)
#: What ``tools/rehearsal.py ROOT`` runs: the T families, then the S and B
#: steps.
ALL = FULL + FULL_SIZE_STEPS
BY_NAME = {rehearsal.name: rehearsal for rehearsal in ALL}
# One config per toolkit at its real input size, 2 processes, an iteration
# before and one after the resume: what CI runs.
CI = (
    replace(IMAGENET, world_size=2, batch_size=16),
    replace(BY_NAME['mask-rcnn-1x'], world_size=2, batch_size=None),
    replace(BY_NAME['upernet-ade20k'], world_size=2, test_args=()),
)


def dataset_counts(rehearsals) -> Dict[str, Tuple[int, int]]:
    """The training and validation images each dataset needs: enough for
    the longest epoch, and one validation image a process. ImageNet counts
    are per class, over its ``IMAGENET_CLASSES`` classes."""
    counts = {}
    for rehearsal in rehearsals:
        need = rehearsal.iterations * rehearsal.world_size * (
            rehearsal.samples_per_gpu)
        val = rehearsal.world_size
        if rehearsal.dataset == 'imagenet':
            need, val = math.ceil(need / len(IMAGENET_CLASSES)), math.ceil(
                val / len(IMAGENET_CLASSES))
        old = counts.get(rehearsal.dataset, (1, 1))
        counts[rehearsal.dataset] = (max(old[0], need), max(old[1], val))
    return counts


@dataclass
class Step:
    """One launcher run: its command, wall time, the peak resident set of
    its largest process (a rank, as a rule) and its exit status (None when
    the rehearsal stopped it)."""
    command: List[str]
    seconds: float
    peak_rss_mib: float
    returncode: Optional[int]


def process_table() -> Dict[int, int]:
    """``{pid: parent pid}`` of every live process."""
    parents = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            # The fields after the command name: state, ppid, ...
            parent = int(stat.read_text().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        parents[int(stat.parent.name)] = parent
    return parents


def process_tree(pid: int) -> List[int]:
    """``pid`` and its live descendants. torchrun starts each rank in a
    session of its own, so a process group or session would miss them."""
    children = {}
    for child, parent in process_table().items():
        children.setdefault(parent, []).append(child)
    tree, pending = [], [pid]
    while pending:
        tree.append(pending.pop())
        pending.extend(children.get(tree[-1], ()))
    return tree


def peak_rss_mib(pids: List[int]) -> float:
    """The largest peak resident set (``VmHWM``) among ``pids``, in MiB."""
    peak_kib = 0
    for pid in pids:
        try:
            status = Path(f'/proc/{pid}/status').read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith('VmHWM:'):
                peak_kib = max(peak_kib, int(line.split()[1]))
    return peak_kib / 1024


def kill_tree(pids: List[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def saved(work_dir: Path, checkpoint: str) -> bool:
    """Whether the run has saved ``checkpoint`` and named it the latest,
    which is what ``--resume`` reads."""
    last = work_dir / 'last_checkpoint'
    return last.is_file() and last.read_text().strip().endswith(checkpoint)


def launch(command: List[str],
           root: Path,
           log: Path,
           stop_after: Optional[Tuple[Path, str]] = None,
           poll_seconds: float = 1.0) -> Step:
    """Run a launcher in ``root``, its output into ``log``. With
    ``stop_after=(work_dir, checkpoint)``, kill its processes, as a
    preemption would, once the run has saved that checkpoint."""
    env = dict(
        os.environ, PORT=str(free_port()), TORCH_HOME=str(root / TORCH_HOME))
    # The launchers run `python`: this interpreter.
    env['PATH'] = os.pathsep.join(
        [os.path.dirname(sys.executable),
         env.get('PATH', '')])
    start = time.monotonic()
    peak = 0.
    with open(log, 'a') as out:
        out.write(f'$ {" ".join(command)}\n')
        out.flush()
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            while process.poll() is None:
                tree = process_tree(process.pid)
                peak = max(peak, peak_rss_mib(tree))
                if stop_after and saved(*stop_after):
                    break
                time.sleep(poll_seconds)
        finally:
            stopped = process.poll() is None
            # Also after an error here: no rank may outlive the rehearsal.
            kill_tree(process_tree(process.pid))
            process.wait()
    return Step(command,
                time.monotonic() - start, peak,
                None if stopped else process.returncode)


class RehearsalError(RuntimeError):
    pass


def check_step(step: Step, what: str, log: Path) -> None:
    if step.returncode not in (0, None):
        raise RehearsalError(
            f'{what} exited with {step.returncode}; its output is in {log}')


def check_losses(work_dir: Path,
                 resumed_from: Optional[Path] = None) -> List[dict]:
    """The training records of ``work_dir``: every loss finite, and, with
    ``resumed_from``, the second run resumed (it starts after the iteration
    of that checkpoint, where a fresh start would log step 1 again)."""
    runs = [[r for r in read_json_lines(log) if 'loss' in r]
            for log in scalar_logs(str(work_dir))]
    records = [record for run in runs for record in run]
    for record in records:
        losses = {k: v for k, v in record.items() if k.startswith('loss')}
        if not all(math.isfinite(v) for v in losses.values()):
            raise RehearsalError(f'Non-finite losses in {work_dir}: {record}')
    expected = 2 if resumed_from else 1
    if len(runs) != expected or not all(runs):
        raise RehearsalError(
            f'{work_dir} holds {len(runs)} training logs with losses, '
            f'expected {expected} (the run and any resumed continuation)')
    if not resumed_from:
        return records
    first_run_steps = read_checkpoint_meta(str(resumed_from))['iter']
    if runs[1][0]['step'] != first_run_steps + 1:
        raise RehearsalError(
            f'The resumed run in {work_dir} logged step {runs[1][0]["step"]}'
            f' first, expected {first_run_steps + 1}: it did not resume')
    return records


def cfg_options(options: List[Tuple[str, str]]) -> List[str]:
    """The command-line form of ``options``; none at all when empty (the
    tools refuse a bare ``--cfg-options``)."""
    if not options:
        return []
    return ['--cfg-options'] + [option for option, _ in options]


def rehearse(rehearsal: Rehearsal, root: Path) -> dict:
    """Train, resume and test one rehearsal in ``root``; returns its row of
    the results table."""
    config = str(rehearsal.config_path)
    tools = mim_root() / 'tools'
    work_dir = root / 'work_dirs' / rehearsal.name
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    log = root / 'logs' / f'{rehearsal.name}.log'
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    world = str(rehearsal.world_size)
    common = ['--work-dir', str(work_dir)]
    train = ['bash', str(tools / 'dist_train.sh'), config, world] + common
    options = cfg_options(rehearsal.train_options())
    steps = {}
    runs = ((1, 'train', []), (2, 'resume', ['--resume']))
    runs = runs if rehearsal.resume else runs[:1]
    for run, phase, extra in runs:
        checkpoint = work_dir / rehearsal.checkpoint_name(run)
        steps[phase] = launch(
            train + extra + options,
            root,
            log,
            stop_after=(work_dir, checkpoint.name))
        check_step(steps[phase], f'{rehearsal.name} {phase}', log)
        if not checkpoint.is_file():
            raise RehearsalError(f'{rehearsal.name} {phase} wrote no '
                                 f'{checkpoint.name} in {work_dir}; see {log}')
    metrics = {}
    if rehearsal.resume:
        check_losses(work_dir, work_dir / rehearsal.checkpoint_name(1))
        steps['test'] = launch([
            'bash',
            str(tools / 'dist_test.sh'), config,
            str(checkpoint), world
        ] + common + list(rehearsal.test_args) +
                               cfg_options(list(rehearsal.changes)), root, log)
        check_step(steps['test'], f'{rehearsal.name} test', log)
        metrics = test_metrics(str(work_dir))
    else:
        check_losses(work_dir)
    return dict(
        name=rehearsal.name,
        config=rehearsal.config,
        world_size=rehearsal.world_size,
        samples_per_gpu=rehearsal.samples_per_gpu,
        iterations=len(runs) * rehearsal.iterations,
        seconds={
            phase: round(step.seconds, 1)
            for phase, step in steps.items()
        },
        peak_rss_mib=round(max(step.peak_rss_mib for step in steps.values())),
        metrics=metrics,
        changes=[
            dict(option=o, reason=r) for o, r in rehearsal.train_options()
        ],
        test_args=list(rehearsal.test_args),
        checkpoint=str(checkpoint))


def writes_pretrained(rehearsal: Rehearsal) -> bool:
    """Whether the run trains the checkpoint that the T detection and
    segmentation configs start from: the sMLPNet-T ImageNet config's, not
    the S and B steps' (whose weights would not fit those backbones)."""
    return rehearsal.config == IMAGENET.config


def share_pretrained(row: dict, root: Path) -> None:
    """Put the ImageNet rehearsal's checkpoint where the detection and
    segmentation configs load their backbones from."""
    target = root / PRETRAINED
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(row['checkpoint'], target)


def write_official_standins_once(root: Path) -> None:
    """SPACH's sMLPNet-S and -B releases, with random weights in their
    layout, where the runs' torch hub looks for the official URLs the S and
    B configs name; kept when an earlier run wrote them."""
    cache = root / TORCH_HOME / 'hub' / 'checkpoints'
    names = [url.rsplit('/', 1)[1] for url in OFFICIAL_WEIGHTS]
    if not all((cache / name).is_file() for name in names):
        write_official_standins(cache)


def run(rehearsals, root: str, seed: int = 0) -> List[dict]:
    """Write the datasets the rehearsals need under ``root``, then run each
    in turn (ImageNet first: the others start from its checkpoint). Writes
    ``root/results.json`` after each and returns the rows."""
    root = Path(root).resolve()
    if rehearsals and rehearsals[0].dataset != 'imagenet':
        if not (root / PRETRAINED).is_file():
            raise RehearsalError(
                f'The detection and segmentation rehearsals start from '
                f'{root / PRETRAINED}, which the imagenet rehearsal writes: '
                'run it first (put it first in the list).')
    write_layouts(str(root), dataset_counts(rehearsals), seed)
    if any(not rehearsal.resume for rehearsal in rehearsals):
        write_official_standins_once(root)
    rows = []
    for rehearsal in rehearsals:
        row = rehearse(rehearsal, root)
        if writes_pretrained(rehearsal):
            share_pretrained(row, root)
        rows.append(row)
        record_result(root / 'results.json', row)
    return rows


def record_result(results: Path, row: dict) -> None:
    """Add ``row`` to the results file, replacing an earlier row of the
    same rehearsal: rehearsals run with ``--only`` add to one table."""
    rows = json.loads(results.read_text()) if results.is_file() else []
    rows = [old for old in rows if old['name'] != row['name']] + [row]
    results.write_text(json.dumps(rows, indent=1))


#: The metrics a table row shows, of those a test writes.
HEADLINE_METRICS = ('accuracy/top1', 'accuracy/top5', 'coco/bbox_mAP',
                    'coco/segm_mAP', 'mIoU')


def results_table(rows: List[dict]) -> str:
    """The Markdown table of results rows (``ROOT/results.json``), as
    docs/rehearsal.md shows them."""
    lines = [
        '| run | config | ranks x samples | iterations | '
        'train / resume / test (s) | peak a rank (MiB) | result |',
        '|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        seconds = ' / '.join(f"{row['seconds'][phase]:.0f}"
                             for phase in ('train', 'resume', 'test')
                             if phase in row['seconds'])
        iterations = (' + '.join([str(row['iterations'] // 2)] * 2) if 'resume'
                      in row['seconds'] else str(row['iterations']))
        metrics = [
            f'{name} {row["metrics"][name]:.3g}' for name in HEADLINE_METRICS
            if name in row['metrics']
        ]
        result = ', '.join(metrics) or 'trained; losses finite'
        lines.append(
            f"| {row['name']} | `{row['config']}` | {row['world_size']} x "
            f"{row['samples_per_gpu']} | {iterations} | {seconds} | "
            f"{row['peak_rss_mib']} | {result} |")
    return '\n'.join(lines)
