# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Unit tests of the SMLPNet backbone (pure torch + mmengine + mmcv)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from mmsmlp.analysis import count_flops as count
from mmsmlp.models import SMLPNet
from mmsmlp.models.backbones.smlpnet_layers import (AxialLinear,
                                                    PointwiseLinear, SparseMLP,
                                                    resize_axial_weight)
from mmsmlp.testing import (SMALL_ARCH, logged_messages, randomize_batch_norms,
                            small_smlpnet)


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize('mode', ['resize', 'window'])
@pytest.mark.parametrize('size', [(64, 64), (32, 32), (70, 45), (100, 33),
                                  (129, 200)])
def test_output_shapes_and_strides(mode, size):
    model = small_smlpnet(mixing_mode=mode).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    assert len(outs) == 4
    for i, out in enumerate(outs):
        stride = 4 * 2**i
        assert out.shape == (1, 8 * 2**i, math.ceil(size[0] / stride),
                             math.ceil(size[1] / stride))
        assert out.is_contiguous()


def test_out_indices_and_train_mode_batch():
    model = small_smlpnet(out_indices=(1, -1)).train()
    outs = model(torch.rand(3, 3, 96, 40))
    assert [o.shape for o in outs] == [(3, 16, 12, 5), (3, 64, 3, 2)]
    assert small_smlpnet(out_indices=0).final_norm is None
    assert len(small_smlpnet(out_indices=0)(torch.rand(1, 3, 64, 64))) == 1


# --------------------------------------------------------------- the paper
@pytest.mark.parametrize('arch,params', [('tiny', 24_123_584),
                                         ('small', 48_558_136),
                                         ('base', 65_880_408)])
def test_official_parameter_counts(arch, params):
    backbone = SMLPNet(arch)
    head = 8 * backbone.embed_dims * 1000 + 1000
    assert sum(p.numel() for p in backbone.parameters()) + head == params


def count_macs(model, shape):
    """Multiply-adds as get_flops.py counts them (FlopCounterMode, plus the
    in-place matmuls it has no formula for)."""
    flop_counter, _ = count(lambda: model(torch.rand(*shape)))
    return flop_counter.get_total_flops() / 2


@pytest.mark.parametrize('arch,gmacs', [('tiny', 4.99), ('small', 10.31),
                                        ('base', 13.99)])
def test_official_flops(arch, gmacs):
    backbone = SMLPNet(arch).eval()
    head = 8 * backbone.embed_dims * 1000
    macs = (count_macs(backbone, (1, 3, 224, 224)) + head) / 1e9
    assert macs == pytest.approx(gmacs, rel=0.01)


def official_smlp(module: SparseMLP, x: torch.Tensor) -> torch.Tensor:
    """The official sMLPBlock computation on an NCHW input, with this
    module's weights: permute + Conv2d(N, N, 1) per axis, concat, fuse."""
    x = module.act(module.norm(x))
    w_h, b_h = module.mix_h.weight, module.mix_h.bias
    w_w, b_w = module.mix_w.weight, module.mix_w.bias
    # official proj_h: mixes the W axis; official proh_w: mixes the H axis.
    x_w = F.conv2d(x.permute(0, 3, 1, 2), w_w[..., None, None], b_w)
    x_w = x_w.permute(0, 2, 3, 1)
    x_h = F.conv2d(x.permute(0, 2, 1, 3), w_h[..., None, None], b_h)
    x_h = x_h.permute(0, 2, 1, 3)
    fuse = module.fuse.weight[..., None, None]
    return F.conv2d(torch.cat([x, x_w, x_h], dim=1), fuse)


@pytest.mark.parametrize('mode', ['resize', 'window'])
def test_smlp_matches_official_at_reference_size(mode):
    module = SparseMLP(
        6, (8, 8),
        dict(type='BN'),
        dict(type='GELU'),
        mixing_mode=mode,
        shift=True).eval()
    randomize_batch_norms(module)
    x = torch.randn(2, 6, 8, 8)
    ours = module(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours, official_smlp(module, x))


def test_resize_mode_resamples_weights_elsewhere():
    mixer = AxialLinear(8, axis=1, mode='resize')
    x = torch.randn(2, 12, 5, 3)
    weight, bias = resize_axial_weight(mixer.weight, mixer.bias, 12)
    expected = torch.einsum('ij,bjwc->biwc', weight, x) + bias.view(-1, 1, 1)
    torch.testing.assert_close(mixer(x), expected)
    # Differs from using the reference weights on the first 8 rows.
    assert not torch.allclose(mixer(x)[:, :8], mixer(x[:, :8]))


