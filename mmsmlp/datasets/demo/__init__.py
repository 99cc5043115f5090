# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Small procedural datasets for the demos and the end-to-end tests, one
module per task (``classification``, ``detection``, ``segmentation``), each
with ``CLASSES`` and ``draw_dataset(out, seed, ...)``. ``detection`` needs
pycocotools, so the modules are not imported here."""
