# mmdeploy's configs/_base_/onnx_config.py at opset 17 (onnxruntime's RoiAlign
# agrees with mmcv's on boxes narrower than one feature cell from opset 16),
# plus the import that makes mmdeploy 1.3.1 export on torch >= 2.9 and keeps
# sMLPNet models exact at every input size (see docs/deployment.md).
custom_imports = dict(
    imports=['mmsmlp', 'mmsmlp.deployment.mmdeploy_support'],
    allow_failed_imports=False)
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=17,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    # mmdeploy's graph optimizer is a compiled extension its wheel lacks.
    optimize=False)
