import math

import kornia.geometry.conversions as kc
import numpy as np
import pytest
import roma
import torch

from hpskit.core import ShapeError
from hpskit.geometry import (
    AxisAngleToRotmat,
    Rot6dToRotmat,
    axis_angle_to_rot6d,
    axis_angle_to_rotmat,
    rot6d_to_axis_angle,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)


def _random_aa(n, max_angle=3.0):
    axis = torch.nn.functional.normalize(torch.randn(n, 3, dtype=torch.float64), dim=-1)
    angle = torch.rand(n, 1, dtype=torch.float64) * max_angle
    return axis * angle


def _gram_schmidt_numpy(x):
    """Independent numpy version of the reference's 6D → rotmat (docs/authors-code.md (e))."""
    x = np.asarray(x, dtype=np.float64)
    a1, a2 = x[[0, 2, 4]], x[[1, 3, 5]]
    b1 = a1 / np.linalg.norm(a1)
    b2 = a2 - b1.dot(a2) * b1
    b2 = b2 / np.linalg.norm(b2)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=1)


def test_identity_6d():
    R = rot6d_to_rotmat(torch.tensor([1.0, 0, 0, 1, 0, 0]))
    assert torch.equal(R, torch.eye(3))
    assert torch.equal(rotmat_to_rot6d(torch.eye(3)), torch.tensor([1.0, 0, 0, 1, 0, 0]))


def test_spin_mean_pose_root_is_180_about_x():
    # First 6 numbers of SPIN's smpl_mean_params.npz `pose` (the root), up to the tiny value.
    R = rot6d_to_rotmat(torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 1.5e-7], dtype=torch.float64))
    torch.testing.assert_close(R, torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)),
                               atol=1e-6, rtol=0)
    pi_x = torch.tensor([math.pi, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(rotmat_to_axis_angle(R).abs(), pi_x, atol=1e-6, rtol=0)


def test_spin_root_read_in_hmr2_layout_is_90_degrees():
    # The pitfall documented in docs/conventions.md: contiguous-column reading (view(-1, 2, 3)).
    x = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 1.5e-7], dtype=torch.float64)
    R_hmr2 = rot6d_to_rotmat(x.view(2, 3).T.reshape(6))  # re-lay the two columns row-major
    angle = rotmat_to_axis_angle(R_hmr2).norm()
    assert angle.item() == pytest.approx(math.pi / 2, abs=1e-6)


def test_row_major_layout_not_hmr2_layout():
    R = axis_angle_to_rotmat(_random_aa(1))[0]
    x = rotmat_to_rot6d(R)
    assert torch.equal(x, torch.stack([R[0, 0], R[0, 1], R[1, 0], R[1, 1], R[2, 0], R[2, 1]]))
    # HMR2-style (columns concatenated) misread as row-major does not give R back.
    hmr2 = torch.cat([R[:, 0], R[:, 1]])
    assert not torch.allclose(rot6d_to_rotmat(hmr2), R, atol=1e-3)


def test_rot6d_matches_numpy_reference_and_roma():
    x = torch.randn(20, 6, dtype=torch.float64)
    R = rot6d_to_rotmat(x)
    ref = np.stack([_gram_schmidt_numpy(v) for v in x.numpy()])
    np.testing.assert_allclose(R.numpy(), ref, atol=1e-12)
    torch.testing.assert_close(R, roma.special_gramschmidt(x.view(-1, 3, 2)))
    # proper rotations
    torch.testing.assert_close(R @ R.mT, torch.eye(3, dtype=torch.float64).expand(20, 3, 3))
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(20, dtype=torch.float64))


def test_axis_angle_agrees_with_kornia_and_roma():
    aa = _random_aa(50)
    R = axis_angle_to_rotmat(aa)
    torch.testing.assert_close(R, kc.axis_angle_to_rotation_matrix(aa))
    torch.testing.assert_close(R, roma.rotvec_to_rotmat(aa))
    back = rotmat_to_axis_angle(R)
    torch.testing.assert_close(back, kc.rotation_matrix_to_axis_angle(R), atol=1e-6, rtol=0)
    torch.testing.assert_close(back, aa, atol=1e-9, rtol=0)


def test_hand_derived_90_about_z():
    R = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                               torch.tensor([0.0, 1, 0], dtype=torch.float64))


def test_round_trips():
    aa = _random_aa(40, max_angle=3.1)
    torch.testing.assert_close(rot6d_to_axis_angle(axis_angle_to_rot6d(aa)), aa, atol=1e-9, rtol=0)
    R = axis_angle_to_rotmat(aa)
    torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(R)), R)
    # arbitrary 6D → R → 6D → R is a fixed point after one projection
    R2 = rot6d_to_rotmat(torch.randn(10, 6, dtype=torch.float64))
    torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(R2)), R2)


def test_near_pi_and_zero():
    aa = torch.tensor([[math.pi - 1e-7, 0.0, 0.0], [0.0, 0.0, 0.0], [1e-8, 0.0, 0.0]], dtype=torch.float64)
    back = rotmat_to_axis_angle(axis_angle_to_rotmat(aa))
    torch.testing.assert_close(back, aa, atol=1e-6, rtol=0)


def test_batch_shapes_and_modules():
    x = torch.randn(2, 5, 22, 6)
    assert rot6d_to_rotmat(x).shape == (2, 5, 22, 3, 3)
    assert torch.equal(Rot6dToRotmat()(x), rot6d_to_rotmat(x))
    aa = torch.randn(7, 3)
    assert torch.equal(AxisAngleToRotmat()(aa), axis_angle_to_rotmat(aa))
    assert rotmat_to_axis_angle(torch.eye(3).expand(4, 1, 3, 3)).shape == (4, 1, 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_upcast(dtype):
    x = torch.randn(8, 6)
    R = rot6d_to_rotmat(x.to(dtype))
    assert R.dtype == dtype
    torch.testing.assert_close(R.float(), rot6d_to_rotmat(x.to(dtype).float()).to(dtype).float())
    aa = torch.randn(8, 3)
    assert axis_angle_to_rotmat(aa.to(dtype)).dtype == dtype
    assert rotmat_to_axis_angle(axis_angle_to_rotmat(aa).to(dtype)).dtype == dtype


def test_zero_6d_is_finite():
    assert torch.isfinite(rot6d_to_rotmat(torch.zeros(3, 6))).all()


def test_gradcheck_rot6d():
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot6d_to_rotmat, (x,))
    aa = _random_aa(3).requires_grad_(True)
    assert torch.autograd.gradcheck(axis_angle_to_rotmat, (aa,))


def test_errors():
    with pytest.raises(ShapeError, match=r"rot6d_to_rotmat: `x` must have shape \(\.\.\., 6\); got \(4, 9\)"):
        rot6d_to_rotmat(torch.zeros(4, 9))
    with pytest.raises(ShapeError, match=r"`R` must have shape \(\.\.\., 3, 3\); got \(4, 3\)"):
        rotmat_to_axis_angle(torch.zeros(4, 3))
    with pytest.raises(ShapeError, match=r"`aa` must be a floating-point tensor; got dtype torch.int64"):
        axis_angle_to_rotmat(torch.zeros(2, 3, dtype=torch.long))
