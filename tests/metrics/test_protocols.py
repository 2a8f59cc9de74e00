import numpy as np
import pytest
import torch

from hpskit.body import regress_joints
from hpskit.core import ConfigError, ShapeError
from hpskit.geometry import axis_angle_to_rotmat
from hpskit.metrics import H36M_TO_J14, smpl_mesh_errors

V = 60  # a small stand-in for SMPL's 6890 vertices


def _np_procrustes_apply(S1, S2, pts):
    mu1, mu2 = S1.mean(0), S2.mean(0)
    X1, X2 = (S1 - mu1).T, (S2 - mu2).T
    K = X1 @ X2.T
    U, _, Vt = np.linalg.svd(K)
    Z = np.eye(3)
    Z[-1, -1] = np.sign(np.linalg.det(U @ Vt))
    R = Vt.T @ Z @ U.T
    s = np.trace(R @ K) / np.sum(X1**2)
    return (s * R @ pts.T).T + (mu2 - s * R @ mu1)


def _err(a, b):
    return np.sqrt(((a - b) ** 2).sum(-1)).mean()


def _np_dpose(pred_v, gt_v, J):
    """formats.md §7, 3DPW/EMDB branch: H36M joints, pelvis = row 0, LSP-14."""
    out = {"mpjpe": [], "pa_mpjpe": [], "pve": []}
    for p, g in zip(pred_v, gt_v):
        pj, gj = J @ p, J @ g
        pp, gp = pj[0], gj[0]
        pj14, gj14 = pj[list(H36M_TO_J14)] - pp, gj[list(H36M_TO_J14)] - gp
        out["mpjpe"].append(_err(pj14, gj14))
        out["pa_mpjpe"].append(_err(_np_procrustes_apply(pj14, gj14, pj14), gj14))
        out["pve"].append(_err(p - pp, g - gp))
    return {k: np.array(v) for k, v in out.items()}


def _np_emdb(pred_v, gt_v, J):
    """The official EMDB protocol: 24 SMPL joints, hip-midpoint root, PA fitted on joints."""
    out = {"mpjpe": [], "pa_mpjpe": [], "pve": [], "pa_pve": []}
    for p, g in zip(pred_v, gt_v):
        pj, gj = J @ p, J @ g
        pr, gr = (pj[1] + pj[2]) / 2, (gj[1] + gj[2]) / 2
        pj, gj, pv, gv = pj - pr, gj - gr, p - pr, g - gr
        out["mpjpe"].append(_err(pj, gj))
        out["pve"].append(_err(pv, gv))
        out["pa_mpjpe"].append(_err(_np_procrustes_apply(pj, gj, pj), gj))
        out["pa_pve"].append(_err(_np_procrustes_apply(pj, gj, pv), gv))
    return {k: np.array(v) for k, v in out.items()}


def _meshes(B=5):
    gt = torch.randn(B, V, 3, dtype=torch.float64) * 0.3
    pred = gt + 0.02 * torch.randn(B, V, 3, dtype=torch.float64) + torch.tensor([0.1, -0.2, 3.0],
                                                                                   dtype=torch.float64)
    return pred, gt


@pytest.mark.parametrize(("protocol", "rows", "ref"), [("dpose_h36m14", 17, _np_dpose),
                                                        ("smpl24_hips", 24, _np_emdb)])
def test_protocol_matches_numpy(protocol, rows, ref):
    pred, gt = _meshes()
    J = torch.softmax(torch.randn(rows, V, dtype=torch.float64) * 3, dim=-1)
    out = smpl_mesh_errors(pred, gt, J, protocol=protocol)
    expected = ref(pred.numpy(), gt.numpy(), J.numpy())
    assert sorted(out) == sorted(expected)
    for k in expected:
        np.testing.assert_allclose(out[k].numpy(), expected[k], rtol=1e-10, err_msg=k)


