# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""GlooSyncBatchNorm: synchronised batch statistics for CPU processes
(the 2-process training run through tools/dist_train.sh: test_tools.py)."""
import torch

from mmsmlp.engine import GlooSyncBatchNorm
from mmsmlp.engine.distributed import batch_statistics


def no_reduce(stats):
    """The all-reduce of a single process."""
    return stats


def test_statistics_of_bf16_input_are_fp32_with_an_exact_count():
    """bf16 holds integers exactly only up to 256 and has 8 bits of
    mantissa: with 325 values per channel around 50, a bf16 count, sums and
    E[x^2] - E[x]^2 would be far off."""
    generator = torch.Generator().manual_seed(0)
    inputs = (torch.randn(5, 3, 5, 13, generator=generator) * 2 +
              50).bfloat16()
    mean, var, count = batch_statistics(inputs, no_reduce)
    assert mean.dtype == var.dtype == count.dtype == torch.float32
    assert count.item() == 5 * 5 * 13
    exact = inputs.double().transpose(0, 1).flatten(1)
    torch.testing.assert_close(mean, exact.mean(1).float(), rtol=1e-6, atol=0)
    torch.testing.assert_close(
        var, exact.var(1, unbiased=False).float(), rtol=1e-3, atol=0)


def test_variance_is_clamped_at_zero():
    """Constant channels: E[x^2] - E[x]^2 rounds to below zero in fp32 for
    this value, which rsqrt(var + eps) would turn into NaN for small eps."""
    inputs = torch.full((2, 3, 5, 7), 1000.1)
    sums = inputs.sum((0, 2, 3))
    squares = (inputs * inputs).sum((0, 2, 3))
    assert (squares / 70 - (sums / 70)**2 < 0).all()  # the rounding
    _, var, _ = batch_statistics(inputs, no_reduce)
    assert torch.equal(var, torch.zeros(3))


def sync_bn_worker(rank, init_method, out_dir):
    """One of two gloo processes: GlooSyncBatchNorm on half of each batch,
    fp32 and bf16 with a large mean."""
    torch.distributed.init_process_group(
        'gloo', init_method=init_method, rank=rank, world_size=2)
    results = {}
    for name, (inputs, weights) in sync_bn_batches().items():
        half = slice(len(inputs) // 2 * rank, len(inputs) // 2 * (rank + 1))
        layer = torch.nn.SyncBatchNorm(3)
        layer.__class__ = GlooSyncBatchNorm  # as CPUDistributedDataParallel
        inputs = inputs[half].requires_grad_()
        outputs = layer(inputs)
        (outputs.float() * weights[half]).sum().backward()
        results[name] = dict(
            outputs=outputs.detach(),
            input_grad=inputs.grad,
            weight_grad=layer.weight.grad,
            running_mean=layer.running_mean,
            running_var=layer.running_var)
    torch.save(results, f'{out_dir}/{rank}.pth')
    torch.distributed.destroy_process_group()


def sync_bn_batches():
    generator = torch.Generator().manual_seed(0)
    fp32 = torch.randn(6, 3, 4, 5, generator=generator) * 3 + 1
    # 2 x 3 x 9 x 11 = 594 values per channel: not a bf16 number.
    bf16 = (torch.randn(6, 3, 9, 11, generator=generator) * 2 + 50).bfloat16()
    return dict(
        fp32=(fp32, torch.randn(fp32.shape, generator=generator)),
        bf16=(bf16, torch.randn(bf16.shape, generator=generator)))


def test_gloo_sync_bn_equals_batch_norm_over_the_whole_batch(tmp_path):
    """Two processes with half a batch each compute what BatchNorm computes
    on the whole batch: outputs, input gradients, the summed weight
    gradients and the running statistics. bf16 inputs give bf16 outputs,
    normalised with fp32 statistics."""
    torch.multiprocessing.spawn(
        sync_bn_worker,
        args=(f'file://{tmp_path}/store', str(tmp_path)),
        nprocs=2)
    ranks = [torch.load(tmp_path / f'{rank}.pth') for rank in (0, 1)]

    for name, (inputs, weights) in sync_bn_batches().items():
        halves = [rank[name] for rank in ranks]
        # The reference: fp32 BatchNorm over the (bf16-rounded) batch.
        inputs = inputs.float().requires_grad_()
        layer = torch.nn.BatchNorm2d(3)
        outputs = layer(inputs)
        (outputs * weights).sum().backward()
        # bf16 keeps 8 bits: outputs of about 1 are rounded by up to 2^-8.
        atol = 1e-5 if name == 'fp32' else 1e-2

        def close(a, b, atol=atol):
            return torch.allclose(a.float(), b, atol=atol)

        outputs_ = torch.cat([h['outputs'] for h in halves])
        assert outputs_.dtype == (
            torch.float32 if name == 'fp32' else torch.bfloat16)
        assert close(outputs_, outputs)
        assert close(torch.cat([h['input_grad'] for h in halves]), inputs.grad)
        assert close(
            halves[0]['weight_grad'] + halves[1]['weight_grad'],
            layer.weight.grad,
            atol=atol * outputs.numel()**0.5)
        for half in halves:
            assert close(half['running_mean'], layer.running_mean)
            assert close(half['running_var'], layer.running_var)