@pytest.mark.parametrize('length', [20, 5])
def test_resize_preserves_an_averaging_kernel(length):
    mean = torch.full((8, 8), 1 / 8)
    weight, _ = resize_axial_weight(mean, torch.zeros(8), length)
    torch.testing.assert_close(weight.sum(1), torch.ones(length))


@pytest.mark.parametrize('length', [5, 13, 20, 57])
def test_resize_resamples_as_antialiased_bilinear_interpolation(length):
    weight, bias = torch.randn(16, 16), torch.randn(16)
    resized, resized_bias = resize_axial_weight(weight, bias, length)
    resample = dict(mode='bilinear', align_corners=False, antialias=True)
    expected = F.interpolate(weight[None, None], (length, length),
                             **resample)[0, 0]
    torch.testing.assert_close(resized, expected * 16 / length)
    expected_bias = F.interpolate(bias[None, None, None], (1, length),
                                  **resample)[0, 0, 0]
    torch.testing.assert_close(resized_bias, expected_bias)


def test_resize_low_pass_filters_a_weight_it_shrinks():
    """A pattern finer than the new grid averages out instead of aliasing
    into a coarse one (plain bilinear sampling of this alternating kernel
    gives values of +-2.0 and a bias of +-0.8)."""
    signs = torch.tensor([(-1.)**i for i in range(16)])
    weight, bias = resize_axial_weight(signs.outer(signs), signs, 5)
    assert weight.abs().max() < 0.05
    assert bias.abs().max() < 0.05


def test_resize_mode_exports_to_onnx_at_a_smaller_grid(tmp_path):
    """The resampling is a matmul, which the TorchScript ONNX exporter
    exports (it has no symbolic for antialiased interpolation)."""
    onnxruntime = pytest.importorskip('onnxruntime')
    model = small_smlpnet().eval()
    x = torch.rand(1, 3, 48, 40)  # smaller than img_size 64
    path = str(tmp_path / 'smaller.onnx')
    torch.onnx.export(model, (x, ), path, opset_version=17, dynamo=False)
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    outs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        for out, expected in zip(outs, model(x)):
            torch.testing.assert_close(
                torch.from_numpy(out), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('shift', [False, True])
def test_window_mode_applies_reference_weights_per_window(shift):
    mixer = AxialLinear(4, axis=2, mode='window', shift=shift)
    x = torch.randn(2, 3, 10, 5)
    before = 2 if shift else 0
    padded = F.pad(x, (0, 0, before, -(10 + before) % 4))
    windows = padded.unflatten(2, (-1, 4))  # B, H, windows, 4, C
    expected = torch.einsum('ij,bhnjc->bhnic', mixer.weight, windows)
    expected = (expected + mixer.bias.view(-1, 1)).flatten(2, 3)
    torch.testing.assert_close(mixer(x), expected[:, :, before:before + 10])


def test_window_mode_pads_short_axis():
    mixer = AxialLinear(8, axis=1, mode='window')
    x = torch.randn(1, 5, 2, 3)
    expected = torch.einsum('ij,bjwc->biwc', mixer.weight[:5, :5], x)
    torch.testing.assert_close(
        mixer(x), expected + mixer.bias[:5].view(-1, 1, 1))


@pytest.mark.parametrize('mode', ['resize', 'window'])
def test_modes_agree_at_reference_and_differ_elsewhere(mode):
    torch.manual_seed(0)
    resize = small_smlpnet(mixing_mode='resize').eval()
    other = small_smlpnet(mixing_mode=mode).eval()
    other.load_state_dict(resize.state_dict())
    at_ref = torch.rand(2, 3, 64, 64)
    for a, b in zip(resize(at_ref), other(at_ref)):
        torch.testing.assert_close(a, b)
    elsewhere = torch.rand(2, 3, 96, 80)
    if mode == 'window':
        assert not torch.allclose(resize(elsewhere)[0], other(elsewhere)[0])


@pytest.mark.parametrize('mode', ['resize', 'window'])
def test_gradients_reach_stored_mixing_weights(mode):
    model = small_smlpnet(mixing_mode=mode).train()
    sum(o.sum() for o in model(torch.rand(2, 3, 100, 72))).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_resize_mode_computes_with_the_current_weights():
    """Writes through ``.data`` (as mmengine's EMAHook swaps the EMA weights
    in with ``copy_``) show in the next output at a resized grid."""
    torch.manual_seed(0)
    model = small_smlpnet(mixing_mode='resize').eval()
    x = torch.rand(1, 3, 96, 80)
    with torch.no_grad():
        model(x)
        other = small_smlpnet(mixing_mode='resize').eval()
        for param, new in zip(model.parameters(), other.parameters()):
            param.data.copy_(new.data)
        for out, expected in zip(model(x), other(x)):
            torch.testing.assert_close(out, expected)
        for param in model.parameters():
            param.data.mul_(1.5)
        fresh = small_smlpnet(mixing_mode='resize').eval()
        fresh.load_state_dict(model.state_dict())
        for out, expected in zip(model(x), fresh(x)):
            torch.testing.assert_close(out, expected)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(
        mixing_mode='window',
        token_mixing=('dwconv', 'mlp', 'smlp', 'dwconv_smlp')),
    dict(smlp_fusion='weighted_sum', smlp_layout='sequential'),
    dict(smlp_fusion='sum', smlp_identity=False),
])
def test_every_layer_runs_through_its_module(kwargs):
    """Forward hooks (and with them quantisation or LoRA-style module swaps)
    see every module that holds parameters, and what they return is what
    the network uses."""
    model = small_smlpnet(**kwargs).eval()
    owners = {
        name: module
        for name, module in model.named_modules()
        if next(module.parameters(recurse=False), None) is not None
    }
    called = set()
    for name, module in owners.items():
        module.register_forward_hook(
            lambda module, args, out, name=name: called.add(name))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = model(x)
        assert called == set(owners)
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                module.register_forward_hook(
                    lambda module, args, out: torch.zeros_like(out))
        assert not torch.allclose(model(x)[-1], outs[-1])