def test_translation_is_ignored_and_similarity_gives_zero_pa():
    _, gt = _meshes(3)
    J = torch.softmax(torch.randn(17, V, dtype=torch.float64), dim=-1)
    out = smpl_mesh_errors(gt + torch.tensor([5.0, 1.0, -2.0], dtype=torch.float64), gt, J)
    for k in ("mpjpe", "pa_mpjpe", "pve"):
        torch.testing.assert_close(out[k], torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    R = axis_angle_to_rotmat(torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64))
    out = smpl_mesh_errors(1.3 * gt @ R.T, gt, J)
    assert (out["mpjpe"] > 1e-3).all()
    torch.testing.assert_close(out["pa_mpjpe"], torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)


def test_separate_gt_regressor():
    pred, gt = _meshes(2)
    Jp = torch.softmax(torch.randn(24, V, dtype=torch.float64), dim=-1)
    Jg = torch.softmax(torch.randn(24, V, dtype=torch.float64), dim=-1)
    out = smpl_mesh_errors(pred, gt, Jp, protocol="smpl24_hips", gt_regressor=Jg)
    pj, gj = regress_joints(pred, Jp), regress_joints(gt, Jg)
    pj = pj - pj[:, 1:3].mean(1, keepdim=True)
    gj = gj - gj[:, 1:3].mean(1, keepdim=True)
    torch.testing.assert_close(out["mpjpe"], (pj - gj).norm(dim=-1).mean(-1))


def test_errors():
    pred, gt = _meshes(2)
    with pytest.raises(ConfigError,
                       match=r"unknown `protocol` 'emdb'; choose one of \['dpose_h36m14', 'smpl24_hips'\]"):
        smpl_mesh_errors(pred, gt, torch.zeros(17, V, dtype=torch.float64), protocol="emdb")
    with pytest.raises(ShapeError, match=r"`regressor` must have shape \(17, V\); got \(24, 60\).*17 rows"):
        smpl_mesh_errors(pred, gt, torch.zeros(24, V, dtype=torch.float64))
    with pytest.raises(ShapeError,
                       match=r"regress_joints: `regressor` must have shape \(J, V\); got \(17, 59\)"):
        regress_joints(torch.zeros(1, V, 3), torch.zeros(17, V - 1))


def test_smplx24_pelvis_against_numpy():
    """The held-out synthetic protocol: joints 0–23 and all vertices, each body aligned by its own joint 0."""
    from scipy.spatial.transform import Rotation

    from hpskit.metrics import SMPLX24_EVAL_JOINTS, smplx24_pelvis_errors

    g = torch.Generator().manual_seed(0)
    pj, gj = torch.randn(3, 30, 3, generator=g), torch.randn(3, 30, 3, generator=g)
    pv, gv = torch.randn(3, 50, 3, generator=g), torch.randn(3, 50, 3, generator=g)
    out = smplx24_pelvis_errors(pj, pv, gj, gv)
    P, G = pj.numpy()[:, :24], gj.numpy()[:, :24]
    P0, G0 = P - P[:, :1], G - G[:, :1]
    np.testing.assert_allclose(out["mpjpe"].numpy(), np.linalg.norm(P0 - G0, axis=-1).mean(1), rtol=1e-5)
    Vp, Vg = pv.numpy() - P[:, :1], gv.numpy() - G[:, :1]
    np.testing.assert_allclose(out["pve"].numpy(), np.linalg.norm(Vp - Vg, axis=-1).mean(1), rtol=1e-5)
    # PA: a rotated, scaled, shifted copy of the ground truth scores zero; joints past 23 are ignored.
    R = torch.as_tensor(Rotation.random(random_state=1).as_matrix(), dtype=torch.float32)
    moved = 1.7 * gj @ R.T + 0.3
    moved[:, SMPLX24_EVAL_JOINTS:] = 100.0
    assert smplx24_pelvis_errors(moved, gv, gj, gv)["pa_mpjpe"].abs().max() < 1e-4
    with pytest.raises(ConfigError, match="24 joints"):
        smplx24_pelvis_errors(pj[:, :20], pv, gj[:, :20], gv)
