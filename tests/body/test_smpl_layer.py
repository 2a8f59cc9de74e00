"""SMPLBody against smplx.lbs (axis-angle path through smplx's own Rodrigues), and the vertex regressions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from smplx.lbs import lbs

from hpskit.body import SMPLBody, SMPLXToSMPL, regress_joints, smplx_to_smpl_vertices
from hpskit.core import BODY_MODELS_ENV, ShapeError
from hpskit.geometry import axis_angle_to_rotmat


@pytest.fixture(scope="module")
def smpl(smpl_file):
    return SMPLBody(smpl_file)


def _reference(raw, pose_aa, betas, transl):
    t = {k: torch.as_tensor(np.asarray(raw[k], dtype=np.float64))
         for k in ("v_template", "shapedirs", "posedirs", "weights")}
    parents = torch.as_tensor(np.asarray(raw["kintree_table"][0], dtype=np.int64))
    parents[0] = -1
    J = torch.as_tensor(raw["J_regressor"].toarray())
    posedirs = t["posedirs"].reshape(-1, 207).T
    v, j = lbs(betas.double(), pose_aa.double(), t["v_template"], t["shapedirs"], posedirs, J, parents,
               t["weights"], pose2rot=True)
    return v + transl.double()[:, None], j + transl.double()[:, None]


def test_matches_lbs_reference(smpl, fx):
    gen = torch.Generator().manual_seed(0)
    pose = 0.5 * torch.randn(3, 72, generator=gen)
    betas = torch.randn(3, 10, generator=gen)
    transl = torch.randn(3, 3, generator=gen)
    out = smpl(pose, betas, transl)
    assert out.vertices.shape == (3, 6890, 3) and out.joints.shape == (3, 24, 3)
    ref_v, ref_j = _reference(fx.smpl_arrays(), pose, betas, transl)
    torch.testing.assert_close(out.vertices.double(), ref_v, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(out.joints.double(), ref_j, atol=2e-5, rtol=1e-4)
    # the same pose as (B, 24, 3) axis-angle and as rotation matrices
    torch.testing.assert_close(smpl(pose.reshape(3, 24, 3), betas, transl).vertices, out.vertices)
    rotmats = axis_angle_to_rotmat(pose.reshape(3, 24, 3))
    torch.testing.assert_close(smpl(rotmats, betas, transl).vertices, out.vertices, atol=1e-5, rtol=1e-5)


def test_defaults_dtype_and_state(smpl, smpl_file, fx, monkeypatch, tmp_path):
    out = smpl(torch.zeros(1, 72))
    torch.testing.assert_close(out.vertices[0].double(), torch.as_tensor(fx.smpl_arrays()["v_template"]),
                               atol=1e-6, rtol=1e-6)
    assert len(smpl.state_dict()) == 0 and smpl.faces.shape == (13776, 3) and smpl.num_vertices == 6890
    s64 = SMPLBody(smpl_file).to(torch.float64)
    assert s64(torch.zeros(2, 72, dtype=torch.float64)).vertices.dtype == torch.float64
    monkeypatch.setenv(BODY_MODELS_ENV, str(smpl_file.parents[1]))  # <root>/smpl/SMPL_NEUTRAL.pkl
    assert SMPLBody().model_path == smpl_file


def test_shape_errors(smpl):
    with pytest.raises(ShapeError, match=r"pose.*\(B, 72\).*got \(2, 69\)"):
        smpl(torch.zeros(2, 69))
    with pytest.raises(ShapeError, match=r"betas.*\(B, 10\)"):
        smpl(torch.zeros(2, 72), torch.zeros(2, 11))


def test_smplx_to_smpl_and_regress(fx):
    gen = torch.Generator().manual_seed(1)
    M = torch.rand(7, 12, generator=gen)
    verts = torch.randn(2, 12, 3, generator=gen, dtype=torch.float64)
    expected = np.einsum("sx,bxc->bsc", M.double().numpy(), verts.numpy())
    out = smplx_to_smpl_vertices(verts, M)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    torch.testing.assert_close(SMPLXToSMPL(matrix=M)(verts), out)
    assert len(SMPLXToSMPL(matrix=M).state_dict()) == 0
    reg = torch.rand(17, 12, generator=gen)
    np.testing.assert_allclose(regress_joints(verts, reg).numpy(),
                               np.einsum("jv,bvc->bjc", reg.double().numpy(), verts.numpy()), rtol=1e-6)
    with pytest.raises(ShapeError, match=r"vertices.*\(B, V_smplx, 3\).*got \(2, 11, 3\)"):
        smplx_to_smpl_vertices(verts[:, :11], M)


def test_smplx_to_smpl_from_file(tmp_path, fx):
    M = np.random.default_rng(0).random((6, 10))
    path = fx.write_pkl(tmp_path / "utils" / "smplx2smpl.pkl", {"matrix": M})
    conv = SMPLXToSMPL(path, num_smpl_vertices=6, num_smplx_vertices=10)
    verts = torch.zeros(1, 10, 3)
    verts[0, 5] = 1.0
    torch.testing.assert_close(conv(verts)[0, :, 0], torch.from_numpy(M[:, 5]).float())
