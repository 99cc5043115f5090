# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Checkpoints that are complete or absent."""
import os
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` whose checkpoints on a local
    file system are complete or absent, whenever the run is killed.

    mmengine's hook deletes the oldest of ``max_keep_ckpts`` checkpoints,
    writes ``iter_N.pth`` in place and then ``last_checkpoint``: a run killed
    while it writes leaves a truncated ``iter_N.pth`` and, with
    ``max_keep_ckpts=1``, no complete checkpoint at all. This hook writes
    ``iter_N.pth.partial`` and renames it (atomic on a local file system),
    replaces ``last_checkpoint`` likewise and only then deletes the oldest
    checkpoint, so ``--resume`` always finds the last complete one. It takes
    the arguments of ``CheckpointHook``; ``tools/train.py`` uses it in place
    of ``CheckpointHook``. Other storage backends save as ``CheckpointHook``
    does.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        expired = self._keep(runner, step)
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
        replace_text(osp.join(runner.work_dir, 'last_checkpoint'),
                     self.last_ckpt)
        for old_step in expired:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old_step))
            if osp.isfile(path):
                os.remove(path)

    def _keep(self, runner, step: int) -> List[int]:
        """Record ``step`` among the kept checkpoints (as CheckpointHook does,
        in the message hub the checkpoint saves); return the steps whose
        checkpoints are to be deleted once this one is complete."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        expired = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            expired.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return expired


def replace_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so
    that ``path`` holds either its old or its new text."""
    temporary = f'{path}.partial'
    with open(temporary, 'w') as f:
        f.write(text)
    os.replace(temporary, path)
