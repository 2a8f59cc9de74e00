"""Full-image reprojection through the CLIFF camera, and the authors' camera-scale term."""

import math

import numpy as np
import pytest
import torch

from hpskit.core import ShapeError
from hpskit.losses import (
    CameraScaleLoss,
    ReprojectionLoss,
    camera_scale_loss,
    normalize_keypoints,
    reprojection_loss,
)


def _simple():
    # f = 1000, 1000×1000 image, box centred with side 200 (s = 1), cam (1, 0, 0) → t = (0, 0, 10).
    K = torch.tensor([[[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]]], dtype=torch.float64)
    return dict(cam=torch.tensor([[1.0, 0, 0]], dtype=torch.float64),
                center=torch.tensor([[500.0, 500.0]], dtype=torch.float64),
                scale=torch.tensor([1.0], dtype=torch.float64), K=K,
                image_size=torch.tensor([[1000.0, 1000.0]], dtype=torch.float64))


def test_hand_value_confidence_and_box_factor():
    a = _simple()
    joints = torch.tensor([[[1.0, 0, 0], [0, 0.5, 0], [0, 0, 0]]], dtype=torch.float64)
    # projections: (600, 500), (500, 550), (500, 500) → normalised (0.2, 0), (0, 0.1), (0, 0)
    gt = torch.tensor([[[500.0, 500.0, 1.0], [500.0, 500.0, 0.5], [0.0, 0.0, -2.0]]], dtype=torch.float64)
    expected = (0.2**2 + 0.5 * 0.1**2) / 6  # the −2 joint counts as 0 but stays in the mean
    loss = reprojection_loss(joints, target=gt, **a)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    # box factor W/(200 s) = H/(200 s) = 5
    assert reprojection_loss(joints, target=gt, bbox_factor=True, **a).item() == pytest.approx(5 * expected)
    # (x, y) targets without confidence count with weight 1
    loss2 = reprojection_loss(joints[:, :2], target=gt[:, :2, :2], **a)
    assert loss2.item() == pytest.approx((0.04 + 0.01) / 4, rel=1e-12)
    mod = ReprojectionLoss(num_joints=2)
    out = mod(joints, a["cam"], a["center"], a["scale"], a["K"], a["image_size"], gt)
    assert out.item() == pytest.approx((0.04 + 0.5 * 0.01) / 4, rel=1e-12)


def _numpy_reference(joints, cam, center, scale, K, size, gt, bbox_factor):
    """Independent re-derivation (formats.md §8) in numpy, sample by sample."""
    out = []
    for b in range(joints.shape[0]):
        fx, fy, px, py = K[b, 0, 0], K[b, 1, 1], K[b, 0, 2], K[b, 1, 2]
        bs = 200 * scale[b] * cam[b, 0]
        t = np.array([cam[b, 1] + 2 * (center[b, 0] - px) / bs, cam[b, 2] + 2 * (center[b, 1] - py) / bs,
                      2 * fx / bs])
        p = joints[b] + t
        uv = np.stack([fx * p[:, 0] / p[:, 2] + px, fy * p[:, 1] / p[:, 2] + py], -1)
        W, H = size[b]
        norm = lambda q: np.stack([2 * q[:, 0] / W - 1, 2 * q[:, 1] / H - 1], -1)  # noqa: E731
        conf = np.where(gt[b, :, 2] < 0, 0.0, gt[b, :, 2])
        err = conf[:, None] * (norm(uv) - norm(gt[b, :, :2])) ** 2
        if bbox_factor:
            err = err * np.array([W, H]) / (200 * scale[b])
        out.append(err.mean())
    return np.array(out)


