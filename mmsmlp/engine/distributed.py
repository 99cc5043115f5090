# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Distributed runs on machines without GPUs.

mmengine 0.10 assumes GPUs in three places: ``init_dist`` calls
``torch.cuda.set_device``, the runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]`` (DDP rejects device ids for CPU modules) and
``torch.nn.SyncBatchNorm`` only runs on accelerators. Without GPUs,
:func:`configure_distributed` (called by ``tools/train.py`` and
``tools/test.py`` through :func:`mmsmlp.apis.load_config`) starts the gloo
process group itself and wraps the model in
:class:`CPUDistributedDataParallel`, whose SyncBN layers synchronise their
batch statistics through gloo. Under slurm (``--launcher slurm``, one task
per process) it first describes the job step in torchrun's variables, as
mmengine's slurm launcher does.
"""
import datetime
import os
import socket
import subprocess
from typing import Callable, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.dist import is_distributed
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def configure_distributed(cfg: Config, cfg_options: dict) -> None:
    """Pick the communication backend for the hardware: NCCL with GPUs,
    gloo without, unless ``--cfg-options env_cfg.dist_cfg.backend=...``
    chose one. Without GPUs, also start the process group and pick the CPU
    model wrapper."""
    if cfg.launcher == 'none':
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if 'env_cfg.dist_cfg.backend' not in cfg_options:
        dist_cfg.backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if torch.cuda.is_available():
        return
    if cfg.launcher == 'slurm':
        export_slurm_job_step(dist_cfg.pop('port', None))
    elif cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {cfg.launcher} needs GPUs: mmengine starts it with '
            'torch.cuda.set_device. Without GPUs launch with torchrun '
            '(tools/dist_train.sh, tools/dist_test.sh; NNODES, NODE_RANK and '
            'MASTER_ADDR for several machines) or slurm '
            '(tools/slurm_train.sh, tools/slurm_test.sh with '
            'GPUS_PER_NODE=0).')
    if not is_distributed():
        init_cpu_process_group(dist_cfg)
    use_cpu_model_wrapper(cfg)


def free_port() -> int:
    """A TCP port that is free now, for a launcher's rendezvous."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def export_slurm_job_step(port=None) -> None:
    """Describe the slurm job step this process belongs to in torchrun's
    variables, as mmengine's slurm launcher does, which cannot run without
    GPUs: it calls ``torch.cuda.set_device(SLURM_PROCID % num_gpus)``.

    RANK, WORLD_SIZE and LOCAL_RANK come from SLURM_PROCID, SLURM_NTASKS and
    SLURM_LOCALID; MASTER_ADDR, unless set, is the job's first node;
    MASTER_PORT is ``port`` (``env_cfg.dist_cfg.port``), else the
    environment's, else 29500.
    """
    env = os.environ
    if 'SLURM_PROCID' not in env:
        raise RuntimeError(
            '--launcher slurm outside a slurm job step (SLURM_PROCID is not '
            'set): start the processes with srun, e.g. tools/slurm_train.sh.')
    env['RANK'] = env['SLURM_PROCID']
    env['WORLD_SIZE'] = env['SLURM_NTASKS']
    env['LOCAL_RANK'] = env['SLURM_LOCALID']
    if 'MASTER_ADDR' not in env:
        env['MASTER_ADDR'] = subprocess.run(
            ['scontrol', 'show', 'hostnames', env['SLURM_NODELIST']],
            capture_output=True,
            text=True,
            check=True).stdout.split()[0]
    if port is not None:
        env['MASTER_PORT'] = str(port)
    env.setdefault('MASTER_PORT', '29500')


