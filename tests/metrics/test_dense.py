"""Part-map IoU and depth error (hpskit.metrics.dense) against hand-counted references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpskit.core import ShapeError
from hpskit.metrics import depth_foreground_l1, mean_iou, part_confusion


def test_confusion_counts_match_numpy():
    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 5, (3, 7, 9), generator=g)
    gt = torch.randint(0, 5, (3, 7, 9), generator=g)
    inter, union = part_confusion(pred, gt, 6)
    p, t = pred.numpy().ravel(), gt.numpy().ravel()
    for c in range(6):
        assert inter[c] == np.sum((p == c) & (t == c)) and union[c] == np.sum((p == c) | (t == c))
    ious = [np.sum((p == c) & (t == c)) / np.sum((p == c) | (t == c)) for c in range(5)]  # class 5 is absent
    assert mean_iou(inter, union) == pytest.approx(np.mean(ious))
    assert mean_iou(inter, union, slice(1, None)) == pytest.approx(np.mean(ious[1:]))
    assert mean_iou(inter, union) == pytest.approx(1.0) or mean_iou(*part_confusion(gt, gt, 6)) == 1.0
    with pytest.raises(ShapeError):
        part_confusion(pred[0], gt, 6)


def test_depth_error_is_measured_on_the_foreground_only():
    gt = torch.zeros(2, 1, 4, 4)
    gt[0, 0, :2] = 0.5
    pred = torch.full_like(gt, 0.7)
    err = depth_foreground_l1(pred, gt)
    assert err[0] == pytest.approx(0.2) and torch.isnan(err[1])
