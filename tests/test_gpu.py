# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The backbone and the three tasks on a CUDA GPU: forward and backward in
fp32 and under fp16 / bf16 autocast, activation checkpointing,
``torch.compile``, Mask R-CNN and UperNet loss and predict steps, and
single-process NCCL training through ``tools/dist_train.sh``.

Every test takes the device as a parameter. The ``cuda`` cases skip where
torch sees no GPU (CI); the cases that are cheap on the CPU run there too, so
that the test code itself runs on every machine.

Tolerances, as ``max |out - ref| / max |ref|`` per output: 1e-4 for the GPU
against the CPU in fp32 (TF32 off), 1e-3 for ``torch.compile`` against eager
(fused kernels reorder sums), 1e-2 for fp16 and 6e-2 for bf16 autocast
against fp32 (10 and 7 mantissa bits; measured on the CPU for the small
network of these tests: up to 3.9e-3 and 3.0e-2, the largest in training mode
at the last stage, where BatchNorm normalises over 2 x 2 x 3 values);
autocast gradients point the same way as the fp32 ones (cosine similarity
>= 0.99).
"""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS as DET_MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.structures import SegDataSample

from mmsmlp.engine import free_port
from mmsmlp.models import SMLPNet

REPO = Path(__file__).resolve().parents[1]
HAS_CUDA = torch.cuda.is_available()
CUDA = pytest.param(
    'cuda', marks=pytest.mark.skipif(not HAS_CUDA, reason='needs a CUDA GPU'))
DEVICES = ['cpu', CUDA]

# 16 channels in the first stage, twice those of mmsmlp.testing.SMALL_ARCH.
DEVICE_ARCH = dict(embed_dims=16, depths=(1, 1, 2, 1), alpha=2)
# Not a multiple of the reference size along W: 'resize' mode resamples.
SHAPE = (64, 80)
DET_DEMO = REPO / 'configs/mask_rcnn/mask-rcnn_smlpnet-demo_fpn_shapes.py'
SEG_DEMO = REPO / 'configs/upernet/smlpnet-demo_upernet_shapes.py'
CLS_DEMO = REPO / 'configs/smlpnet/smlpnet-demo_1xb32_shapes.py'


@pytest.fixture(autouse=True)
def exact_fp32():
    """fp32 without TF32 in matmuls and cuDNN convolutions, restored after
    the test."""
    matmul, cudnn = (torch.get_float32_matmul_precision(),
                     torch.backends.cudnn.allow_tf32)
    torch.set_float32_matmul_precision('highest')
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.set_float32_matmul_precision(matmul)
    torch.backends.cudnn.allow_tf32 = cudnn


def small_net(**kwargs):
    torch.manual_seed(0)
    return SMLPNet(DEVICE_ARCH, img_size=64, **kwargs)


def images(device, batch=2):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, 3, *SHAPE, generator=generator).to(device)


def forward_backward(model, inputs, autocast_dtype=None):
    """Outputs (in fp32) and parameter gradients of one training step."""
    model.train()
    with torch.autocast(
            inputs.device.type,
            dtype=autocast_dtype,
            enabled=autocast_dtype is not None):
        outputs = model(inputs)
    sum((out.float()**2).mean() for out in outputs).backward()
    # A compiled model's parameters are its module's, under '_orig_mod.'.
    grads = {
        name.removeprefix('_orig_mod.'): p.grad.clone()
        for name, p in model.named_parameters()
    }
    model.zero_grad(set_to_none=True)
    return [out.detach().float() for out in outputs], grads


def rel_error(actual, expected):
    return ((actual.cpu() - expected.cpu()).abs().max() /
            expected.abs().max()).item()


def assert_close_outputs(actual, expected, tolerance):
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected):
        assert a.shape == b.shape
        assert rel_error(a, b) <= tolerance


def assert_close_grads(actual, expected, tolerance):
    assert actual.keys() == expected.keys()
    for name in expected:
        assert rel_error(actual[name], expected[name]) <= tolerance, name


def cosine(grads_a, grads_b):
    a = torch.cat([g.flatten().cpu() for g in grads_a.values()])
    b = torch.cat([grads_b[name].flatten().cpu() for name in grads_a])
    return F.cosine_similarity(a, b, dim=0).item()


# ------------------------------------------------------------ the backbone
@pytest.mark.parametrize('device', DEVICES)
def test_forward_backward_reaches_every_parameter(device):
    model = small_net().to(device)
    outputs, grads = forward_backward(model, images(device))
    assert [out.shape[-2:] for out in outputs] == [(16, 20), (8, 10), (4, 5),
                                                   (2, 3)]
    assert all(out.device.type == device for out in outputs)
    for name, grad in grads.items():
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    if device != 'cpu':  # the same step on the CPU, same weights
        cpu_outputs, cpu_grads = forward_backward(small_net(), images('cpu'))
        assert_close_outputs(outputs, cpu_outputs, 1e-4)
        assert_close_grads(grads, cpu_grads, 1e-4)


@pytest.mark.parametrize(
    'device, dtype, tolerance',
    [('cpu', torch.bfloat16, 6e-2),
     pytest.param(*CUDA.values, torch.float16, 1e-2, marks=CUDA.marks),
     pytest.param(*CUDA.values, torch.bfloat16, 6e-2, marks=CUDA.marks)])
def test_autocast_matches_fp32(device, dtype, tolerance):
    model = small_net().to(device)
    inputs = images(device)
    fp32_outputs, fp32_grads = forward_backward(model, inputs)
    amp_outputs, amp_grads = forward_backward(model, inputs, dtype)
    assert_close_outputs(amp_outputs, fp32_outputs, tolerance)
    assert cosine(amp_grads, fp32_grads) >= 0.99
    # Inference, where 'resize' mode caches the resampled weights: an
    # autocast call between two fp32 calls leaves the fp32 results alone.
    model.eval()
    with torch.no_grad():
        before = model(inputs)
        with torch.autocast(device, dtype=dtype):
            amp = model(inputs)
        after = model(inputs)
    assert_close_outputs([out.float() for out in amp], before, tolerance)
    assert_close_outputs(after, before, 1e-6)


@pytest.mark.parametrize('device', DEVICES)
def test_with_cp_matches_without_on_the_device(device):
    plain = small_net().to(device)
    checkpointed = small_net(with_cp=True).to(device)
    outputs, grads = forward_backward(plain, images(device))
    cp_outputs, cp_grads = forward_backward(checkpointed, images(device))
    assert_close_outputs(cp_outputs, outputs, 1e-5)
    assert_close_grads(cp_grads, grads, 1e-5)


@pytest.mark.parametrize('device', [CUDA])
def test_torch_compile_matches_eager(device):
    """Inference and a training step of the compiled backbone (one graph for
    a non-reference size in 'resize' mode) against eager mode. Too slow to
    compile on a CI CPU."""
    eager = small_net().to(device)
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module)
    inputs = images(device)
    eager.eval()
    compiled_module.eval()
    with torch.no_grad():
        assert_close_outputs(compiled(inputs), eager(inputs), 1e-3)
    outputs, grads = forward_backward(eager, inputs)
    cp_outputs, cp_grads = forward_backward(compiled, inputs)
    assert_close_outputs(cp_outputs, outputs, 1e-3)
    assert cosine(cp_grads, grads) >= 0.9999


# ---------------------------------------------------------------- the tasks
@pytest.mark.parametrize('device', DEVICES)
def test_mask_rcnn_loss_and_predict_on_the_device(device):
    """The detection demo model, whose RoIAlign and NMS are mmcv's compiled
    ops (CUDA kernels on a GPU)."""
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(DET_DEMO)
    torch.manual_seed(0)
    model = DET_MODELS.build(cfg.model).to(device)
    shapes = [(3, 96, 120), (3, 130, 160)]
    batch = demo_mm_inputs(
        batch_size=2,
        image_shapes=shapes,
        num_items=[2, 3],
        num_classes=cfg.model.roi_head.bbox_head.num_classes,
        with_mask=True)

    model.train()
    data = model.data_preprocessor(batch, training=True)
    assert data['inputs'].device.type == device
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox',
            'loss_mask'} <= set(log_vars)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.backbone.stages[0].downsample.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    for result, (_, height, width) in zip(results, shapes):
        pred = result.pred_instances
        assert pred.bboxes.device.type == device
        assert pred.masks.shape[1:] == (height, width)
        assert len(pred.scores) == len(pred.labels) == len(pred.masks)


@pytest.mark.parametrize('device', DEVICES)
def test_upernet_loss_and_predict_on_the_device(device):
    init_default_scope('mmseg')
    cfg = Config.fromfile(SEG_DEMO)
    torch.manual_seed(0)
    model = SEG_MODELS.build(cfg.model).to(device)
    num_classes = cfg.model.decode_head.num_classes
    generator = torch.Generator().manual_seed(0)
    shape = (128, 128)
    samples = []
    for _ in range(2):
        label = torch.randint(0, num_classes, (1, *shape), generator=generator)
        sample = SegDataSample(gt_sem_seg=PixelData(data=label))
        sample.set_metainfo(dict(ori_shape=shape, img_shape=shape))
        samples.append(sample)
    batch = dict(
        inputs=[
            torch.randint(
                0, 256, (3, *shape), generator=generator, dtype=torch.uint8)
            for _ in samples
        ],
        data_samples=samples)

    model.train()
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    total = sum(value for key, value in losses.items() if 'loss' in key)
    assert total.device.type == device and torch.isfinite(total)
    total.backward()
    assert model.backbone.stages[0].downsample.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    for result in results:
        assert result.seg_logits.data.device.type == device
        assert result.pred_sem_seg.data.shape == (1, *shape)
        assert result.pred_sem_seg.data.max() < num_classes


@pytest.mark.parametrize('device', [CUDA])
def test_dist_train_one_process_nccl(device, tmp_path):
    """tools/dist_train.sh with one process: torchrun, NCCL on the GPU
    (gloo on the CPU), a DDP-wrapped model, two one-iteration epochs of the
    classification demo (the first is its warm-up) and a checkpoint."""
    data = tmp_path / 'cls'
    subprocess.run([
        sys.executable, 'tools/data/make_demo_cls.py', '--out',
        str(data), '--num-train', '1', '--num-val', '1'
    ],
                   cwd=REPO,
                   check=True,
                   timeout=300)
    work_dir = tmp_path / 'work'
    # dist_train.sh runs `python`: this interpreter.
    env = dict(
        os.environ,
        PORT=str(free_port()),
        PATH=os.pathsep.join(
            [os.path.dirname(sys.executable), os.environ['PATH']]))
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    result = subprocess.run([
        'bash', 'tools/dist_train.sh',
        str(CLS_DEMO), '1', '--work-dir',
        str(work_dir), '--cfg-options', 'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=6', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ],
                            cwd=REPO,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    log = next(work_dir.glob('*/*.log')).read_text()
    backend = 'nccl' if device == 'cuda' else 'gloo'
    assert re.search(rf"backend='{backend}'", log)
    assert 'Distributed training: True' in log
    assert re.search(r'Epoch\(train\) +\[2\]\[1/1\]', log)
    assert (work_dir / 'epoch_2.pth').is_file()