@pytest.mark.parametrize("bbox_factor", [False, True])
def test_against_numpy_reference(bbox_factor):
    g = torch.Generator().manual_seed(3)
    B, J = 3, 24
    joints = torch.rand(B, 30, 3, generator=g, dtype=torch.float64) - 0.5
    cam = torch.stack([0.6 + 0.5 * torch.rand(B, generator=g, dtype=torch.float64),
                       0.2 * torch.randn(B, generator=g, dtype=torch.float64),
                       0.2 * torch.randn(B, generator=g, dtype=torch.float64)], -1)
    size = torch.tensor([[1920.0, 1080.0], [640.0, 480.0], [1000.0, 1500.0]], dtype=torch.float64)
    K = torch.zeros(B, 3, 3, dtype=torch.float64)
    K[:, 0, 0], K[:, 1, 1] = torch.tensor([1500.0, 600.0, 1800.0]), torch.tensor([1490.0, 610.0, 1800.0])
    K[:, 0, 2], K[:, 1, 2] = size[:, 0] / 2 + 13, size[:, 1] / 2 - 7  # principal point off-centre
    K[:, 2, 2] = 1
    center = size * torch.rand(B, 2, generator=g, dtype=torch.float64)
    scale = 1 + 2 * torch.rand(B, generator=g, dtype=torch.float64)
    gt = torch.cat([size[:, None] * torch.rand(B, J, 2, generator=g, dtype=torch.float64),
                    torch.randint(-2, 2, (B, J, 1), generator=g).double()], -1)
    per = reprojection_loss(joints, cam, center, scale, K, size, gt, num_joints=J, bbox_factor=bbox_factor,
                            reduction="none")
    ref = _numpy_reference(joints[:, :J].numpy(), cam.numpy(), center.numpy(), scale.numpy(), K.numpy(),
                           size.numpy(), gt.numpy(), bbox_factor)
    np.testing.assert_allclose(per.numpy(), ref, rtol=1e-10)
    j = joints[:1, :4].clone().requires_grad_()
    c = cam[:1].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda jj, cc: reprojection_loss(jj, cc, center[:1], scale[:1], K[:1], size[:1], gt[:1, :4]), (j, c))


def test_unsupervised_samples_are_safe():
    a = _simple()
    B = 2
    args = {k: torch.cat([v, torch.zeros_like(v)]) for k, v in a.items()}  # sample 1: zero K, cam, size
    joints = torch.rand(B, 3, 3, dtype=torch.float64).requires_grad_()
    cam = args.pop("cam").requires_grad_()
    gt = torch.full((B, 3, 3), float("nan"), dtype=torch.float64)
    gt[0] = torch.tensor([[500.0, 500.0, 1.0]] * 3)
    m = torch.tensor([True, False])
    loss = reprojection_loss(joints, cam, target=gt, mask=m, **args)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(joints.grad).all() and torch.isfinite(cam.grad).all()
    assert (joints.grad[1] == 0).all() and (cam.grad[1] == 0).all()
    assert loss.item() == pytest.approx(
        reprojection_loss(joints[:1].detach(), target=gt[:1], **a).item(), rel=1e-12)
    none = reprojection_loss(joints, cam, target=gt, mask=torch.zeros(B, dtype=torch.bool), **args)
    assert none.item() == 0


def test_errors_and_normalize():
    a = _simple()
    with pytest.raises(ShapeError, match="num_joints=n"):
        reprojection_loss(torch.zeros(1, 5, 3), target=torch.zeros(1, 4, 3), **a)
    with pytest.raises(ShapeError, match=r"target.*\(x, y, conf\)"):
        reprojection_loss(torch.zeros(1, 4, 3), target=torch.zeros(1, 4, 4), **a)
    with pytest.raises(ShapeError, match="image_size"):
        reprojection_loss(torch.zeros(1, 4, 3), target=torch.zeros(1, 4, 3),
                          **{**a, "image_size": torch.ones(1, 3)})
    kp = torch.tensor([[[0.0, 0.0], [640.0, 480.0], [320.0, 120.0]]])
    torch.testing.assert_close(normalize_keypoints(kp, torch.tensor([[640.0, 480.0]])),
                               torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, -0.5]]]))


def test_camera_scale_values_and_gradient():
    s = torch.tensor([0.0, 0.1, 1.0, -1.0], dtype=torch.float64, requires_grad=True)
    cam = torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], -1)
    per = camera_scale_loss(cam, reduction="none")
    expected = [1.0, math.exp(-2.0), math.exp(-10.0), math.exp(10.0)]  # exp(−10·clip(s))²
    np.testing.assert_allclose(per.detach().numpy(), expected, rtol=1e-12)
    per.sum().backward()
    # d/ds exp(−20 s) = −20 exp(−20 s) inside the clip range, 0 outside
    np.testing.assert_allclose(s.grad.numpy(), [-20.0, -20 * math.exp(-2.0), 0.0, 0.0], rtol=1e-12)
    assert CameraScaleLoss()(cam).item() == pytest.approx(sum(expected) / 4)
