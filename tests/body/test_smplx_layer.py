"""SMPLXBody against independent references: smplx.lbs on raw arrays, smplx.SMPLXLayer, hand-derived cases."""

from __future__ import annotations

import logging
import sys
import types

import numpy as np
import pytest
import smplx
import torch
from smplx.lbs import lbs

from hpskit.body import SMPLXBody, load_smplx_npz, vertex_parts_from_weights
from hpskit.core import CorruptFileError, MissingFileError, ShapeError
from hpskit.geometry import axis_angle_to_rotmat

# formats.md §1.5: vertex ids of the 21 extra joints, in output order 55..75.
EXTRA_VERTEX_IDS = [9120, 9929, 9448, 616, 6, 5770, 5780, 8846, 8463, 8474, 8635,
                    5361, 4933, 5058, 5169, 5286, 8079, 7669, 7794, 7905, 8022]


@pytest.fixture(scope="module")
def body(smplx_file):
    return SMPLXBody(smplx_file)


@pytest.fixture(scope="module")
def raw(fx):
    """The same arrays the fixture file holds, regenerated (not read back through hpskit)."""
    return {k: v for k, v in fx.smplx_arrays().items() if k != "joint2num"}


def _random_inputs(B, gen, dtype=torch.float32):
    def rot(*shape):
        return axis_angle_to_rotmat(0.4 * torch.randn(*shape, 3, generator=gen, dtype=dtype))

    return dict(global_orient=rot(B, 1), body_pose=rot(B, 21),
                betas=torch.randn(B, 11, generator=gen, dtype=dtype), left_hand_pose=rot(B, 15),
                right_hand_pose=rot(B, 15), jaw_pose=rot(B, 1), leye_pose=rot(B, 1), reye_pose=rot(B, 1),
                expression=torch.randn(B, 10, generator=gen, dtype=dtype),
                transl=torch.randn(B, 3, generator=gen, dtype=dtype))


def _reference(raw, inp, dtype=torch.float64):
    """Posed vertices and 127 joints from smplx.lbs on the raw arrays + hand-written extras/landmarks."""
    t = {k: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype) for k, v in raw.items()}
    parents = torch.as_tensor(raw["kintree_table"][0].astype(np.int64))
    parents[0] = -1
    V = t["v_template"].shape[0]
    full_pose = torch.cat([inp["global_orient"], inp["body_pose"], inp["jaw_pose"], inp["leye_pose"],
                           inp["reye_pose"], inp["left_hand_pose"], inp["right_hand_pose"]], 1).to(dtype)
    shape = torch.cat([inp["betas"], inp["expression"]], 1).to(dtype)
    dirs = torch.cat([t["shapedirs"][:, :, :11], t["shapedirs"][:, :, 300:310]], 2)
    posedirs = t["posedirs"].reshape(V * 3, 486).T
    verts, joints = lbs(shape, full_pose, t["v_template"], dirs, posedirs, t["J_regressor"], parents,
                        t["weights"], pose2rot=False)
    faces = torch.as_tensor(raw["f"].astype(np.int64))
    tri = verts[:, faces[torch.as_tensor(raw["lmk_faces_idx"].astype(np.int64))]]  # (B, 51, 3, 3)
    lmk = (tri * t["lmk_bary_coords"][None, :, :, None]).sum(2)
    joints = torch.cat([joints, verts[:, EXTRA_VERTEX_IDS], lmk], 1)
    tr = inp["transl"].to(dtype)[:, None]
    return verts + tr, joints + tr


