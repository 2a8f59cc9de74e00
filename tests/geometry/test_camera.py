import pytest
import torch

from hpskit.core import ShapeError
from hpskit.geometry import (
    cliff_bbox_info,
    crop_cam_to_full_transl,
    default_focal,
    full_transl_to_crop_cam,
    intrinsics_from_focal,
    perspective_project,
)


def test_default_focal_numbers_and_tensors():
    assert float(default_focal(3, 4)) == 5.0
    torch.testing.assert_close(default_focal(torch.tensor([640.0, 1920.0]), torch.tensor([480.0, 1080.0])),
                               torch.tensor([800.0, (1920.0**2 + 1080.0**2) ** 0.5]))


def test_intrinsics_from_focal():
    K = intrinsics_from_focal(torch.tensor([[1000.0, 900.0], [500.0, 600.0]]), torch.tensor([640.0, 100.0]),
                              torch.tensor([480.0, 50.0]))
    expected = torch.tensor([[[1000.0, 0, 320], [0, 900, 240], [0, 0, 1]],
                             [[500.0, 0, 50], [0, 600, 25], [0, 0, 1]]])
    assert torch.equal(K, expected)
    K1 = intrinsics_from_focal(torch.tensor([7.0]), 10.0, 20.0)
    assert torch.equal(K1[0], torch.tensor([[7.0, 0, 5], [0, 7, 10], [0, 0, 1]]))


def test_cliff_bbox_info_hand_derived():
    K = intrinsics_from_focal(torch.tensor([1000.0]), 640.0, 480.0)
    info = cliff_bbox_info(torch.tensor([[420.0, 340.0]]), torch.tensor([0.5]), K)
    torch.testing.assert_close(info, torch.tensor([[0.1, 0.1, 0.1]]))


def test_crop_cam_to_full_hand_derived():
    # W=640, H=480, f=1000, centre (420, 340), b = 200·0.5 = 100, cam (2, 0.1, -0.2): b·s = 200.
    K = intrinsics_from_focal(torch.tensor([1000.0], dtype=torch.float64), 640.0, 480.0)
    cam = torch.tensor([[2.0, 0.1, -0.2]], dtype=torch.float64)
    c = torch.tensor([[420.0, 340.0]], dtype=torch.float64)
    s = torch.tensor([0.5], dtype=torch.float64)
    t = crop_cam_to_full_transl(cam, c, s, K)
    torch.testing.assert_close(t, torch.tensor([[1.1, 0.8, 10.0]], dtype=torch.float64))


def test_crop_cam_round_trip_and_principal_point():
    B = 6
    K = intrinsics_from_focal(torch.rand(B, dtype=torch.float64) * 1000 + 500, 1280.0, 720.0)
    K[:, 0, 2] += 13.0  # a principal point off the centre must be honoured
    cam = torch.stack([torch.rand(B) + 0.5, torch.randn(B) * 0.2, torch.randn(B) * 0.2], -1).double()
    c = torch.rand(B, 2, dtype=torch.float64) * 600 + 100
    s = torch.rand(B, dtype=torch.float64) + 0.3
    t = crop_cam_to_full_transl(cam, c, s, K)
    torch.testing.assert_close(full_transl_to_crop_cam(t, c, s, K), cam)
    # The body origin projects to box centre + s·(tx, ty)·b/2 (weak-perspective crop semantics).
    uv = perspective_project(torch.zeros(B, 1, 3, dtype=torch.float64), K, t)[:, 0]
    expected = c + cam[:, :1] * cam[:, 1:] * (200 * s[:, None]) / 2
    torch.testing.assert_close(uv, expected)


def test_perspective_project_hand_derived():
    K = torch.tensor([[[500.0, 0, 100], [0, 400, 50], [0, 0, 1]]])
    pts = torch.tensor([[[0.0, 0, 2], [1, -1, 4], [0.2, 0.4, 1]]])
    transl = torch.tensor([[0.0, 0.0, 1.0]])
    # Z + 1: 3, 5, 2 → u = 500 x/z + 100, v = 400 y/z + 50
    expected = torch.tensor([[[100.0, 50], [200, -30], [150, 130]]])
    torch.testing.assert_close(perspective_project(pts, K, transl), expected)
    # skew and full K are honoured
    K2 = K.clone()
    K2[0, 0, 1] = 10.0
    torch.testing.assert_close(perspective_project(pts, K2, transl)[0, 1], torch.tensor([198.0, -30.0]))


def test_gradcheck_camera():
    K = intrinsics_from_focal(torch.tensor([800.0, 900.0], dtype=torch.float64), 640.0, 480.0)
    cam = torch.tensor([[1.0, 0.1, 0.2], [0.8, -0.1, 0.0]], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([[300.0, 200.0], [100.0, 50.0]], dtype=torch.float64)
    s = torch.tensor([1.0, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: crop_cam_to_full_transl(x, c, s, K), (cam,))
    pts = (torch.randn(2, 4, 3, dtype=torch.float64) * 0.3).requires_grad_(True)
    t = torch.tensor([[0.0, 0.0, 5.0], [0.1, 0.0, 4.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: perspective_project(p, K, t), (pts,))


def test_errors():
    K = intrinsics_from_focal(torch.tensor([1000.0]), 640.0, 480.0)
    with pytest.raises(ShapeError,
                       match=r"perspective_project: `points` must have shape \(B, N, 3\); got \(5, 3\)"):
        perspective_project(torch.zeros(5, 3), K)
    with pytest.raises(ShapeError, match=r"`K` must have shape \(B, 3, 3\); got \(3, 3\).*K.expand"):
        cliff_bbox_info(torch.zeros(1, 2), torch.ones(1), K[0])
    with pytest.raises(ShapeError, match=r"`scale` must have shape \(B\); got \(2\). `B` is 1 elsewhere"):
        crop_cam_to_full_transl(torch.ones(1, 3), torch.zeros(1, 2), torch.ones(2), K)
    with pytest.raises(ShapeError, match=r"`focal` must have shape \(B, 2\); got \(1, 3\)"):
        intrinsics_from_focal(torch.ones(1, 3), 1.0, 1.0)
