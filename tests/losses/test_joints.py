"""3D joint MSE (optional pelvis alignment) and vertex L1."""

import pytest
import torch

from hpskit.core import ShapeError
from hpskit.losses import Joints3DLoss, VerticesLoss, joints3d_loss, vertices_l1_loss


def test_joints_hand_value_alignment_and_subset():
    pred = torch.zeros(1, 3, 3, dtype=torch.float64)
    target = torch.tensor([[[1.0, 0, 0], [1.0, 2.0, 0], [1.0, 0, 2.0]]], dtype=torch.float64)
    assert joints3d_loss(pred, target).item() == pytest.approx((3 + 4 + 4) / 9)
    # pelvis alignment removes the common offset: aligned target = [[0,0,0],[0,2,0],[0,0,2]]
    assert joints3d_loss(pred, target, align="pelvis").item() == pytest.approx(8 / 9)
    shifted = pred + torch.tensor([0.3, -1.0, 5.0], dtype=torch.float64)
    assert joints3d_loss(shifted, pred, align="pelvis").item() == pytest.approx(0.0, abs=1e-24)
    assert joints3d_loss(shifted, pred).item() == pytest.approx((0.09 + 1 + 25) / 3)
    # pelvis as the mean of several joints (e.g. the hips)
    assert joints3d_loss(pred, target, align="pelvis", pelvis=[1, 2]).item() == pytest.approx(
        joints3d_loss(pred - pred[:, 1:3].mean(1, keepdim=True),
                      target - target[:, 1:3].mean(1, keepdim=True)).item())
    # only the first num_joints of both sets
    big = torch.cat([pred, torch.full((1, 124, 3), 9.0, dtype=torch.float64)], 1)  # 127 joints
    assert joints3d_loss(big, target, num_joints=2).item() == pytest.approx((1 + 5) / 6)
    assert Joints3DLoss(num_joints=2)(big, target).item() == pytest.approx((1 + 5) / 6)
    with pytest.raises(ShapeError, match="num_joints=4"):
        joints3d_loss(big, target, num_joints=4)
    with pytest.raises(ShapeError, match="num_joints=n"):
        joints3d_loss(big, target)
    with pytest.raises(ValueError, match="align"):
        joints3d_loss(pred, target, align="root")


def test_vertices_hand_value_mask_and_gradcheck():
    pred = torch.zeros(2, 4, 3, dtype=torch.float64)
    target = torch.zeros_like(pred)
    target[0, 0] = torch.tensor([0.3, -0.6, 0.0], dtype=torch.float64)
    target[1] = float("nan")
    m = torch.tensor([True, False])
    assert vertices_l1_loss(pred, target, m).item() == pytest.approx(0.9 / 12)
    assert VerticesLoss()(pred[:1], target[:1]).item() == pytest.approx(0.9 / 12)
    x = (torch.rand(1, 5, 3, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: vertices_l1_loss(v, torch.zeros_like(v)), (x,))
    y = torch.rand(2, 5, 3, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda j: joints3d_loss(j, torch.zeros_like(j), align="pelvis"), (y,))