def test_matches_lbs_reference(body, raw):
    gen = torch.Generator().manual_seed(1)
    inp = _random_inputs(3, gen)
    out = body(**inp)
    assert out.vertices.shape == (3, 10475, 3) and out.joints.shape == (3, 127, 3)
    ref_v, ref_j = _reference(raw, inp)
    torch.testing.assert_close(out.vertices.double(), ref_v, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(out.joints.double(), ref_j, atol=2e-5, rtol=1e-4)


def test_matches_smplx_layer_called_independently(body, smplx_file):
    gen = torch.Generator().manual_seed(2)
    inp = _random_inputs(2, gen)
    layer = smplx.SMPLXLayer(str(smplx_file), num_betas=11)
    ref = layer(**inp)
    out = body(**inp)
    torch.testing.assert_close(out.vertices, ref.vertices)
    torch.testing.assert_close(out.joints, ref.joints)


@pytest.mark.parametrize("given", ["all", "body_only"])
def test_bit_identical_to_its_smplx_layer_and_gradients_too(body, given):
    """hpskit runs smplx's forward itself (a kinematic chain without host reads): the same bits as
    ``body.layer(...)``, values and gradients, with every optional input given or left to the defaults."""
    gen = torch.Generator().manual_seed(3)
    inp = _random_inputs(3, gen)
    if given == "body_only":
        inp = {k: inp[k] for k in ("global_orient", "body_pose", "betas")}
    leaves = {k: v.clone().requires_grad_(True) for k, v in inp.items()}
    ref_leaves = {k: v.clone().requires_grad_(True) for k, v in inp.items()}
    out, ref = body(**leaves), body.layer(**ref_leaves)
    assert torch.equal(out.vertices, ref.vertices) and torch.equal(out.joints, ref.joints)
    w = torch.randn(out.vertices.shape, generator=gen)
    ((out.vertices * w).sum() + out.joints.square().sum()).backward()
    ((ref.vertices * w).sum() + ref.joints.square().sum()).backward()
    for k in inp:
        assert torch.equal(leaves[k].grad, ref_leaves[k].grad), k


def test_posing_reads_nothing_back_to_the_host(body, monkeypatch):
    """smplx's chain reads each joint's parent from a device tensor (54 host syncs per call on a GPU);
    hpskit's does not: posing and its backward pass make no host read (tests/_host_reads.py)."""
    from _host_reads import forbid_host_reads

    inp = {k: v.requires_grad_(True) for k, v in _random_inputs(2, torch.Generator().manual_seed(4)).items()}
    with forbid_host_reads(monkeypatch):
        out = body(**inp)
        (out.vertices.sum() + out.joints.sum()).backward()
        pose = torch.cat([inp["global_orient"], inp["body_pose"]], 1)
        body.forward_pose(pose, inp["betas"].detach(), **body.mean_hands(2))
    assert inp["body_pose"].grad is not None and torch.isfinite(inp["body_pose"].grad).all()
    records = []
    with forbid_host_reads(monkeypatch, records):  # the guard does see smplx's reads
        body.layer(**{k: v.detach() for k, v in inp.items()})
    assert len(records) >= 54


def test_zero_pose_joints_are_regressed_template(body, raw):
    eye = torch.eye(3)
    out = body(eye.expand(2, 1, 3, 3), eye.expand(2, 21, 3, 3), torch.zeros(2, 11))
    expected = torch.from_numpy(raw["J_regressor"] @ raw["v_template"])
    torch.testing.assert_close(out.joints[:, :55], expected.expand(2, 55, 3), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.vertices[0], torch.from_numpy(raw["v_template"]))


def test_betas_add_shapedirs_at_zero_pose(body, raw):
    eye = torch.eye(3)
    betas = torch.linspace(-2, 2, 11)[None]
    out0 = body(eye.expand(1, 1, 3, 3), eye.expand(1, 21, 3, 3), torch.zeros(1, 11))
    out1 = body(eye.expand(1, 1, 3, 3), eye.expand(1, 21, 3, 3), betas)
    delta = torch.einsum("vcl,l->vc", torch.from_numpy(raw["shapedirs"][:, :, :11]), betas[0])
    assert delta.abs().max() > 1e-3
    torch.testing.assert_close(out1.vertices[0] - out0.vertices[0], delta, atol=1e-5, rtol=1e-4)


def test_input_forms_agree(body):
    gen = torch.Generator().manual_seed(3)
    inp = _random_inputs(2, gen)
    ref = body(inp["global_orient"], inp["body_pose"], inp["betas"])
    # (B, 3, 3) root, 6D (authors' row-major layout: first two columns, flattened by rows)
    six = lambda R: R[..., :2].reshape(*R.shape[:-2], 6)  # noqa: E731
    out = body(inp["global_orient"][:, 0], six(inp["body_pose"]), inp["betas"])
    torch.testing.assert_close(out.vertices, ref.vertices, atol=1e-5, rtol=1e-5)
    out = body(six(inp["global_orient"][:, 0]), inp["body_pose"], inp["betas"])
    torch.testing.assert_close(out.vertices, ref.vertices, atol=1e-5, rtol=1e-5)
    pose = torch.cat([inp["global_orient"], inp["body_pose"]], 1)
    torch.testing.assert_close(body.forward_pose(pose, inp["betas"]).joints, ref.joints)
    torch.testing.assert_close(body.forward_pose(six(pose), inp["betas"]).joints, ref.joints, atol=1e-5,
                               rtol=1e-5)
    # optional parts at their defaults equal identity / zero given explicitly
    eye = torch.eye(3).expand(2, 15, 3, 3)
    explicit = body(inp["global_orient"], inp["body_pose"], inp["betas"], left_hand_pose=eye,
                    right_hand_pose=eye, jaw_pose=eye[:, :1], expression=torch.zeros(2, 10),
                    transl=torch.zeros(2, 3))
    torch.testing.assert_close(explicit.vertices, ref.vertices)
    shifted = body(inp["global_orient"], inp["body_pose"], inp["betas"], transl=torch.ones(2, 3))
    torch.testing.assert_close(shifted.joints, ref.joints + 1)


def test_dtype_device_and_state(smplx_file, body):
    b64 = SMPLXBody(smplx_file).to(torch.float64)
    assert b64.layer.shapedirs.dtype == torch.float64 and b64.faces.dtype == torch.long
    gen = torch.Generator().manual_seed(4)
    inp = _random_inputs(2, gen, torch.float64)
    out = b64(**inp)
    assert out.vertices.dtype == torch.float64
    out32 = body(**{k: v.float() for k, v in inp.items()})
    torch.testing.assert_close(out.vertices.float(), out32.vertices, atol=1e-5, rtol=1e-4)
    assert len(body.state_dict()) == 0 and len(list(body.parameters())) == 0  # licensed data stays out
    assert body.faces.shape == (20908, 3) and body.num_vertices == 10475 and not body.is_standin
    assert vertex_parts_from_weights(body.lbs_weights).shape == (10475,)


def test_gradients_flow(body):
    pose6d = torch.tensor([1.0, 0, 0, 1, 0, 0]).repeat(1, 22, 1).requires_grad_()
    betas = torch.zeros(1, 11, requires_grad=True)
    body.forward_pose(pose6d, betas).joints.square().sum().backward()
    assert pose6d.grad.abs().sum() > 0 and betas.grad.abs().sum() > 0


def test_shape_errors(body):
    eye = torch.eye(3)
    with pytest.raises(ShapeError, match=r"body_pose.*\(B, 21, 3, 3\).*got \(2, 20, 3, 3\)"):
        body(eye.expand(2, 1, 3, 3), eye.expand(2, 20, 3, 3))
    with pytest.raises(ShapeError, match=r"betas.*\(B, 11\).*got \(2, 10\)"):
        body(eye.expand(2, 1, 3, 3), eye.expand(2, 21, 3, 3), torch.zeros(2, 10))
    with pytest.raises(ShapeError, match=r"`B` is 2 elsewhere"):
        body(eye.expand(2, 1, 3, 3), eye.expand(3, 21, 3, 3))
    with pytest.raises(ShapeError, match=r"pose.*\(B, 22, 6\)"):
        body.forward_pose(torch.zeros(2, 21, 6))


def test_missing_and_corrupt_files(tmp_path, fx):
    with pytest.raises(MissingFileError, match=r"nowhere \(argument\).*smpl-x\.is\.tue\.mpg\.de"):
        SMPLXBody(tmp_path / "nowhere")
    arrays = fx.smplx_arrays(V=300, F=500)
    del arrays["posedirs"]
    with pytest.raises(CorruptFileError, match=r"'posedirs' \(expected shape \(V, 3, 486\)\)"):
        SMPLXBody(fx.write_npz(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz", arrays))


def test_standin_fallback_and_explicit(monkeypatch, smplx_file, caplog):
    fake = types.ModuleType("hpskit.body.standin")
    fake.standin_path = lambda: smplx_file
    monkeypatch.setitem(sys.modules, "hpskit.body.standin", fake)
    with caplog.at_level(logging.WARNING, logger="hpskit.body.smplx_layer"):
        b = SMPLXBody()  # nothing configured (conftest isolates the user dir and unsets the env var)
    assert b.is_standin and b.model_path == smplx_file
    assert "licence-free stand-in body" in caplog.text
    assert SMPLXBody("standin").is_standin

    def broken():
        raise FileNotFoundError("asset gone")

    fake.standin_path = broken
    with pytest.raises(MissingFileError, match=r"SMPLX_NEUTRAL\.npz.*not found.*stand-in body is not"):
        SMPLXBody()


def test_v10_file_caps_betas(tmp_path, fx):
    arrays = fx.smplx_arrays(shape_cols=20, dense_cols=(range(20),))
    path = fx.write_npz(tmp_path / "SMPLX_NEUTRAL.npz", arrays)
    with pytest.raises(CorruptFileError, match=r"v1\.0.*num_betas > 10 needs the v1\.1"):
        SMPLXBody(path, num_betas=11)
    b = SMPLXBody(path, num_betas=10)
    eye = torch.eye(3)
    expr = torch.ones(1, 10)
    out = b(eye.expand(1, 1, 3, 3), eye.expand(1, 21, 3, 3), torch.zeros(1, 10), expression=expr)
    delta = torch.einsum("vcl,l->vc", torch.from_numpy(arrays["shapedirs"][:, :, 10:20]), expr[0])
    torch.testing.assert_close(out.vertices[0] - torch.from_numpy(arrays["v_template"]), delta, atol=1e-5,
                               rtol=1e-4)


def test_device_follow_and_mismatch(smplx_file, body, device):
    moved = SMPLXBody(smplx_file).to(device)
    eye = torch.eye(3, device=device)
    out = moved(eye.expand(1, 1, 3, 3), eye.expand(1, 21, 3, 3), torch.zeros(1, 11, device=device))
    assert out.vertices.device.type == device.type and moved.faces.device.type == device.type
    meta = torch.zeros(1, 21, 3, 3, device="meta")
    with pytest.raises(ShapeError, match=r"body_pose` is on meta but the body is on cpu"):
        body(torch.eye(3).expand(1, 1, 3, 3), meta)
    # floating inputs of another dtype are cast to the body's dtype
    out64 = body(torch.eye(3, dtype=torch.float64).expand(1, 1, 3, 3), torch.eye(3).expand(1, 21, 3, 3))
    assert out64.vertices.dtype == torch.float32


def test_mean_hands_are_smplx_default_relaxed_hands(body, smplx_file):
    """body.mean_hands gives what smplx.SMPLX poses by default (PCA hands at zero + the relaxed mean)."""
    gen = torch.Generator().manual_seed(3)
    B = 2
    aa = 0.3 * torch.randn(B, 22, 3, generator=gen)
    betas = torch.randn(B, 11, generator=gen)
    layer = smplx.SMPLX(str(smplx_file), num_betas=11, batch_size=B)
    ref = layer(global_orient=aa[:, 0], body_pose=aa[:, 1:].reshape(B, -1), betas=betas)
    from hpskit.geometry import axis_angle_to_rotmat

    R = axis_angle_to_rotmat(aa)
    out = body.forward_pose(R, betas, **body.mean_hands(B))
    torch.testing.assert_close(out.vertices, ref.vertices, atol=1e-5, rtol=1e-4)
    flat = body.forward_pose(R, betas)
    assert (flat.vertices - ref.vertices).abs().max() > 1e-3  # the relaxed hands are not the flat ones


def test_nan_in_the_model_file_is_refused(tmp_path, fx):
    """Issue 16, item 6: a v_template with NaN is refused when loaded, naming the key and the count."""
    arrays = fx.smplx_arrays()
    v = arrays["v_template"].copy()
    v[[5, 17], 1] = np.nan
    arrays["v_template"] = v
    path = fx.write_npz(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz", arrays)
    with pytest.raises(CorruptFileError, match=r"NaN or infinite.*'v_template' \(2 of 31,425 values\)"):
        SMPLXBody(path)
    with pytest.raises(CorruptFileError, match=r"'v_template' \(2 of"):
        load_smplx_npz(path)


def test_empty_body_models_folder_says_where_it_looked(monkeypatch, smplx_file, tmp_path, caplog):
    """Weak spot: $HPSKIT_BODY_MODELS names a folder without SMPL-X: the stand-in, and a message saying so."""
    fake = types.ModuleType("hpskit.body.standin")
    fake.standin_path = lambda: smplx_file
    monkeypatch.setitem(sys.modules, "hpskit.body.standin", fake)
    monkeypatch.setenv("HPSKIT_BODY_MODELS", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="hpskit.body.smplx_layer"):
        assert SMPLXBody().is_standin
    assert f"$HPSKIT_BODY_MODELS={tmp_path} has no SMPL-X file" in caplog.text
    assert str(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz") in caplog.text
    assert "No SMPL-X model file is configured" not in caplog.text


def test_posing_moved_out_of_the_layer_module_keeps_its_paths():
    """The host-sync-free forward pass lives in hpskit.body.posing; the public names keep their paths."""
    import hpskit.body as B
    from hpskit.body import posing, smplx_layer

    assert B.SMPLXBody is smplx_layer.SMPLXBody and B.BodyOutput is smplx_layer.BodyOutput
    assert smplx_layer._smplx_forward is posing._smplx_forward
    assert smplx_layer.__all__ == ["BodyOutput", "SMPLXBody"] and posing.__all__ == []
