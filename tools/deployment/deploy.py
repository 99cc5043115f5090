# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Deploy an sMLPNet classifier, detector or segmentor with mmdeploy, in the
shape of mmdeploy's ``tools/deploy.py``, and check the deployed model
against PyTorch on the test images.

    python tools/deployment/deploy.py \\
        configs/deploy/mmdet/instance-seg/instance-seg_onnxruntime_dynamic.py\\
        configs/mask_rcnn/mask-rcnn_smlpnet-t_fpn_1x_coco.py CHECKPOINT \\
        demo.jpg --test-img a.jpg b.jpg --work-dir work_dirs/deploy

Writes ``end2end.onnx`` (and the backend's files) to ``--work-dir``; exits
with an error naming the image and what disagrees when the deployed model's
predictions differ from PyTorch's (see docs/deployment.md for what is
compared).
"""
import argparse

from mmengine.config import Config, DictAction

from mmsmlp.apis import check_file, load_config
from mmsmlp.deployment.deploy import check_deployed, export


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export a model with mmdeploy and check it against '
        'PyTorch')
    parser.add_argument('deploy_cfg', help='deploy config (configs/deploy)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='weights of the model')
    parser.add_argument('img', help='image the model is traced on')
    parser.add_argument(
        '--test-img',
        nargs='+',
        help='images to compare the deployed model '
        'with PyTorch on (default: img)')
    parser.add_argument('--work-dir', default='.', help='output folder')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--min-score',
        type=float,
        default=0.3,
        help='detections PyTorch scores below this are not compared')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the model config, as key=value pairs')
    return parser.parse_args()


def main():
    args = parse_args()
    test_images = args.test_img or [args.img]
    for path, what in [(args.deploy_cfg, 'Deploy config'),
                       (args.checkpoint, 'Checkpoint'), (args.img, 'Image'),
                       *((image, 'Test image') for image in test_images)]:
        check_file(path, what)
    deploy_cfg = Config.fromfile(args.deploy_cfg)
    model_cfg = load_config(args.model_cfg, args.cfg_options)
    backend_files = export(deploy_cfg, model_cfg, args.checkpoint, args.img,
                           args.work_dir, args.device)
    for summary in check_deployed(
            deploy_cfg,
            model_cfg,
            args.checkpoint,
            backend_files,
            test_images,
            args.device,
            min_score=args.min_score):
        print(summary)
    print(f'deployed to {", ".join(backend_files)}: predictions agree with '
          'PyTorch on every test image')


if __name__ == '__main__':
    main()
