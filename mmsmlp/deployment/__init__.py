# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .onnx_export import ClassifierLogits, export_onnx, verify_onnx

__all__ = ['ClassifierLogits', 'export_onnx', 'verify_onnx']
