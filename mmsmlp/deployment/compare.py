# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Compare a deployed model's predictions with PyTorch's, as the toolkits'
data samples: classification scores, detections (labels, boxes, instance
masks) and segmentation maps. Each function returns a one-line summary and
how many things (images, detections, pixels) it compared, and raises
``AssertionError`` naming what disagrees."""
from typing import Tuple

import torch


def compare_predictions(expected,
                        actual,
                        min_score: float = 0.3,
                        box_tolerance: float = 1e-3,
                        min_agreement: float = 0.999,
                        score_tolerance: float = 1e-4) -> Tuple[str, int]:
    """Compare one image's prediction of PyTorch (``expected``) and of the
    deployed model (``actual``), whatever the task.

    Args:
        min_score (float): Detections scored below it are not compared
            (see docs/deployment.md for where a graph's detections can
            differ from mmdet's); above it, the deployed model must give
            the same detections, none missing, none extra.
        box_tolerance (float): Largest box coordinate difference, pixels.
        min_agreement (float): Smallest share of pixels on which masks and
            segmentation maps agree.
        score_tolerance (float): Largest difference of class or detection
            scores.
    """
    if 'pred_sem_seg' in expected:
        return compare_segmentation(expected.pred_sem_seg.data,
                                    actual.pred_sem_seg.data, min_agreement)
    if 'pred_instances' in expected:
        return compare_detections(expected.pred_instances,
                                  actual.pred_instances, min_score,
                                  box_tolerance, min_agreement,
                                  score_tolerance)
    if 'pred_score' in expected:
        return compare_scores(expected.pred_score, actual.pred_score,
                              score_tolerance)
    raise ValueError(f'no prediction to compare in {type(expected).__name__}'
                     f' (fields: {sorted(expected.keys())}).')


def compare_scores(expected: torch.Tensor, actual: torch.Tensor,
                   tolerance: float) -> Tuple[str, int]:
    deviation = (expected - actual).abs().max().item()
    if expected.argmax() != actual.argmax() or deviation > tolerance:
        raise AssertionError(
            f'class scores differ: top class {expected.argmax().item()} vs '
            f'{actual.argmax().item()}, max |difference| {deviation:.2e} > '
            f'{tolerance:.0e}')
    return (f'top class {expected.argmax().item()}, max |score difference| '
            f'{deviation:.2e}', 1)


def compare_segmentation(expected: torch.Tensor, actual: torch.Tensor,
                         min_agreement: float) -> Tuple[str, int]:
    if expected.shape != actual.shape:
        raise AssertionError(
            f'segmentation maps of shapes {tuple(actual.shape)} and '
            f'{tuple(expected.shape)}')
    agreement = (expected == actual).double().mean().item()
    if agreement < min_agreement:
        raise AssertionError(f'segmentation maps agree on {agreement:.4%} of '
                             f'the pixels, < {min_agreement:.2%}')
    return (f'{tuple(expected.shape[-2:])} map, '
            f'{expected.unique().numel()} classes present, '
            f'pixels agreeing {agreement:.4%}', expected.numel())


def _describe(instances, i) -> str:
    box = ', '.join(f'{v:.2f}' for v in instances.bboxes[i].tolist())
    return (f'label {instances.labels[i].item()} score '
            f'{instances.scores[i].item():.4f} box [{box}]')


def match_detections(expected, actual, min_score: float, box_tolerance: float,
                     score_tolerance: float):
    """Pair each of PyTorch's detections scored at least ``min_score`` with
    a deployed one of the same label, score within ``score_tolerance`` and
    box within ``box_tolerance`` pixels (matching, not sorting, so that two
    detections whose scores differ by less than the deployed model's float
    error may come in either order). Raises on a detection without its
    counterpart, and on a deployed detection scored above ``min_score``
    (by more than ``score_tolerance``) that PyTorch does not have. Returns
    the pairs' indices and the largest box difference."""
    wanted = (expected.scores >= min_score).nonzero().flatten().tolist()
    # The deployed detections in score order, those already paired removed.
    free = actual.scores.argsort(descending=True, stable=True).tolist()
    pairs, box_error = [], 0.
    for i in sorted(wanted, key=lambda i: -expected.scores[i].item()):
        for j in free:
            error = (expected.bboxes[i] - actual.bboxes[j]).abs().max().item()
            if (actual.labels[j] == expected.labels[i]
                    and abs(actual.scores[j] - expected.scores[i])
                    <= score_tolerance and error <= box_tolerance):
                pairs.append((i, j))
                free.remove(j)
                box_error = max(box_error, error)
                break
        else:
            raise AssertionError(
                f'PyTorch detection ({_describe(expected, i)}) has no '
                f'deployed counterpart within {box_tolerance:.0e} px and '
                f'{score_tolerance:.0e} in score')
    extra = [
        j for j in free if actual.scores[j] >= min_score + score_tolerance
    ]
    if extra:
        raise AssertionError(
            f'deployed detection ({_describe(actual, extra[0])}) is not '
            f'among PyTorch\'s {len(wanted)} scored >= {min_score}')
    return pairs, box_error


def compare_detections(expected, actual, min_score: float,
                       box_tolerance: float, min_agreement: float,
                       score_tolerance: float) -> Tuple[str, int]:
    """Detections as :func:`match_detections` pairs them; the pairs' masks,
    where both models give masks, agree on ``min_agreement`` of their
    pixels."""
    pairs, box_error = match_detections(expected, actual, min_score,
                                        box_tolerance, score_tolerance)
    summary = (f'{len(pairs)} detections scored >= {min_score} matched '
               f'(labels equal, max |box difference| {box_error:.2e} px)')
    if pairs and 'masks' in expected and 'masks' in actual:
        ours, theirs = zip(*pairs)
        agreement = (expected.masks[list(ours)].bool() == actual.masks[list(
            theirs)].bool()).double().mean().item()
        if agreement < min_agreement:
            raise AssertionError(f'masks agree on {agreement:.4%} of the '
                                 f'pixels, < {min_agreement:.2%}')
        summary += f', mask pixels agreeing {agreement:.4%}'
    return summary, len(pairs)
