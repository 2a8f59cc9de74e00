"""Metrics of the dense outputs: part-segmentation IoU and depth-map error.

The part map has 23 classes (0 = background, 1..22 body parts, :data:`hpskit.body.PART_NAMES`). IoU is
accumulated as per-class intersection and union counts over a whole evaluation set (the usual mIoU: a class
is scored over every pixel of the set, not averaged per image), and the mean is taken over the classes
that occur in the ground truth or the prediction.

Depth maps are compared on the ground-truth foreground (BEDLAM-normalised depth, background 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import ShapeError

__all__ = ["part_confusion", "mean_iou", "depth_foreground_l1"]


def part_confusion(pred: Tensor, gt: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-class intersection and union pixel counts of two label maps.

    Args:
        pred: Predicted labels, shape (B, H, W), integers in ``[0, num_classes)``.
        gt: Ground-truth labels, same shape.
        num_classes: Number of classes.

    Returns:
        ``(intersection, union)``, each (num_classes,) int64; add them up over batches.

    Example:
        >>> p = torch.tensor([[[0, 1], [1, 1]]]); g = torch.tensor([[[0, 1], [0, 1]]])
        >>> part_confusion(p, g, 2)
        (tensor([1, 2]), tensor([2, 3]))
    """
    if pred.shape != gt.shape or pred.dim() != 3:
        raise ShapeError(f"part_confusion: pred and gt must both be (B, H, W); got {tuple(pred.shape)} and "
                         f"{tuple(gt.shape)}.")
    p, g = pred.reshape(-1).long(), gt.reshape(-1).long()
    inter = torch.bincount(p[p == g], minlength=num_classes)[:num_classes]
    area_p = torch.bincount(p, minlength=num_classes)[:num_classes]
    area_g = torch.bincount(g, minlength=num_classes)[:num_classes]
    return inter, area_p + area_g - inter


def mean_iou(intersection: Tensor, union: Tensor, classes: slice | None = None) -> float:
    """Mean IoU over the classes with a non-empty union (optionally only ``classes``, e.g. ``slice(1, None)``
    for the body parts without the background).

    Example:
        >>> mean_iou(torch.tensor([1, 2]), torch.tensor([2, 3]))
        0.5833333333333333
    """
    i, u = intersection.double(), union.double()
    if classes is not None:
        i, u = i[classes], u[classes]
    ok = u > 0
    return float((i[ok] / u[ok]).mean()) if bool(ok.any()) else float("nan")


def depth_foreground_l1(pred: Tensor, gt: Tensor) -> Tensor:
    """Mean absolute depth error on each sample's ground-truth foreground (``gt > 0``).

    Args:
        pred: Predicted depth maps, shape (B, 1, H, W) or (B, H, W).
        gt: Ground-truth depth maps, same shape, 0 on the background.

    Returns:
        (B,) errors in the maps' unit; NaN for a sample with no foreground.
    """
    if pred.shape != gt.shape:
        raise ShapeError(f"depth_foreground_l1: shapes differ, {tuple(pred.shape)} vs {tuple(gt.shape)}.")
    fg = (gt > 0).flatten(1).float()
    err = (pred.float() - gt.float()).abs().flatten(1)
    return (err * fg).sum(1) / fg.sum(1)
