# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Deploy an mmpretrain, mmdet or mmseg model with mmdeploy and check the
deployed model against PyTorch on images (``tools/deployment/deploy.py``).
"""
import os.path as osp
import statistics
import time
from typing import List, Sequence

import torch
from mmdeploy.apis import build_task_processor, torch2onnx
from mmdeploy.apis.utils import to_backend
from mmdeploy.utils import get_backend, get_ir_config
from mmengine.config import Config

from . import mmdeploy_support  # noqa: F401 (fixes and rewrites)
from .compare import compare_predictions


def check_whole_image_inference(model_cfg: Config) -> None:
    """mmdeploy exports a segmentor's whole-image inference; a config that
    tests with a sliding window would be deployed as another computation."""
    test_cfg = model_cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        raise ValueError(
            "The model config infers with a sliding window (model.test_cfg."
            "mode='slide'), but mmdeploy exports whole-image inference, so "
            'the deployed model would compute something else. Deploy it with '
            '--cfg-options model.test_cfg.mode=whole (PyTorch is then '
            'compared in the same mode), or run a sliding window around the '
            'deployed model yourself.')


def export(deploy_cfg: Config,
           model_cfg: Config,
           checkpoint: str,
           img: str,
           work_dir: str,
           device: str = 'cpu') -> List[str]:
    """Export the model to mmdeploy's intermediate representation (ONNX),
    traced on ``img``, then convert it for the deploy config's backend;
    returns the backend's model files."""
    check_whole_image_inference(model_cfg)
    save_file = get_ir_config(deploy_cfg)['save_file']
    torch2onnx(
        img,
        work_dir,
        save_file,
        deploy_cfg,
        model_cfg,
        checkpoint,
        device=device)
    return to_backend(
        get_backend(deploy_cfg).value, [osp.join(work_dir, save_file)],
        work_dir=work_dir,
        deploy_cfg=deploy_cfg,
        device=device)


def check_deployed(deploy_cfg: Config,
                   model_cfg: Config,
                   checkpoint: str,
                   backend_files: Sequence[str],
                   images: Sequence[str],
                   device: str = 'cpu',
                   min_score: float = 0.3,
                   **tolerances) -> List[str]:
    """Run PyTorch and the deployed model on each image file through the
    model config's test pipeline and compare their predictions with
    :func:`compare_predictions` (``min_score`` and ``tolerances`` are its
    keyword arguments). Returns one summary per image; raises
    ``AssertionError`` naming the image and what disagrees, or when nothing
    was compared (no detection scored ``min_score`` on any image)."""
    processor = build_task_processor(model_cfg, deploy_cfg, device)
    torch_model = processor.build_pytorch_model(checkpoint)
    deployed = processor.build_backend_model(backend_files)
    summaries, compared = [], 0
    for image in images:
        # Not preprocessed: test_step runs each model's data preprocessor.
        data, _ = processor.create_input(image, None)
        with torch.no_grad():
            expected = torch_model.test_step(data)[0]
            actual = deployed.test_step(data)[0]
        size = 'x'.join(
            map(
                str,
                expected.metainfo.get('batch_input_shape',
                                      expected.metainfo.get('img_shape'))))
        try:
            summary, count = compare_predictions(
                expected, actual, min_score=min_score, **tolerances)
        except AssertionError as error:
            raise AssertionError(
                f'{image} (input {size}): the deployed model disagrees with '
                f'PyTorch: {error}') from None
        summaries.append(f'{image} (input {size}): {summary}')
        compared += count
    if not compared:
        raise AssertionError(
            f'Nothing was compared: PyTorch detects nothing scored >= '
            f'{min_score} on the test images. Give images with objects, or '
            'a lower --min-score.')
    return summaries


def time_deployed(deploy_cfg: Config,
                  model_cfg: Config,
                  checkpoint: str,
                  backend_files: Sequence[str],
                  image: str,
                  runs: int = 5,
                  device: str = 'cpu') -> dict:
    """Median seconds of one ``test_step`` (preprocessing, network,
    post-processing) on ``image`` of PyTorch and of the deployed model,
    after one untimed run of each, interleaved."""
    processor = build_task_processor(model_cfg, deploy_cfg, device)
    models = dict(
        pytorch=processor.build_pytorch_model(checkpoint),
        deployed=processor.build_backend_model(backend_files))
    data, _ = processor.create_input(image, None)
    times = {name: [] for name in models}
    with torch.no_grad():
        for run in range(runs + 1):
            for name, model in models.items():
                start = time.perf_counter()
                model.test_step(data)
                if run:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
