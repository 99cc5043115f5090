# The input size is the size of the image given to the export, after the
# model config's test pipeline.
_base_ = ['./segmentation_static.py', '../_base_/backends/onnxruntime.py']
