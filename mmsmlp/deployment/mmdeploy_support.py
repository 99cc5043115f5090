# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""mmdeploy 1.3.1 on the stack mmsmlp installs, and the rewrites that make
sMLPNet detectors and segmentors exact in onnxruntime at every input size.

Importing this module imports mmdeploy and applies, once:

* three fixes that let mmdeploy 1.3.1 export on torch >= 2.9
  (:func:`use_torchscript_exporter`, :func:`restore_cast_long`,
  :func:`keep_fx_wrap_registrations`);
* rewrites, registered with mmdeploy's ``FUNCTION_REWRITER`` for the
  onnxruntime backend, so that they act only while mmdeploy exports a model,
  each making the graph compute what the PyTorch model computes: adaptive
  average pooling (UperNet's pyramid pooling) and mmseg's ``Upsample``
  (Semantic FPN) at every input size, the RPN's and the R-CNN heads'
  post-processing as mmdet's, and the Cascade R-CNN head, which mmdeploy
  exports only with class-agnostic regression.

The deploy configs in ``configs/deploy`` import it with ``custom_imports``,
so mmdeploy's own ``tools/deploy.py`` applies it too; nothing of it is
applied where mmdeploy is not used.
"""
import functools

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from mmsmlp.models.backbones.smlpnet_layers import length_as_tensor

try:
    import mmdeploy
    from mmdeploy.core import FUNCTION_REWRITER
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        'Deploying with mmdeploy needs mmdeploy 1.3.1 and onnxruntime: '
        '`pip install mmsmlp[deploy]` then `pip install --no-deps '
        'mmdeploy==1.3.1` (tools/install.sh does both; see '
        'docs/deployment.md for why --no-deps).') from error

MMDEPLOY_VERSION = '1.3.1'


def check_mmdeploy_version():
    if mmdeploy.__version__ != MMDEPLOY_VERSION:
        raise ImportError(
            f'mmsmlp.deployment.mmdeploy_support targets mmdeploy '
            f'{MMDEPLOY_VERSION}; mmdeploy {mmdeploy.__version__} is '
            f'installed. Install it with `pip install --no-deps '
            f'mmdeploy=={MMDEPLOY_VERSION}`.')


# Before any rewrite below registers with this mmdeploy.
check_mmdeploy_version()
# ONNX's TensorProto.INT64.
_ONNX_INT64 = 7


def use_torchscript_exporter():
    """Make ``torch.onnx.export`` default to the TorchScript-based exporter.

    Since torch 2.9 ``torch.onnx.export`` defaults to ``dynamo=True``, an
    exporter that needs onnxscript and ignores mmdeploy's rewriting of the
    traced functions; mmdeploy 1.3.1 (``mmdeploy/apis/onnx/export.py``)
    calls it without the argument. Callers that pass ``dynamo`` keep their
    choice.
    """
    export = torch.onnx.export
    if getattr(export, '_mmsmlp_torchscript_default', False):
        return

    @functools.wraps(export)
    def export_with_torchscript(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    export_with_torchscript._mmsmlp_torchscript_default = True
    torch.onnx.export = export_with_torchscript


def restore_cast_long():
    """Give ``torch.onnx.symbolic_opset9`` back its ``_cast_Long``.

    mmdeploy 1.3.1's RoIAlign symbolic (``mmdeploy/mmcv/ops/roi_align.py``,
    used by every R-CNN head exported for onnxruntime) imports it to cast the
    RoIs' batch indices; torch removed it (2.14 has none). It was a ``Cast``
    to INT64.
    """
    from torch.onnx import symbolic_opset9
    if hasattr(symbolic_opset9, '_cast_Long'):
        return

    def _cast_Long(g, input, non_blocking):
        return g.op('Cast', input, to_i=_ONNX_INT64)

    symbolic_opset9._cast_Long = _cast_Long


def keep_fx_wrap_registrations():
    """Stop mmdeploy's rewriter from popping torch.fx's registry of wrapped
    functions when it leaves an export.

    mmdeploy 1.3.1's ``FunctionRewriter.exit``
    (``mmdeploy/core/rewriters/function_rewriter.py``) pops as many entries
    off ``torch.fx._symbolic_trace._wrapped_fns_to_patch`` as were added
    during the export, as if it were a list; in torch 2.14 it is a dict, so
    any ``torch.fx.wrap`` during an export ends it with ``KeyError: -1``:
    with timm installed, the first mmdet, mmseg or mmpretrain export imports
    it and its ``torch.fx.wrap`` calls. mmdeploy adds no entries to a dict
    (its ``_fx_wrap_copied_fn`` appends only to a list), so there is nothing
    of its own to remove, and what others registered must stay.
    """
    from mmdeploy.core.rewriters.function_rewriter import (
        FunctionRewriter, _wrapped_fns_to_patch)
    exit_ = FunctionRewriter.exit
    if (not isinstance(_wrapped_fns_to_patch, dict)
            or getattr(exit_, '_mmsmlp_keeps_fx_wraps', False)):
        return

    @functools.wraps(exit_)
    def exit_keeping_fx_wraps(self):
        self._ori_fx_wrap_num = len(_wrapped_fns_to_patch)
        exit_(self)

    exit_keeping_fx_wraps._mmsmlp_keeps_fx_wraps = True
    FunctionRewriter.exit = exit_keeping_fx_wraps


def adaptive_pooling_matrix(x: torch.Tensor, dim: int,
                            bins: int) -> torch.Tensor:
    """The ``(bins, L)`` matrix that averages each of the ``bins`` adaptive-
    pooling windows along axis ``dim`` (length L) of ``x``: window i covers
    ``floor(i L / bins)`` to ``ceil((i + 1) L / bins)``, as in PyTorch's
    adaptive average pooling, with every size a tensor operation."""
    length = length_as_tensor(x.shape[dim], torch.long, x.device)
    index = torch.arange(bins, device=x.device)[:, None]
    starts = index * length // bins
    ends = ((index + 1) * length + bins - 1) // bins
    positions = torch.arange(x.shape[dim], device=x.device)
    inside = (positions >= starts) & (positions < ends)
    return inside.to(x.dtype) / (ends - starts).to(x.dtype)


def adaptive_avg_pool2d_exact(x: torch.Tensor, output_size) -> torch.Tensor:
    """``F.adaptive_avg_pool2d`` of an NCHW ``x`` as two matrix products with
    :func:`adaptive_pooling_matrix`, so that a graph traced at one size pools
    right at every size (mmdeploy's own rewrite is an ``AveragePool`` whose
    kernel is fixed when traced, right only where the size is a multiple of
    the bins)."""
    bins_h, bins_w = _pair(output_size)
    rows = adaptive_pooling_matrix(x, 2, bins_h)
    columns = adaptive_pooling_matrix(x, 3, bins_w)
    return rows @ x @ columns.transpose(0, 1)


@FUNCTION_REWRITER.register_rewriter(
    func_name='torch.nn.functional.adaptive_avg_pool2d', backend='onnxruntime')
def adaptive_avg_pool2d__onnxruntime(input, output_size):
    """Exact adaptive average pooling at every input size (UperNet's pyramid
    pooling); a 1x1 output stays a global average pooling."""
    ctx = FUNCTION_REWRITER.get_context()
    if tuple(_pair(output_size)) == (1, 1):
        return ctx.origin_func(input, output_size)
    return adaptive_avg_pool2d_exact(input, output_size)


@FUNCTION_REWRITER.register_rewriter(
    func_name='mmseg.models.utils.Upsample.forward', backend='onnxruntime')
def upsample__forward__onnxruntime(self, x):
    """mmseg's ``Upsample`` computes its output size with ``int()``, which a
    trace freezes at the traced size (Semantic FPN's heads): keep the size
    ``floor(length * scale_factor)`` a tensor operation of the input."""
    ctx = FUNCTION_REWRITER.get_context()
    if self.size:
        return ctx.origin_func(self, x)
    factors = _pair(self.scale_factor)
    # While traced, the sizes in x.shape are tensors.
    size = [(x.shape[2 + i] * factors[i]).floor().long() if isinstance(
        x.shape[2 + i], torch.Tensor) else int(x.shape[2 + i] * factors[i])
            for i in range(2)]
    return F.interpolate(x, size, None, self.mode, self.align_corners)


@FUNCTION_REWRITER.register_rewriter(
    func_name='mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat',
    backend='onnxruntime')
def rpn_head__predict_by_feat__onnxruntime(self,
                                           cls_scores,
                                           bbox_preds,
                                           score_factors=None,
                                           batch_img_metas=None,
                                           cfg=None,
                                           rescale=False,
                                           with_nms=True,
                                           **kwargs):
    """mmdet's region proposals, in a graph: the best ``nms_pre`` anchors of
    each pyramid level, decoded; boxes without area dropped
    (``min_bbox_size``); NMS within each level (mmdet's ``batched_nms`` over
    level ids); the best ``max_per_img``. mmdeploy's own rewrite runs one
    NMS across all levels after a 0.05 score threshold: other proposals, so
    other detections, the more so the less trained the model. The NMS within
    levels is a multi-class NMS with one class per level."""
    from mmdeploy.codebase.mmdet.deploy import gather_topk
    from mmdeploy.mmcv.ops import multiclass_nms
    cfg = self.test_cfg if cfg is None else cfg
    per_level = cfg.get('nms_pre', -1)
    if per_level <= 0:
        raise ValueError(
            'Exporting an RPN needs test_cfg.rpn.nms_pre > 0 (the proposals '
            "kept per pyramid level before NMS), as in mmdet's configs.")
    batch = cls_scores[0].shape[0]
    anchors = self.prior_generator.grid_priors(
        [score.shape[-2:] for score in cls_scores],
        device=cls_scores[0].device)
    level_boxes, level_scores, level_anchors, levels = [], [], [], []
    for level, (score, delta,
                anchor) in enumerate(zip(cls_scores, bbox_preds, anchors)):
        score = score.permute(0, 2, 3, 1).reshape(batch, -1, 1).sigmoid()
        delta = delta.permute(0, 2, 3, 1).reshape(batch, -1,
                                                  self.bbox_coder.encode_size)
        anchor = anchor.unsqueeze(0)
        # mmdeploy's rewrite of topk takes all anchors of a level that has
        # fewer than nms_pre.
        _, best = score.squeeze(2).topk(per_level)
        delta, score = gather_topk(
            delta, score, inds=best, batch_size=batch, is_batched=True)
        anchor = gather_topk(
            anchor, inds=best, batch_size=batch, is_batched=False)
        level_boxes.append(delta)
        level_scores.append(score)
        level_anchors.append(anchor)
        levels.append(
            torch.zeros_like(score[0, :, 0], dtype=torch.long) + level)
    boxes = self.bbox_coder.decode(
        torch.cat(level_anchors, 1),
        torch.cat(level_boxes, 1),
        max_shape=batch_img_metas[0]['img_shape'])
    scores = torch.cat(level_scores, 1)
    if not with_nms:
        return boxes, scores
    scores = scores * (torch.cat(levels)[:, None] == torch.arange(
        len(cls_scores), device=scores.device)).to(scores.dtype)
    min_size = cfg.get('min_bbox_size', -1)
    if min_size >= 0:
        width = boxes[..., 2] - boxes[..., 0]
        height = boxes[..., 3] - boxes[..., 1]
        scores = scores * ((width > min_size) & (height > min_size))[..., None]
    # The NMS keeps scores above 0 only: not the other levels' columns, not
    # the dropped boxes.
    return multiclass_nms(
        boxes,
        scores,
        max_output_boxes_per_class=cfg.max_per_img,
        iou_threshold=cfg.nms.iou_threshold,
        score_threshold=0.,
        keep_top_k=cfg.max_per_img)


@FUNCTION_REWRITER.register_rewriter(
    func_name='mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.'
    'predict_by_feat',
    backend='onnxruntime')
def bbox_head__predict_by_feat__onnxruntime(self,
                                            rois,
                                            cls_scores,
                                            bbox_preds,
                                            batch_img_metas,
                                            rcnn_test_cfg,
                                            rescale=False):
    """mmdet's R-CNN detections, in a graph: every class's box decoded with
    that class's regression, NMS within each class over the scores above
    ``score_thr``, the best ``max_per_img``. mmdeploy's rewrite gives every
    class of an RoI the box of its best class, so a detection of another
    class moves (by 0.1-0.4 px on the demo detector). Each (RoI, class)
    pair is a box of its own, scored only in its class's column, so the
    multi-class NMS runs within classes on class-specific boxes. Rescaling
    to the original image is left to mmdeploy's model wrapper, as in
    mmdeploy's rewrite."""
    from mmdeploy.mmcv.ops import multiclass_nms
    batch = rois.shape[0]
    num_classes = self.num_classes
    scores = F.softmax(cls_scores, dim=-1)[..., :num_classes]
    boxes = self.bbox_coder.decode(
        rois[..., 1:], bbox_preds, max_shape=batch_img_metas[0]['img_shape'])
    if self.reg_class_agnostic:
        boxes = boxes.repeat_interleave(num_classes, dim=1)
    boxes = boxes.reshape(batch, -1, 4)
    classes = torch.eye(num_classes, dtype=scores.dtype, device=scores.device)
    scores = (scores[..., None] * classes).reshape(batch, -1, num_classes)
    return multiclass_nms(
        boxes,
        scores,
        max_output_boxes_per_class=rcnn_test_cfg.max_per_img,
        iou_threshold=rcnn_test_cfg.nms.iou_threshold,
        score_threshold=rcnn_test_cfg.score_thr,
        keep_top_k=rcnn_test_cfg.max_per_img)


@FUNCTION_REWRITER.register_rewriter(
    'mmdet.models.roi_heads.cascade_roi_head.CascadeRoIHead.predict_bbox',
    backend='onnxruntime')
def cascade_roi_head__predict_bbox__onnxruntime(self,
                                                x,
                                                batch_img_metas,
                                                rpn_results_list,
                                                rcnn_test_cfg,
                                                rescale=False,
                                                **kwargs):
    """mmdet's cascade, in a graph: each stage but the last moves the RoIs
    by the regression of their best class (mmdet's ``regress_by_class``),
    the class scores of all stages are averaged, and the last stage's head
    gives the detections. mmdeploy's rewrite takes only class-agnostic
    regression (``reg_class_agnostic=True``), which the GIoU heads of
    mmdet's and our Cascade configs are not."""
    proposals = rpn_results_list[0]  # (batch, RoIs, 5), the last a score
    batch, per_image = proposals.shape[:2]
    index = torch.arange(batch, device=proposals.device, dtype=proposals.dtype)
    index = index.view(-1, 1, 1).expand(batch, per_image, 1)
    boxes = proposals[..., :4]
    stage_scores = []
    for stage in range(self.num_stages):
        rois = torch.cat([index, boxes], -1).reshape(-1, 5)
        results = self._bbox_forward(stage, x, rois, **kwargs)
        scores = results['cls_score'].reshape(batch, per_image, -1)
        deltas = results['bbox_pred'].reshape(batch, per_image, -1)
        stage_scores.append(scores)
        if stage == self.num_stages - 1:
            break
        head = self.bbox_head[stage]
        if not head.reg_class_agnostic:
            best = scores[..., :-1].argmax(-1, keepdim=True)
            deltas = deltas.reshape(batch, per_image, -1, 4).gather(
                2, best[..., None].expand(-1, -1, 1, 4)).squeeze(2)
        boxes = head.bbox_coder.decode(
            boxes, deltas, max_shape=batch_img_metas[0]['img_shape'])
    return self.bbox_head[-1].predict_by_feat(
        rois=torch.cat([index, boxes], -1),
        cls_scores=sum(stage_scores) / len(stage_scores),
        bbox_preds=deltas,
        batch_img_metas=batch_img_metas,
        rcnn_test_cfg=rcnn_test_cfg,
        rescale=rescale)


use_torchscript_exporter()
restore_cast_long()
keep_fx_wrap_registrations()