# ------------------------------------------------------------- checkpoints
def test_state_dict_from_other_reference_size_is_resized_on_load():
    torch.manual_seed(0)
    at_64 = small_smlpnet(img_size=64).eval()
    at_96 = small_smlpnet(img_size=96).eval()
    randomize_batch_norms(at_64)
    at_96.load_state_dict(at_64.state_dict())
    x = torch.rand(1, 3, 96, 96)
    # At 96 px, the 64-px model in resize mode computes the same function.
    for a, b in zip(at_64(x), at_96(x)):
        torch.testing.assert_close(a, b)
    assert at_96.stages[0].blocks[0].global_mixing.mix_h.weight.shape == (24,
                                                                          24)


def test_resize_on_load_logs_which_weights():
    logged = logged_messages(lambda: small_smlpnet(
        img_size=96).load_state_dict(small_smlpnet(img_size=64).state_dict()))
    assert 'resized 10 size-tied sMLP weights' in logged
    assert 'stages.0.blocks.0.global_mixing.mix_h 16->24' in logged


def test_stages_after_the_last_output_are_not_built():
    """Every parameter takes part in the loss (DDP without
    find_unused_parameters requires it), and a whole network's checkpoint
    loads strictly, skipping the unused layers with one log line."""
    torch.manual_seed(0)
    full = small_smlpnet()
    randomize_batch_norms(full)
    partial = small_smlpnet(out_indices=(0, 2))
    assert len(partial.stages) == 3 and partial.final_norm is None
    logged = logged_messages(
        lambda: partial.load_state_dict(full.state_dict()))
    assert ("skipped the checkpoint's 28 tensors of stages.3, final_norm, "
            'which this backbone does not build (out_indices=(0, 2))'
            in logged)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = full.eval()(x)
        for out, index in zip(partial.eval()(x), (0, 2)):
            torch.testing.assert_close(out, expected[index])
    sum(o.sum() for o in partial.train()(x)).backward()
    assert all(p.grad is not None for p in partial.parameters())


def test_dense_token_mixing_of_another_img_size_is_refused():
    mlp = dict(token_mixing=('dwconv', 'mlp', 'mlp', 'mlp'))
    at_64 = small_smlpnet(img_size=64, **mlp).state_dict()
    with pytest.raises(
            ValueError,
            match=(
                r"stages\.1\.blocks\.0\.global_mixing \(token_mixing='mlp'\) "
                r'was trained on 64 tokens, this model has 12x12 tokens there '
                r'\(img_size=\(96, 96\)\).*Build the backbone with the '
                r"checkpoint's img_size \(img_size=64 if it was square\)")):
        small_smlpnet(img_size=96, **mlp).load_state_dict(at_64)


