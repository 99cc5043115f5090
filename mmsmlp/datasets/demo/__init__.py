# Copyright (c) mmsmlp contributors. All rights reserved.
"""Small procedural datasets for the demos and the end-to-end tests, one
module per task (``classification``, ``detection``, ``segmentation``), each
with ``CLASSES`` and ``draw_dataset(out, seed, ...)``. ``detection`` needs
pycocotools, so the modules are not imported here."""
