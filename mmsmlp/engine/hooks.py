# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Checkpoints that are complete or absent, and training iterations whose
random draws a resumed run repeats."""
import os
import os.path as osp
import re
from typing import List

from mmengine.dist import get_rank, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

from ..utils.randomness import ITERATION_DOMAIN, derive_seed, seed_everything


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` whose checkpoints on a local
    file system are complete or absent, whenever the run is killed.

    mmengine's hook deletes the oldest of ``max_keep_ckpts`` checkpoints,
    writes ``iter_N.pth`` in place and then ``last_checkpoint``: a run killed
    while it writes leaves a truncated ``iter_N.pth`` and, with
    ``max_keep_ckpts=1``, no complete checkpoint at all. This hook writes
    ``iter_N.pth.partial`` and renames it (atomic on a local file system),
    replaces ``last_checkpoint`` likewise and only then deletes the
    checkpoints beyond ``max_keep_ckpts`` (also those a killed run left), so
    ``--resume`` always finds the last complete one. It takes
    the arguments of ``CheckpointHook``; ``tools/train.py`` uses it in place
    of ``CheckpointHook``. Other storage backends save as ``CheckpointHook``
    does.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        self._keep(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        partial = f'{filename}.partial'
        runner.save_checkpoint(
            self.out_dir,
            partial,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        os.replace(osp.join(self.out_dir, partial), self.last_ckpt)
        replace_text(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if self.max_keep_ckpts > 0:
            for path in self._stale_checkpoints(step):
                os.remove(path)

    def _keep(self, runner, step: int) -> None:
        """Record ``step`` among the kept checkpoints, as CheckpointHook
        does, in the message hub the checkpoint saves."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))

    def _stale_checkpoints(self, step: int) -> List[str]:
        """The checkpoints in ``out_dir`` of steps before ``step`` that are
        not kept: the one that just expired, and any that a run killed
        between a save and its deletion left behind."""
        pattern = re.compile(
            re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)'))
        kept = set(self.keep_ckpt_ids)
        stale = []
        for name in sorted(os.listdir(self.out_dir)):
            match = pattern.fullmatch(name)
            if match and int(match[1]) < step and int(match[1]) not in kept:
                stale.append(osp.join(self.out_dir, name))
        return stale


def replace_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so
    that ``path`` holds either its old or its new text."""
    temporary = f'{path}.partial'
    with open(temporary, 'w') as f:
        f.write(text)
    os.replace(temporary, path)


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seeds Python's, numpy's and torch's generators (torch's on every
    device) before each training iteration, from the run's seed, the rank
    and the iteration.

    What an iteration draws (drop path, dropout, mixup and cutmix, random
    erasing in a data preprocessor) then depends only on where it is in
    training, so a run resumed from a checkpoint draws what the uninterrupted
    run drew, without generator states in the checkpoint, and neither
    validation nor the workers' start-up shifts the draws of the iterations
    after them. ``tools/train.py`` adds it with :class:`SeededSampler
    <mmsmlp.datasets.SeededSampler>` and :class:`SeededDataset
    <mmsmlp.datasets.SeededDataset>`, which do the same for the data.
    """
    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        seed_everything(
            derive_seed(runner.seed, ITERATION_DOMAIN, get_rank(),
                        runner.iter))