def shut_down_distributed() -> None:
    """Leave the process group while the interpreter is fully alive.

    Entry points call this after a successful run. Without it, the process
    group is torn down during interpreter finalization, and a gloo worker
    thread that still holds a finished collective then drops the last
    reference to a tensor owned by Python: the GIL it must take makes the
    finalizing interpreter end that thread with ``pthread_exit``, whose
    unwinding through the work's ``noexcept`` destructor aborts the process
    (``terminate called without an active exception``, SIGABRT), at random,
    depending on when that thread runs. ``destroy_process_group`` joins the
    worker threads first. It is not called after an error, when the other
    processes may still wait in a collective and the launcher ends them.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def init_cpu_process_group(dist_cfg: ConfigDict) -> None:
    """Join the process group torchrun describes in the environment
    (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)."""
    kwargs = {
        key: value
        for key, value in dist_cfg.items() if key != 'backend'
    }
    if 'timeout' in kwargs:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    torch_dist.init_process_group(backend=dist_cfg.backend, **kwargs)


def use_cpu_model_wrapper(cfg: Config) -> None:
    """Replace the default DDP wrapper with :class:`CPUDistributedDataParallel`
    and keep the wrapper settings of the config."""
    wrapper_cfg = cfg.get('model_wrapper_cfg', None)
    if wrapper_cfg is None:
        # The settings mmengine uses when the config has none.
        wrapper_cfg = ConfigDict(
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = wrapper_cfg.get('type', 'MMDistributedDataParallel')
    if wrapper_type != 'MMDistributedDataParallel':
        raise RuntimeError(
            f'model_wrapper_cfg.type={wrapper_type!r} is not supported '
            'without GPUs; only MMDistributedDataParallel is.')
    wrapper_cfg.type = 'CPUDistributedDataParallel'
    cfg.model_wrapper_cfg = wrapper_cfg


class AllReduceSum(torch.autograd.Function):
    """Sum a tensor over the processes; gradients are summed likewise,
    since every process's loss depends on every process's input."""

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        tensor = tensor.clone()
        torch_dist.all_reduce(tensor, group=group)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        torch_dist.all_reduce(grad, group=ctx.group)
        return grad, None


def batch_statistics(
    input: torch.Tensor, all_reduce: Callable[[torch.Tensor], torch.Tensor]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of ``input`` (N, C, ...) over the
    batches of all processes, and the number of values per channel they
    come from, all in fp32 whatever the input dtype (a bf16 count is exact
    only up to 256).

    ``all_reduce`` sums a tensor over the processes. The variance is
    E[x^2] - E[x]^2, which rounding can make slightly negative when it is
    tiny against the squared mean; it is clamped at 0.
    """
    values = input.float()
    num_channels = values.size(1)
    reduce_dims = [0] + list(range(2, values.dim()))
    count = values.new_tensor([values.numel() // num_channels])
    stats = all_reduce(
        torch.cat([
            values.sum(reduce_dims), (values * values).sum(reduce_dims), count
        ]))
    sums, squares, total = stats.split([num_channels, num_channels, 1])
    mean = sums / total
    var = (squares / total - mean * mean).clamp(min=0)
    return mean, var, total


class GlooSyncBatchNorm(_BatchNorm):
    """SyncBN for CPU processes: batch statistics synchronised over gloo.

    ``nn.SyncBatchNorm`` layers are turned into this class by
    :class:`CPUDistributedDataParallel`. In training, the per-channel sums,
    sums of squares and element counts of all processes are added with a
    differentiable all-reduce, so every process normalises with the
    statistics of the global batch, its gradients include the other
    processes' contributions and all processes keep the same running
    statistics, as SyncBN does on GPUs. Statistics and normalisation are
    computed in fp32 (also under autocast) and the output is cast back to
    the input dtype. It is not an ``nn.SyncBatchNorm`` subclass because DDP
    rejects those in CPU modules.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(
                f'expected at least 2D input (got {input.dim()}D input)')

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch_dist.is_initialized()
                and torch_dist.get_world_size(self.process_group) > 1):
            return super().forward(input)
        self._check_input_dim(input)
        group = self.process_group or torch_dist.group.WORLD
        mean, var, total = batch_statistics(
            input, lambda stats: AllReduceSum.apply(stats, group))
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), total)

        shape = [1, input.size(1)] + [1] * (input.dim() - 2)
        output = (input.float() -
                  mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean, var, total):
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average
            factor = 1.0 / self.num_batches_tracked.item()
        else:
            factor = self.momentum
        unbiased_var = var * total / (total - 1).clamp(min=1)
        self.running_mean.mul_(1 - factor).add_(factor * mean)
        self.running_var.mul_(1 - factor).add_(factor * unbiased_var)


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` for a model on the CPU.

    DDP takes no device ids for CPU modules, so the GPU index the runner
    passes as ``device_ids=[LOCAL_RANK]`` is dropped. SyncBN layers become
    :class:`GlooSyncBatchNorm`.
    """

    def __init__(self, module: nn.Module, device_ids=None, **kwargs):
        for layer in module.modules():
            if isinstance(layer, nn.SyncBatchNorm):
                # Same parameters and buffers; only forward() differs.
                layer.__class__ = GlooSyncBatchNorm
        super().__init__(module=module, device_ids=None, **kwargs)