# --------------------------------------------------------- training options
def test_frozen_stages_have_no_grad_and_fixed_bn_stats():
    model = small_smlpnet(frozen_stages=2).train()
    randomize_batch_norms(model)
    frozen_bn = model.stages[1].blocks[0].local_mixing.norm
    live_bn = model.stages[2].blocks[0].local_mixing.norm
    stats = frozen_bn.running_mean.clone(), live_bn.running_mean.clone()
    sum(o.sum() for o in model(torch.rand(2, 3, 64, 64))).backward()
    for i, stage in enumerate(model.stages):
        for param in stage.parameters():
            assert (param.grad is None) == (i < 2)
    assert frozen_bn.running_mean.equal(stats[0])
    assert not live_bn.running_mean.equal(stats[1])
    assert not model.stages[0].training and model.stages[2].training


def test_frozen_stages_survive_train_call():
    model = small_smlpnet(frozen_stages=4)
    model.train()
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.final_norm.training


def test_norm_eval_keeps_bn_statistics():
    model = small_smlpnet(norm_eval=True).train()
    randomize_batch_norms(model)
    before = {
        k: v.clone()
        for k, v in model.state_dict().items() if 'running' in k
    }
    model(torch.rand(2, 3, 64, 64))
    after = model.state_dict()
    assert all(after[k].equal(v) for k, v in before.items())
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def assert_same_training_step(plain, checkpointed, run=lambda m, x: m(x)):
    """One step of each model from the same weights gives the same
    gradients, BatchNorm statistics and num_batches_tracked (1)."""
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 80)
    for model in (plain, checkpointed):
        sum((o**2).sum() for o in run(model.train(), x)).backward()
    for (name, param), other in zip(plain.named_parameters(),
                                    checkpointed.parameters()):
        torch.testing.assert_close(other.grad, param.grad, msg=name)
    for (name, buffer), other in zip(plain.named_buffers(),
                                     checkpointed.buffers()):
        torch.testing.assert_close(other, buffer, msg=name)
    assert all(m.num_batches_tracked == 1 for m in checkpointed.modules()
               if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('norm', ['BN', 'SyncBN'])
def test_with_cp_gives_same_gradients_and_bn_statistics(norm):
    """The recomputation in the backward pass normalises with the same batch
    statistics but does not update the running ones a second time."""
    torch.manual_seed(0)
    assert_same_training_step(
        small_smlpnet(norm_cfg=dict(type=norm)),
        small_smlpnet(norm_cfg=dict(type=norm), with_cp=True))


def test_with_cp_compiles():
    """Under torch.compile the recomputation is the graph's own (which
    updates the statistics once): the same step as without with_cp."""
    torch.manual_seed(0)
    assert_same_training_step(
        small_smlpnet(),
        small_smlpnet(with_cp=True),
        run=lambda model, x: torch.compile(model, backend='aot_eager')(x))


def test_layer_depths_count_blocks_from_the_stem():
    model = small_smlpnet()  # depths 1, 1, 2, 1: 5 blocks, 7 layers
    depth = {
        'stages.0.downsample.weight': 0,
        'stages.0.blocks.0.local_mixing.norm.weight': 1,
        'stages.1.downsample.weight': 1,  # with the block before it
        'stages.1.blocks.0.channel_mixing.fc1.weight': 2,
        'stages.2.blocks.1.global_mixing.mix_h.weight': 4,
        'stages.3.downsample.weight': 4,
        'stages.3.blocks.0.global_mixing.fuse.weight': 5,
        'final_norm.bias': 6,
    }
    for name, expected in depth.items():
        assert model.get_layer_depth(name) == (expected, 7), name
        assert model.get_layer_depth('backbone.' + name,
                                     'backbone.') == (expected, 7), name
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (6, 7)
    depths = [model.get_layer_depth(n)[0] for n, _ in model.named_parameters()]
    assert depths == sorted(depths) and set(depths) == set(range(7))
    # Only the stages built count.
    assert small_smlpnet(out_indices=1).get_layer_depth(
        'head.fc.weight', 'backbone.') == (3, 4)


def test_drop_path_decays_linearly():
    model = SMLPNet('tiny', drop_path_rate=0.3)
    rates = [
        b.drop_path.drop_prob if hasattr(b.drop_path, 'drop_prob') else 0.
        for s in model.stages for b in s.blocks
    ]
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.3)
    assert rates == pytest.approx(torch.linspace(0, 0.3, 26).tolist())


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize('kwargs,message', [
    (dict(arch='huge'), "Unknown arch 'huge'"),
    (dict(arch=dict(embed_dims=8)), 'missing'),
    (dict(arch=dict(embed_dims=8, depths=(1, 2))), 'depths must be 4'),
    (dict(out_indices=(0, 4)), 'out_indices'),
    (dict(out_indices=()), 'out_indices is empty'),
    (dict(frozen_stages=5), 'frozen_stages'),
    (dict(mixing_mode='crop'), "mixing_mode='crop'"),
    (dict(token_mixing='attention'), "token_mixing='attention'"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    kwargs.setdefault('arch', SMALL_ARCH)
    with pytest.raises(ValueError, match=message):
        SMLPNet(**kwargs)


def test_too_small_input_and_wrong_channels_raise():
    model = small_smlpnet()
    with pytest.raises(ValueError, match='smaller than 32x32'):
        model(torch.rand(1, 3, 31, 64))
    with pytest.raises(ValueError, match='set in_channels'):
        model(torch.rand(1, 1, 64, 64))
    assert small_smlpnet(in_channels=1)(torch.rand(1, 1, 64, 64))


@pytest.mark.parametrize('images,weights', [(torch.bfloat16, torch.float32),
                                            (torch.float16, torch.float32),
                                            (torch.float32, torch.bfloat16),
                                            (torch.uint8, torch.float32)])
def test_images_of_another_dtype_than_the_weights_raise(images, weights):
    model = small_smlpnet().to(weights)
    with pytest.raises(
            TypeError, match=f'{images} images but its weights '
            f'are {weights}'):
        model(torch.zeros(1, 3, 64, 64, dtype=images))


def test_checkpoint_of_another_arch_is_refused_with_its_arch():
    small = SMLPNet('small').state_dict()
    with pytest.raises(ValueError, match=r"arch='small'"):
        SMLPNet('tiny').load_state_dict(small)
    deeper = small_smlpnet(
        arch=dict(embed_dims=8, depths=(1, 2, 2, 1), alpha=2))
    with pytest.raises(ValueError, match=r'depths.*\(1, 2, 2, 1\)'):
        small_smlpnet().load_state_dict(deeper.state_dict())
    with pytest.raises(ValueError, match='in_channels=1'):
        small_smlpnet(in_channels=1).load_state_dict(
            small_smlpnet().state_dict())


def test_pointwise_linear_is_nn_linear_on_channels_last_features():
    """The same parameters (an nn.Linear state dict loads) and the same
    result and gradients as nn.Linear over the last axis."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(24, 40)
    pointwise = PointwiseLinear(24, 40)
    pointwise.load_state_dict(linear.state_dict())
    x = torch.randn(2, 5, 7, 24, requires_grad=True)
    expected, actual = linear(x), pointwise(x)
    assert actual.shape == (2, 5, 7, 40)
    torch.testing.assert_close(actual, expected)
    grad = torch.randn_like(expected)
    torch.testing.assert_close(
        torch.autograd.grad(actual, [x, pointwise.weight], grad),
        torch.autograd.grad(expected, [x, linear.weight], grad))


# ---------------------------------------------------------- half precision
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('length', [7, 55, 57, 111, 250, 257, 334, 700])
def test_resized_weight_in_half_precision_is_the_float32_one_rounded(
        dtype, length):
    """bfloat16 holds integers exactly only up to 256: positions computed
    in it picked the wrong samples (NaN at 334 tokens)."""
    torch.manual_seed(0)
    weight, bias = torch.randn(56, 56), torch.randn(56)
    expected = resize_axial_weight(weight, bias, length)
    resized = resize_axial_weight(weight.to(dtype), bias.to(dtype), length)
    for half, full in zip(resized, expected):
        assert half.dtype == dtype
        # The inputs' rounding, carried through the two resamplings.
        torch.testing.assert_close(
            half.float(),
            full,
            rtol=0,
            atol=4 * torch.finfo(dtype).eps * full.abs().max().item())


@pytest.mark.parametrize('mode', ['resize', 'window'])
@pytest.mark.parametrize(
    'img_size,size',
    [
        (224, (800, 1333)),  # detection size, 334 tokens along W at stride 4
        ((64, 800), (64, 1336)),  # a grid above 256 tokens at the reference
        (224, (96, 96)),
    ])
def test_half_precision_models_compute_the_float32_function(
        mode, img_size, size):
    torch.manual_seed(0)
    arch = dict(embed_dims=16, depths=(1, 1, 1, 1))
    model = SMLPNet(arch, img_size=img_size, mixing_mode=mode).eval()
    randomize_batch_norms(model)
    image = torch.rand(1, 3, *size)
    with torch.no_grad():
        expected = model(image)
        for dtype in (torch.bfloat16, torch.float16):
            cast = SMLPNet(arch, img_size=img_size, mixing_mode=mode).eval()
            cast.load_state_dict(model.state_dict())
            outs = cast.to(dtype)(image.to(dtype))
            with torch.autocast('cpu', dtype=dtype):
                autocast_outs = model(image)
            for out, mixed, full in zip(outs, autocast_outs, expected):
                assert out.dtype == dtype
                # Measured: 2-3 eps of relative error (norm-wise) at the last
                # stage in both cases; positions computed in bfloat16 gave
                # NaN at 1333 px.
                for result in (out, mixed):
                    error = (result.float() - full).norm() / full.norm()
                    assert error < 5 * torch.finfo(dtype).eps, (dtype, error)


# ------------------------------------------------------------ torch.compile
@pytest.mark.parametrize('mode,graphs', [('resize', 1), ('window', 2)])
@pytest.mark.parametrize('axis', [1, 2])
def test_axial_mixing_compiles_once_for_every_length(mode, graphs, axis):
    """dynamic=True: one graph for every length in resize mode (the eager
    shortcut at the reference length is not taken while compiling, where
    it would guard the graph on the length); in window mode one for axes
    of at most one window and one for longer axes."""
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    mixer = AxialLinear(8, axis, mode, shift=True)
    compiled = torch.compile(mixer, dynamic=True, backend='eager')
    for length in (5, 8, 13, 3, 16, 8, 30, 2, 9):
        shape = [2, 7, 6, 4]
        shape[axis] = length
        x = torch.rand(shape)
        torch.testing.assert_close(compiled(x), mixer(x))
    assert counters['stats']['unique_graphs'] == graphs


def test_whole_backbone_compiles_once_for_every_size_in_resize_mode():
    """dynamic=True, batch 2: one graph for inputs of every size whose last
    stage has two tokens or more along each axis (torch specialises axes
    of length 1). The first input is not square: duck sizing would guard
    H == W. At batch 1 on the CPU in float32, torch's choice of the oneDNN
    or the native convolution guards on the input's number of elements
    (docs/model_zoo.md)."""
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    net = small_smlpnet().eval()
    compiled = torch.compile(net, dynamic=True, backend='eager')
    with torch.no_grad():
        for size in ((96, 128), (80, 72), (224, 160), (64, 64), (800, 1344),
                     (72, 517)):
            x = torch.rand(2, 3, *size)
            for out, expected in zip(compiled(x), net(x)):
                torch.testing.assert_close(out, expected)
    assert counters['stats']['unique_graphs'] == 1


@pytest.mark.parametrize('arch,mode,dtype,size', [
    ('tiny', 'resize', torch.float32, (224, 224)),
    ('tiny', 'resize', torch.bfloat16, (800, 1344)),
    ('tiny', 'window', torch.float16, (800, 1344)),
    ('small', 'window', torch.bfloat16, (800, 1344)),
    ('base', 'resize', torch.bfloat16, (800, 1344)),
])
def test_cuda_forward_traces_on_fake_tensors(arch, mode, dtype, size):
    """The forward on CUDA, traced without a GPU by torch's FakeTensorMode:
    every tensor it makes (resampling matrices, window padding) lives on
    the input's device, in the model's dtype, at every stride."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    net = SMLPNet(arch, img_size=224, mixing_mode=mode).eval()
    with FakeTensorMode(allow_non_fake_inputs=True):
        net = net.to('cuda', dtype)
        with torch.no_grad():
            outs = net(torch.empty(1, 3, *size, device='cuda', dtype=dtype))
    channels = SMLPNet.arch_zoo[arch]['embed_dims']
    for stage, out in enumerate(outs):
        stride = 4 * 2**stage
        assert out.shape == (1, channels * 2**stage, -(-size[0] // stride),
                             -(-size[1] // stride))
        assert out.device == torch.device('cuda', 0)
        assert out.dtype == dtype
