# Copyright (c) mmsmlp contributors. All rights reserved.
"""GlooSyncBatchNorm: synchronised batch statistics for CPU processes
(the 2-process training run through tools/dist_train.sh: test_tools.py)."""
import torch

from mmsmlp.engine import GlooSyncBatchNorm


def sync_bn_worker(rank, init_method, out_dir):
    """One of two gloo processes: GlooSyncBatchNorm on half of a batch."""
    torch.distributed.init_process_group(
        'gloo', init_method=init_method, rank=rank, world_size=2)
    inputs, weights = sync_bn_batch()
    half = slice(3 * rank, 3 * rank + 3)
    layer = torch.nn.SyncBatchNorm(3)
    layer.__class__ = GlooSyncBatchNorm  # as CPUDistributedDataParallel does
    inputs = inputs[half].requires_grad_()
    outputs = layer(inputs)
    (outputs * weights[half]).sum().backward()
    torch.save(
        dict(
            outputs=outputs.detach(),
            input_grad=inputs.grad,
            weight_grad=layer.weight.grad,
            running_mean=layer.running_mean,
            running_var=layer.running_var), f'{out_dir}/{rank}.pth')
    torch.distributed.destroy_process_group()


def sync_bn_batch():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(6, 3, 4, 5, generator=generator) * 3 + 1
    return inputs, torch.randn(6, 3, 4, 5, generator=generator)


def test_gloo_sync_bn_equals_batch_norm_over_the_whole_batch(tmp_path):
    """Two processes with half a batch each compute what BatchNorm computes
    on the whole batch: outputs, input gradients, the summed weight
    gradients and the running statistics."""
    torch.multiprocessing.spawn(
        sync_bn_worker,
        args=(f'file://{tmp_path}/store', str(tmp_path)),
        nprocs=2)
    halves = [torch.load(tmp_path / f'{rank}.pth') for rank in (0, 1)]

    inputs, weights = sync_bn_batch()
    inputs.requires_grad_()
    layer = torch.nn.BatchNorm2d(3)
    outputs = layer(inputs)
    (outputs * weights).sum().backward()

    def close(a, b):
        return torch.allclose(a, b, atol=1e-5)

    assert close(torch.cat([h['outputs'] for h in halves]), outputs)
    assert close(torch.cat([h['input_grad'] for h in halves]), inputs.grad)
    assert close(halves[0]['weight_grad'] + halves[1]['weight_grad'],
                 layer.weight.grad)
    for half in halves:
        assert close(half['running_mean'], layer.running_mean)
        assert close(half['running_var'], layer.running_var)
