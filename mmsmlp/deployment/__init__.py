# Copyright (c) mmsmlp contributors. All rights reserved.
from .onnx_export import ClassifierLogits, export_onnx, verify_onnx

__all__ = ['ClassifierLogits', 'export_onnx', 'verify_onnx']
