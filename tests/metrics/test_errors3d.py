import numpy as np
import pytest
import torch

from hpskit.core import ShapeError
from hpskit.geometry import axis_angle_to_rotmat
from hpskit.metrics import M_TO_MM, mpjpe, pa_mpjpe, pa_pve, pve, to_mm


def _np_similarity(S1, S2):
    """Independent numpy Procrustes (points as rows), as in the reference's compute_similarity_transform."""
    mu1, mu2 = S1.mean(0), S2.mean(0)
    X1, X2 = (S1 - mu1).T, (S2 - mu2).T
    K = X1 @ X2.T
    U, _, Vt = np.linalg.svd(K)
    Z = np.eye(3)
    Z[-1, -1] = np.sign(np.linalg.det(U @ Vt))
    R = Vt.T @ Z @ U.T
    s = np.trace(R @ K) / np.sum(X1**2)
    t = mu2 - s * R @ mu1
    return s, R, t


def _np_mpjpe(p, g):
    return np.sqrt(((p - g) ** 2).sum(-1)).mean(-1)


def _np_pa_mpjpe(p, g):
    out = []
    for a, b in zip(p, g):
        s, R, t = _np_similarity(a, b)
        out.append(_np_mpjpe((s * (R @ a.T)).T + t, b))
    return np.array(out)


def test_known_offset_gives_exact_mpjpe():
    gt = torch.randn(3, 14, 3, dtype=torch.float64)
    offset = torch.tensor([0.03, -0.04, 0.0], dtype=torch.float64)  # |offset| = 0.05 m
    torch.testing.assert_close(mpjpe(gt + offset, gt), torch.full((3,), 0.05, dtype=torch.float64))
    torch.testing.assert_close(to_mm(mpjpe(gt + offset, gt)), torch.full((3,), 50.0, dtype=torch.float64))
    assert M_TO_MM == 1000.0 and to_mm(0.5) == 500.0


def test_hand_derived_mixed_offsets():
    gt = torch.zeros(1, 2, 3)
    pred = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])  # distances 5 and 1
    assert mpjpe(pred, gt).item() == 3.0
    assert pve(pred, gt).item() == 3.0


def test_similarity_transform_gives_zero_pa_mpjpe():
    gt = torch.randn(4, 14, 3, dtype=torch.float64)
    R = axis_angle_to_rotmat(torch.randn(4, 3, dtype=torch.float64))
    s = torch.tensor([0.5, 1.0, 1.7, 3.0], dtype=torch.float64)
    t = torch.randn(4, 1, 3, dtype=torch.float64)
    pred = s[:, None, None] * gt @ R.mT + t
    assert (mpjpe(pred, gt) > 0.1).all()
    torch.testing.assert_close(pa_mpjpe(pred, gt), torch.zeros(4, dtype=torch.float64), atol=1e-12, rtol=0)
    # and PA-PVE with the transform fitted on joints
    verts = torch.randn(4, 50, 3, dtype=torch.float64)
    pred_verts = s[:, None, None] * verts @ R.mT + t
    torch.testing.assert_close(pa_pve(pred_verts, verts, pred, gt), torch.zeros(4, dtype=torch.float64),
                               atol=1e-12, rtol=0)


def test_agrees_with_numpy():
    pred = torch.randn(6, 14, 3, dtype=torch.float64)
    gt = torch.randn(6, 14, 3, dtype=torch.float64)
    np.testing.assert_allclose(mpjpe(pred, gt).numpy(), _np_mpjpe(pred.numpy(), gt.numpy()), rtol=1e-12)
    np.testing.assert_allclose(pa_mpjpe(pred, gt).numpy(), _np_pa_mpjpe(pred.numpy(), gt.numpy()), rtol=1e-10)
    assert (pa_mpjpe(pred, gt) <= mpjpe(pred, gt)).all()


def test_pa_pve_matches_numpy():
    pj, gj = torch.randn(3, 24, 3, dtype=torch.float64), torch.randn(3, 24, 3, dtype=torch.float64)
    pv, gv = torch.randn(3, 40, 3, dtype=torch.float64), torch.randn(3, 40, 3, dtype=torch.float64)
    ref = []
    for b in range(3):
        s, R, t = _np_similarity(pj[b].numpy(), gj[b].numpy())
        ref.append(_np_mpjpe((s * (R @ pv[b].numpy().T)).T + t, gv[b].numpy()))
    np.testing.assert_allclose(pa_pve(pv, gv, pj, gj).numpy(), ref, rtol=1e-10)


def test_half_inputs_computed_in_float32():
    gt = torch.randn(2, 14, 3)
    out = pa_mpjpe(gt.half(), (gt + 0.01).half())
    assert out.dtype == torch.float32
    assert out.abs().max() < 1e-2


def test_errors():
    with pytest.raises(ShapeError,
                       match=r"mpjpe: `gt` must have shape \(B, J, 3\); got \(2, 13, 3\). `J` is 14"):
        mpjpe(torch.zeros(2, 14, 3), torch.zeros(2, 13, 3))
    with pytest.raises(ShapeError,
                       match=r"pve: `pred` must have shape \(B, V, 3\); got \(6890, 3\).*pred\[None\]"):
        pve(torch.zeros(6890, 3), torch.zeros(6890, 3))
