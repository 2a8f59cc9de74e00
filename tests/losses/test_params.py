"""SMPL-X pose (rotation-matrix MSE) and betas losses."""

import math

import pytest
import torch

from hpskit.core import ShapeError
from hpskit.geometry import axis_angle_to_rotmat
from hpskit.losses import BetasLoss, PoseLoss, betas_loss, pose_rotmat_loss


def test_pose_hand_value_and_root_exclusion():
    pred = torch.eye(3, dtype=torch.float64).expand(1, 2, 3, 3).clone()
    aa = torch.zeros(1, 2, 3, dtype=torch.float64)
    aa[0, 1, 2] = math.pi / 2  # joint 1: 90° about z → R − I = [[-1,-1,0],[1,-1,0],[0,0,0]], Σ² = 4
    assert pose_rotmat_loss(pred, aa).item() == pytest.approx(4 / 18, rel=1e-12)
    assert pose_rotmat_loss(pred, aa, exclude_root=True).item() == pytest.approx(4 / 9, rel=1e-12)
    aa[0, 0, 0] = math.pi  # root: 180° about x → R − I = diag(0, −2, −2), Σ² = 8
    assert pose_rotmat_loss(pred, aa).item() == pytest.approx(12 / 18, rel=1e-12)
    assert pose_rotmat_loss(pred, aa, exclude_root=True).item() == pytest.approx(4 / 9, rel=1e-12)
    # all three target forms agree
    R = axis_angle_to_rotmat(aa)
    for tgt in (R, aa, aa.reshape(1, 6)):
        assert pose_rotmat_loss(pred, tgt).item() == pytest.approx(12 / 18, rel=1e-12)
    assert PoseLoss(exclude_root=True)(pred, R).item() == pytest.approx(4 / 9, rel=1e-12)


def test_pose_mask_gradcheck_and_errors():
    pred = axis_angle_to_rotmat(torch.randn(3, 22, 3, dtype=torch.float64)).requires_grad_()
    tgt = axis_angle_to_rotmat(torch.randn(3, 22, 3, dtype=torch.float64))
    m = torch.tensor([True, True, False])
    tgt2 = tgt.clone()
    tgt2[2] = float("nan")
    a = pose_rotmat_loss(pred, tgt2, m)
    assert a.item() == pytest.approx(pose_rotmat_loss(pred[:2], tgt[:2]).item(), rel=1e-12)
    a.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[2] == 0).all()
    assert torch.autograd.gradcheck(lambda p: pose_rotmat_loss(p, tgt[:1, :2]),
                                    (pred[:1, :2].detach().clone().requires_grad_(),))
    with pytest.raises(ShapeError, match=r"\(B, 22, 3, 3\).*got \(3, 21, 3\)"):
        pose_rotmat_loss(pred, torch.zeros(3, 21, 3))


def test_betas_hand_value_padding_and_errors():
    pred = torch.tensor([[1.0, 2.0, 0.5]])
    assert betas_loss(pred, torch.tensor([[0.0, 2.0, 0.0]])).item() == pytest.approx((1 + 0.25) / 3)
    assert betas_loss(pred, torch.tensor([[1.0, 2.0]])).item() == pytest.approx(0.25 / 3)  # padded with 0
    assert BetasLoss()(pred, torch.tensor([[1.0, 2.0]])).item() == pytest.approx(0.25 / 3)
    with pytest.raises(ShapeError, match="4 betas but `pred` only 3"):
        betas_loss(pred, torch.zeros(1, 4))
    x = torch.randn(2, 11, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: betas_loss(p, torch.zeros(2, 10, dtype=torch.float64)), (x,))
