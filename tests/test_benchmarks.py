# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Tests of the measurement tools: FLOP counting, the official-style
reference model, ONNX export and the benchmark script (no timing
assertions)."""
import ctypes
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmsmlp.analysis import (TwoStageForwardDummy, count_flops,
                             token_mixing_macs)
from mmsmlp.analysis.benchmark.cli import parse_args
from mmsmlp.analysis.benchmark.steps import (build_entries, output_reference,
                                             step)
from mmsmlp.analysis.gemm_limit import gemm_limit, record_gemms
from mmsmlp.analysis.timing import interleaved_times, median_seconds
from mmsmlp.apis import build_model
from mmsmlp.deployment import export_onnx, verify_onnx
from mmsmlp.models import SMLPNet
from mmsmlp.testing import (SMALL_ARCH, environment_without_allocator_choices,
                            official_from_smlpnet, randomize_batch_norms)

REPO = Path(__file__).resolve().parents[1]

DEMO_CONFIG = 'configs/smlpnet/smlpnet-demo_1xb32_shapes.py'


def run_script(*args, timeout=600, env=None):
    """Run a script from the repository root, with one thread, in ``env``
    (default: this process's environment); returns its output."""
    env = dict(env or os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    result = subprocess.run([sys.executable, *args],
                            cwd=REPO,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_timing_engine_warms_up_then_times_the_calls_in_turns():
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in 'ab'}
    times = interleaved_times(calls, repeats=3, warmup=2)
    assert order == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 3
    assert {name: len(t) for name, t in times.items()} == dict(a=3, b=3)
    assert all(t >= 0 for t in times['a'] + times['b'])
    order.clear()
    median_seconds(calls['a'], repeats=4)  # one warm-up call by default
    assert order == ['a'] * 5


def test_get_flops_prints_the_paper_numbers_for_sMLPNet_T():
    out = run_script('tools/analysis_tools/get_flops.py',
                     'configs/smlpnet/smlpnet-tiny_8xb128_in1k.py')
    assert 'Params: 24.1M   Multiply-adds: 5.0G' in out
    assert 'total                           24,123,584' in out
    # BN, GELU and LayerNorm ran and are reported as not counted.
    uncounted = out.split('Not counted')[1]
    for op in ('native_batch_norm', 'gelu', 'native_layer_norm'):
        assert op in uncounted


def test_get_flops_counts_two_stage_detectors_as_published():
    """As mmdet 2.x's forward_dummy: the box head on 1000 proposals, the mask
    head on 100; checked against the layer shapes of the demo Mask R-CNN
    (64-channel RoI features, 3 classes)."""
    config = REPO / 'configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py'
    dummy = TwoStageForwardDummy(build_model(Config.fromfile(str(config))))
    flop_counter, _ = count_flops(lambda: dummy(torch.rand(1, 3, 96, 128)))
    macs = {
        name.replace('TwoStageForwardDummy.detector.', ''):
        sum(counts.values()) // 2
        for name, counts in flop_counter.get_flop_counts().items()
    }
    width, fc, classes = 64, 256, 3
    # Two shared fc layers, then the classifier and class-wise box deltas.
    box_head = (
        width * 7 * 7 * fc + fc * fc + fc * (classes + 1) + fc * 4 * classes)
    # Four 3x3 convolutions at 14x14, a 2x2 deconvolution to 28x28, logits.
    mask_head = (4 * width * width * 9 * 14 * 14 +
                 width * width * 4 * 14 * 14 + width * classes * 28 * 28)
    assert macs['roi_head.bbox_head'] == 1000 * box_head
    assert macs['roi_head.mask_head'] == 100 * mask_head
    assert macs['backbone'] > 0 and macs['rpn_head'] > 0


def test_flop_counter_counts_the_whole_batch_of_axial_mixing():
    model = SMLPNet(SMALL_ARCH, img_size=64, final_norm=False).eval()
    inputs = torch.rand(3, 3, 64, 64)
    flops, _ = count_flops(lambda: model(inputs))
    # Stage 0, block 0, mix along H: a 16x16 weight applied to each of the
    # 3 * 16 * 8 (batch, column, channel) vectors.
    mix_h = flops.get_flop_counts(
    )['SMLPNet.stages.0.blocks.0.global_mixing.mix_h']
    assert sum(mix_h.values()) == 2 * 3 * 16 * 16 * 16 * 8


@pytest.mark.parametrize('img_size', [64, 96])
def test_official_style_model_matches_after_weight_copy(img_size):
    torch.manual_seed(0)
    ours = SMLPNet(SMALL_ARCH, img_size=img_size)
    randomize_batch_norms(ours)
    ours.eval()
    official = official_from_smlpnet(ours).eval()
    inputs = torch.randn(2, 3, img_size, img_size)
    with torch.no_grad():
        expected, actual = ours(inputs), official(inputs)
    assert len(actual) == len(expected) == 4
    for a, b in zip(actual, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='image_size'):
        official(torch.randn(1, 3, img_size + 32, img_size))


# The size each opset's graph is traced at: below, at and above img_size=64.
TRACE_SIZES = dict(
    zip(range(11, 18), itertools.cycle([(32, 64), (64, 64), (96, 128)])))


@pytest.mark.parametrize('mode', ['resize', 'window'])
def test_dynamic_onnx_graph_is_exact_at_every_size(tmp_path, mode):
    """Graphs with free batch, height and width, each traced at one size,
    compute what the model computes at sizes below, at and above img_size,
    square or not, for opsets 11 to 17 (in window mode with shifted
    windows). Size decisions frozen at the traced size used to make such a
    graph fail on one side of img_size and be silently wrong on the other."""
    pytest.importorskip('onnxruntime')
    torch.manual_seed(0)
    model = SMLPNet(
        SMALL_ARCH,
        img_size=64,
        mixing_mode=mode,
        shift_windows=mode == 'window')
    randomize_batch_norms(model)
    model.eval()
    for opset, traced in TRACE_SIZES.items():
        out = str(tmp_path / f'opset{opset}.onnx')
        assert export_onnx(
            model,
            torch.randn(1, 3, *traced),
            out,
            dynamic_batch=True,
            opset=opset,
            dynamic_size=True) == ['stage0', 'stage1', 'stage2', 'stage3']
        for shape in [(32, 32), (64, 64), (96, 80), (40, 136), (160, 96)]:
            assert verify_onnx(model, out, torch.randn(2, 3, *shape),
                               1e-4) < 1e-4


@pytest.mark.parametrize(
    'options, expected',
    [
        (['--shape', '64', '64', '--classifier'], ['logits (1, 6)']),
        # A backbone with free height and width, checked at three sizes.
        (['--shape', '64', '96', '--dynamic-size'], [
            'for inputs 1x3xHxW (traced at 64x96)', 'inputs 1x3x64x96:',
            'inputs 1x3x32x144:', 'inputs 1x3x96x48:'
        ]),
    ])
def test_pytorch2onnx_exports_and_verifies(tmp_path, options, expected):
    pytest.importorskip('onnxruntime')
    out = run_script('tools/deployment/pytorch2onnx.py', DEMO_CONFIG, *options,
                     '--out', str(tmp_path / 'model.onnx'), '--verify')
    for line in expected:
        assert line in out
    assert 'onnxruntime matches PyTorch.' in out


def test_benchmark_runs_end_to_end(tmp_path):
    results_file = tmp_path / 'results.json'
    out = run_script('tools/analysis_tools/benchmark.py', DEMO_CONFIG,
                     '--shapes', '64', '96x64', '--batch-size', '2',
                     '--warmup', '0', '--repeats', '1', '--amp', '--profile',
                     '3', '--json', str(results_file))
    assert 'allocator: ' in out.splitlines()[0]  # the settings header
    assert 'inference, 96x64, batch 2' in out
    assert out.count('operators with the most self time') == 4
    assert 'aten::' in out
    results = json.loads(results_file.read_text())['results']
    assert [(r['shape'], r['variant']) for r in results] == [([64,
                                                               64], 'fp32'),
                                                             ([64, 64], 'amp'),
                                                             ([96,
                                                               64], 'fp32'),
                                                             ([96, 64], 'amp')]
    for row in results:
        assert row['images_per_s'] > 0
    for amp in results[1::2]:  # bf16 autocast against fp32
        assert amp['output_reference'] == DEMO_CONFIG
        assert 0 < amp['max_rel_diff'] < 0.05


def test_benchmark_measures_training_peak_memory(tmp_path):
    results_file = tmp_path / 'results.json'
    run_script('tools/analysis_tools/benchmark.py', DEMO_CONFIG, '--shapes',
               '64', '--batch-size', '2', '--modes', 'train', '--warmup', '0',
               '--repeats', '1', '--memory', '--json', str(results_file))
    [row] = json.loads(results_file.read_text())['results']
    assert row['mode'] == 'train'
    # More than the input batch itself; less than 1 GiB for this tiny net.
    assert 2 * 3 * 64 * 64 * 4 < row['peak_bytes'] < 2**30


def test_allocation_cost_script_prints_every_measurement():
    out = run_script('tools/analysis_tools/allocation_cost.py', '--tokens',
                     '64', '--channels', '8', '--repeats', '1')
    assert 'hidden layer 64 x 24 float32' in out
    assert 'allocator: ' in out
    for row in ('fill a new tensor', 'fill a reused tensor', 'fc1 GEMM',
                'GELU into a new tensor', 'GELU in place'):
        assert row in out


@pytest.mark.parametrize('tune, expected', [
    ('1', 'glibc, mallopt M_MMAP_THRESHOLD='),
    ('0', 'default (MMSMLP_TUNE_MALLOC=0)'),
])
def test_benchmark_reports_the_allocator_it_ran_with(tmp_path, tune, expected):
    """The header and the JSON settings state the same allocator setting,
    the one tune_malloc applied (or, switched off, left) at start-up."""
    if not hasattr(ctypes.CDLL(None), 'gnu_get_libc_version'):
        pytest.skip('glibc only')
    results_file = tmp_path / 'results.json'
    out = run_script(
        'tools/analysis_tools/benchmark.py',
        DEMO_CONFIG,
        '--shapes',
        '32',
        '--batch-size',
        '1',
        '--modes',
        'inference',
        '--variants',
        'fp32',
        '--matmul-size',
        '64',
        '--warmup',
        '0',
        '--repeats',
        '1',
        '--json',
        str(results_file),
        env=environment_without_allocator_choices(MMSMLP_TUNE_MALLOC=tune))
    reported = json.loads(results_file.read_text())['settings']['allocator']
    assert reported.startswith(expected)
    assert out.splitlines()[0].endswith(f'allocator: {reported}')


def test_benchmark_rejects_unknown_models():
    result = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', 'vit-h'],
        cwd=REPO,
        capture_output=True,
        text=True)
    assert result.returncode == 2
    assert "Unknown model 'vit-h'" in result.stderr
    assert 'smlpnet-t' in result.stderr  # it lists the named models


@pytest.mark.parametrize('shape', [(224, 224), (200, 300)])
def test_analytic_token_mixing_macs_match_the_counted_ones(shape):
    model = SMLPNet('tiny', img_size=shape).eval()
    flops, _ = count_flops(lambda: model(torch.rand(1, 3, *shape)))
    counted = flops.get_flop_counts()['Global'][torch.ops.aten.baddbmm] // 2
    smlp, dense = token_mixing_macs('tiny', shape)
    assert smlp == counted
    # Dense mixing of all h*w tokens costs h*w/(h+w) times sMLP's per block:
    # 28x on the 56x56 grid, 3.5x on the 7x7 one.
    grids = [(-(-shape[0] // s), -(-shape[1] // s)) for s in (4, 8, 16, 32)]
    assert dense == sum(depth * (h * w)**2 * 80 * 2**i
                        for i, (depth,
                                (h,
                                 w)) in enumerate(zip((2, 8, 14, 2), grids)))
    assert dense > 10 * smlp


def test_plot_scaling_draws_the_benchmark_results(tmp_path):
    rows = [
        dict(
            model='smlpnet-t',
            variant='fp32',
            mode='inference',
            shape=[size, size],
            batch_size=1,
            median_s=size**2 * 1e-6,
            iqr_s=0.001,
            peak_bytes=size**2 * 1000) for size in (224, 448, 896)
    ]
    results = tmp_path / 'results.json'
    results.write_text(json.dumps(dict(results=rows)))
    out = run_script('tools/analysis_tools/plot_scaling.py', str(results),
                     '--out', str(tmp_path / 'scaling.png'))
    assert '| 896x896 |' in out
    assert (tmp_path / 'scaling.png').stat().st_size > 10_000


def test_benchmark_counts_flops_and_states_its_settings(tmp_path):
    results_file = tmp_path / 'results.json'
    out = run_script('tools/analysis_tools/benchmark.py', DEMO_CONFIG,
                     '--shapes', '64', '--batch-size', '2', '--modes',
                     'inference', 'train-step', '--variants', 'fp32', 'amp',
                     '--channels-last', '--matmul-size', '128', '--warmup',
                     '0', '--repeats', '1', '--json', str(results_file))
    assert 'memory_format: channels_last' in out
    assert 'same variant | TFLOP/s | % of bf16 matmul |' in out
    data = json.loads(results_file.read_text())
    settings = data['settings']
    assert settings['optimizer'].startswith('AdamW')
    assert settings['amp_dtype'] == 'bfloat16'
    assert settings['bf16_matmul_tflops'] > 0

    # The forward pass counted as mmsmlp.analysis.count_flops counts it, x3
    # for training.
    backbone = Config.fromfile(DEMO_CONFIG).model.backbone
    backbone.pop('type')
    model = SMLPNet(**backbone).eval()
    forward, _ = count_flops(lambda: model(torch.rand(1, 3, 64, 64)))
    rows = data['results']
    assert [(r['mode'], r['variant'])
            for r in rows] == [('inference', 'fp32'), ('inference', 'amp'),
                               ('train-step', 'fp32'), ('train-step', 'amp')]
    for row in rows:
        passes = 1 if row['mode'] == 'inference' else 3
        assert row['flops_per_step'] == 2 * passes * forward.get_total_flops()
        assert row['tflops_per_s'] == pytest.approx(row['flops_per_step'] /
                                                    row['median_s'] / 1e12)
        assert row['matmul_tflops_per_s'] == settings['bf16_matmul_tflops']
        assert row['fraction_of_matmul'] == pytest.approx(
            row['tflops_per_s'] / row['matmul_tflops_per_s'])
        # One model: each variant is its own same-variant baseline.
        assert row['speed_vs_baseline_same_variant'] == 1.0
    assert rows[1]['output_reference'] == DEMO_CONFIG
    assert 0 < rows[1]['max_rel_diff'] < 0.05


@pytest.mark.parametrize('amp_dtype', ['bfloat16', 'float16'])
def test_train_step_updates_weights_and_frees_gradients(amp_dtype):
    args = parse_args([
        DEMO_CONFIG, '--device', 'cpu', '--modes', 'train-step', '--variants',
        'fp32', 'amp', '--amp-dtype', amp_dtype
    ])
    fp32, amp = build_entries(args, (64, 64))[0]
    # One optimizer per model; fp16 scales the loss as AmpOptimWrapper.
    assert fp32.optimizer is amp.optimizer
    assert fp32.scaler is None
    assert (amp.scaler is not None) == (amp_dtype == 'float16')
    for entry in (fp32, amp):
        before = [p.detach().clone() for p in entry.module.parameters()]
        step(entry, torch.randn(2, 3, 64, 64), 'train-step',
             args.autocast_dtype)
        after = list(entry.module.parameters())
        assert all(p.grad is None for p in after)
        assert sum(not torch.equal(a, b) for a, b in zip(after, before)) > 10


def test_benchmark_variants_and_references():
    assert parse_args(['smlpnet-t', '--amp',
                       '--compile']).variants == ['fp32', 'amp', 'compiled']
    variants = ['amp', 'amp-compiled']
    assert output_reference('m', 'amp-compiled', variants) == 'm [amp]'
    assert output_reference('m', 'amp', variants) is None  # no fp32 runs
    assert output_reference('m', 'compiled', ['fp32', 'compiled']) == 'm'
    with pytest.raises(SystemExit):
        parse_args(['smlpnet-t', '--amp', '--variants', 'amp'])


def test_gemm_limit_times_the_models_own_gemms():
    """The recorded GEMMs are the channel MLPs' and fusions' (M = batch x
    tokens of the stage): every one of them is timed, and the report
    compares the model's rate with the limit they give."""
    model = SMLPNet(
        arch=dict(embed_dims=16, depths=(1, 1, 2, 1), alpha=3),
        img_size=64).eval()
    inputs = torch.randn(2, 3, 64, 64)
    shapes = record_gemms(lambda: model(inputs))
    # Stage 1: 16x16 tokens, C = 16: fc1, then fc2 and the 3C -> C fusion.
    assert shapes[(512, 16, 48)] == 1 and shapes[(512, 48, 16)] == 2
    # Stage 3: 4x4 tokens, C = 64, two blocks.
    assert shapes[(32, 64, 192)] == 2 and shapes[(32, 192, 64)] == 4
    assert sum(shapes.values()) == 3 * 5
    result = gemm_limit(model, inputs, torch.float32, repeats=1)
    assert {row['shape'] for row in result['rows']} == set(shapes)
    assert result['limit'] > 0 and result['achieved'] > 0
    assert result['ratio'] == result['achieved'] / result['limit']


def test_gemm_limit_tool_prints_the_ratio():
    out = run_script('tools/analysis_tools/gemm_limit.py', 'tiny', '--shape',
                     '64', '64', '--batch-size', '1', '--repeats', '1')
    assert '| 256 x 80 -> 240 | 2 |' in out  # stage 1 fc1, two blocks
    assert 'achieved / limit: ' in out


def test_blas_linear_formulation_computes_the_same_function():
    """smlpnet-*-linear: nn.Linear (BLAS) in place of every PointwiseLinear,
    the same parameters, the same outputs."""
    from mmsmlp.analysis.benchmark.models import as_blas_linear
    from mmsmlp.models.backbones.smlpnet_layers import PointwiseLinear
    model = SMLPNet(arch=SMALL_ARCH, img_size=64).eval()
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(inputs)
        keys = set(model.state_dict())
        linear = as_blas_linear(model)
        assert not any(isinstance(m, PointwiseLinear) for m in model.modules())
        assert set(linear.state_dict()) == keys
        for out, ref in zip(linear(inputs), expected):
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_benchmark_ties_the_linear_formulation_to_its_counterpart():
    args = parse_args(['smlpnet-t', 'smlpnet-t-linear', '--shapes', '64'])
    entries, _ = build_entries(args, (64, 64))
    ours, linear = (e.module for e in entries)
    assert entries[1].reference == 'smlpnet-t'
    for name, tensor in ours.state_dict().items():
        assert torch.equal(linear.state_dict()[name], tensor)


@pytest.mark.parametrize('argv', [
    ['smlpnet-t', '--freeze'],
    ['smlpnet-t', '--compile', '--freeze', '--modes', 'train-step'],
])
def test_benchmark_refuses_freezing_where_it_cannot_apply(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert '--freeze' in capsys.readouterr().err


def test_official_profile_compares_operators_of_both_codes():
    """The official-style code computes the channel MLP with addmm (BLAS);
    sMLPNet computes no addmm at all (oneDNN 1x1 convolutions)."""
    from mmsmlp.analysis.official_profile import (interleaved_medians,
                                                  max_rel_diffs, op_table,
                                                  op_times)
    backbone = SMLPNet(arch=SMALL_ARCH, img_size=64).eval()
    with torch.no_grad():
        randomize_batch_norms(backbone)
    official = official_from_smlpnet(backbone).eval()
    functions = {
        'official-style': official.classify,
        'ours': lambda x: official.mlp_head(backbone(x)[-1].mean((2, 3)))
    }
    inputs = torch.randn(2, 3, 64, 64)
    diffs = max_rel_diffs(functions, inputs)
    assert diffs['official-style'] == 0 and diffs['ours'] < 1e-5
    assert set(interleaved_medians(functions, inputs, 1)) == set(functions)
    profiles = {name: op_times(fn, inputs) for name, fn in functions.items()}
    blocks = sum(SMALL_ARCH['depths'])
    # two channel-MLP layers per block, and the head
    assert profiles['official-style']['aten::addmm'][0] == 2 * blocks + 1
    assert profiles['ours']['aten::addmm'][0] == 1  # the head only
    table = op_table(profiles, min_share=0.)
    assert f'| aten::addmm | {2 * blocks + 1} | ' in table
    assert table.splitlines()[-1].startswith('| all operators |')


def test_loading_spach_names_what_it_needs(tmp_path):
    from mmsmlp.analysis.official_profile import load_spach_smlpnet
    source = tmp_path / 'smlp.py'
    source.write_text('from mmsmlp_no_such_package import Rearrange\n')
    with pytest.raises(ModuleNotFoundError, match='pip install timm einops'):
        load_spach_smlpnet(str(source))
    source.write_text('import torch\n')
    with pytest.raises(AttributeError, match='no sMLPNet class'):
        load_spach_smlpnet(str(source))


@pytest.mark.skipif(
    not os.environ.get('SPACH_SMLP_PY'),
    reason="set SPACH_SMLP_PY to SPACH's models/smlp.py (needs timm, einops)")
def test_spach_code_holds_the_official_style_weights_key_for_key():
    """With SPACH's own file: its sMLPNet loads the official-style state
    dict strictly and computes the same logits as it and as sMLPNet."""
    from mmsmlp.analysis.official_profile import (load_spach_smlpnet,
                                                  logit_functions,
                                                  max_rel_diffs)
    spach_class = load_spach_smlpnet(os.environ['SPACH_SMLP_PY'])
    backbone = SMLPNet(arch=SMALL_ARCH, img_size=64)
    with torch.no_grad():
        randomize_batch_norms(backbone)
    functions = logit_functions(backbone, spach_class)
    diffs = max_rel_diffs(functions, torch.randn(2, 3, 64, 64))
    assert diffs['official-style'] < 1e-6 and diffs['mmsmlp SMLPNet'] < 1e-5
