"""The stand-in body: the packaged compact asset, its expansion, and what it looks like through smplx.

No Anny here: everything reads ``hpskit/body/assets/standin_smplx_compact.npz``. Positions are in the
SMPL-X body frame (y up, z = front, x = subject's left), metres.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import roma
import smplx
import torch

from hpskit.body import standin as st
from hpskit.body.joint_sets import SMPLX_JOINTS127_FLIP_PERM, SMPLX_PARENTS
from hpskit.body.parts import PART_FLIP_PERM

V = 13718
LEFT = [1, 4, 7, 10, 13, 16, 18, 20, 23, *range(25, 40)]
RIGHT = [2, 5, 8, 11, 14, 17, 19, 21, 24, *range(40, 55)]


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HPSKIT_DATA_DIR", str(tmp_path_factory.mktemp("standin_udd")))
    yield st.standin_path()
    mp.undo()


@pytest.fixture(scope="module")
def layer(path):
    return smplx.SMPLXLayer(str(path), num_betas=11, num_expression_coeffs=10)


@pytest.fixture(scope="module")
def rest(layer):
    with torch.no_grad():
        out = layer()
    return out.vertices[0].numpy(), out.joints[0].numpy()


@pytest.fixture(scope="module")
def data(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _mirror_index(v):
    from scipy.spatial import cKDTree

    d, idx = cKDTree(v).query(v * [-1, 1, 1])
    assert d.max() < 1e-4  # the rest mesh is mirror-symmetric
    return idx


def test_smplx_layer_loads_with_11_betas(layer):
    with torch.no_grad():
        out = layer(betas=torch.randn(2, 11), body_pose=roma.rotvec_to_rotmat(0.3 * torch.randn(2, 21, 3)),
                    global_orient=roma.rotvec_to_rotmat(torch.randn(2, 1, 3)))
    assert out.vertices.shape == (2, V, 3) and out.joints.shape == (2, 127, 3)
    assert torch.isfinite(out.vertices).all()


def test_smplx_class_with_pca_hands_and_mean_hands(path):
    model = smplx.SMPLX(str(path), num_betas=11)  # defaults: 6 PCA hand components, relaxed mean hands
    with torch.no_grad():
        out = model(left_hand_pose=torch.randn(1, 6), expression=torch.randn(1, 10))
    assert out.vertices.shape == (1, V, 3) and out.joints.shape == (1, 127, 3)


def test_hpskit_validator_and_body_accept_it(path):
    from hpskit.body import SMPLXBody, validate_smplx_npz

    info = validate_smplx_npz(path, num_betas=11)
    assert info.num_vertices == V and info.max_betas == 300
    body = SMPLXBody("standin")
    assert body.is_standin and body.num_vertices == V


def test_file_layout(data):
    assert data["v_template"].shape == (V, 3) and data["f"].shape == (27420, 3)
    assert data["shapedirs"].shape == (V, 3, 400) and data["posedirs"].shape == (V, 3, 486)
    assert data["J_regressor"].shape == (55, V) and data["weights"].shape == (V, 55)
    assert list(data["kintree_table"][0, 1:]) == list(SMPLX_PARENTS[1:])
    assert data["lmk_faces_idx"].shape == (51,) and data["lmk_bary_coords"].shape == (51, 3)
    np.testing.assert_allclose(data["lmk_bary_coords"].sum(1), 1, atol=1e-5)
    assert (data["lmk_bary_coords"] >= 0).all()
    np.testing.assert_allclose(data["weights"].sum(1), 1, atol=1e-5)
    assert (data["weights"] >= 0).all()
    for side in "lr":  # hand PCA: orthonormal rows; mean = a relaxed hand (moderate angles)
        comp = data[f"hands_components{side}"]
        np.testing.assert_allclose(comp @ comp.T, np.eye(45), atol=1e-5)
        assert 0.1 < np.abs(data[f"hands_mean{side}"]).max() < 1.5
    assert np.abs(data["shapedirs"][:, :, :20]).max(axis=(0, 1)).min() > 1e-3  # 20 live shape columns
    assert not data["shapedirs"][:, :, 20:300].any() and not data["posedirs"].any()
    assert data["shapedirs"][:, :, 300:310].any()


def test_rest_pose_is_an_anatomical_t_pose(rest, data):
    v, j = rest
    lowest = np.argsort(v[:, 1])[:100]  # the feet are lowest
    assert np.isin(data["weights"][lowest].argmax(1), [7, 8, 10, 11]).all()
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.65 < height < 1.75
    y = j[:, 1]
    assert y[15] > y[12] > y[9] > y[6] > y[3] > y[0]  # head > neck > spine3 > spine2 > spine1 > pelvis
    assert y[0] > y[1] > y[4] > y[7] and y[7] - v[:, 1].min() < 0.12  # legs go down; ankles near the floor
    assert (j[LEFT, 0] > 0.01).all() and (j[RIGHT, 0] < -0.01).all()
    np.testing.assert_allclose(j[RIGHT], j[LEFT] * [-1, 1, 1], atol=1e-5)
    assert abs(y[20] - y[16]) < 0.03 and abs(y[18] - y[16]) < 0.03  # arms horizontal
    assert 1.2 < j[20, 0] - j[21, 0] < 1.45  # wrist-to-wrist span
    tips = j[66:76]
    assert 0.9 < (tips[:, 0].max() - tips[:, 0].min()) / height < 1.1  # arm span ~ height
    assert (np.abs(j[25:40, 1] - y[20]) < 0.06).all()  # flat hands at wrist height


def test_extra_joints_are_where_they_belong(rest):
    _, j = rest
    nose, reye, leye, rear, lear = j[55:60]
    head = j[15]
    assert nose[2] > head[2] + 0.08 and abs(nose[0]) < 1e-4 and j[12, 1] < nose[1] < leye[1]
    assert leye[0] > 0 > reye[0] and leye[2] > head[2] + 0.05 and leye[1] > nose[1]
    assert lear[0] > leye[0] + 0.03 and rear[0] < reye[0] - 0.03 and abs(lear[1] - leye[1]) < 0.05
    for big, small, heel, ankle in ((60, 61, 62, 7), (63, 64, 65, 8)):
        assert j[big, 2] > j[heel, 2] + 0.18 and j[small, 2] > j[heel, 2] + 0.12
        assert abs(j[big, 0]) < abs(j[small, 0])  # big toe medial
        assert j[heel, 1] < j[ankle, 1] - 0.03
    assert (j[66:71, 0] > j[20, 0] + 0.08).all() and (j[71:76, 0] < j[21, 0] - 0.08).all()
    assert j[66, 2] > j[67:71, 2].max()  # thumb tip is the front-most finger tip (palms down)


def test_all_127_joints_mirror(rest):
    _, j = rest
    np.testing.assert_allclose(j[list(SMPLX_JOINTS127_FLIP_PERM)] * [-1, 1, 1], j, atol=1e-4)


def test_face_landmarks_on_the_face(rest):
    _, j = rest
    lm = j[76:127]
    head, nose_tip = j[15], j[55]
    assert (lm[:, 2] > head[2] + 0.04).all()
    brows, nose, eyes, mouth = lm[:10], lm[10:19], lm[19:31], lm[31:]
    assert brows[:, 1].min() > eyes[:, 1].max() > nose[4:, 1].max()
    assert nose[4:, 1].min() > mouth[:, 1].max() and mouth[:, 1].min() > j[12, 1]
    np.testing.assert_allclose(nose[3], nose_tip, atol=2e-3)  # iBUG 30 = the tip
    assert mouth[0, 0] < mouth[6, 0] and mouth[3, 1] > mouth[9, 1]  # corners right->left; top over bottom


def test_betas_change_height_and_build(layer, rest):
    def run(k, values):
        b = torch.zeros(len(values), 11)
        b[:, k] = torch.tensor(values)
        with torch.no_grad():
            out = layer(betas=b)
        return out.vertices.numpy(), out.joints.numpy()

    v, _ = run(0, [-2.0, -1.0, 0.0, 1.0, 2.0])
    h = v[..., 1].max(1) - v[..., 1].min(1)
    assert (np.diff(h) > 0.02).all() and h[-1] - h[0] > 0.2  # +beta0 = taller, monotonic
    for k in range(11):
        vk, jk = run(k, [-2.0, 2.0])
        assert np.linalg.norm(vk[1] - vk[0], axis=1).max() > 0.01  # every beta does something
        assert (jk[:, 15, 1] > jk[:, 12, 1]).all() and (jk[:, 12, 1] > jk[:, 0, 1]).all()
    # build: some early beta changes the waist girth by > 4 cm with < 3 cm of height change, and some
    # changes the leg-to-torso proportion by > 3 cm
    rest_v, rest_j = rest
    waist = (np.abs(rest_v[:, 1] - rest_j[3, 1]) < 0.01) & (np.abs(rest_v[:, 0]) < 0.25)
    girth, legs = [], []
    for k in range(1, 6):
        vk, jk = run(k, [-2.0, 2.0])
        dh = abs(np.ptp(vk[1][:, 1]) - np.ptp(vk[0][:, 1]))
        g = [np.ptp(x[waist][:, 0]) + np.ptp(x[waist][:, 2]) for x in vk]
        girth.append(abs(g[1] - g[0]) if dh < 0.03 else 0.0)
        leg_torso = [(j[1, 1] - j[7, 1]) - (j[12, 1] - j[0, 1]) for j in jk]
        legs.append(abs(leg_torso[1] - leg_torso[0]))
    assert max(girth) > 0.04 and max(legs) > 0.03


def test_joints_follow_shape_and_ignore_expression(layer, data):
    with torch.no_grad():
        j0 = layer().joints[0, :55].numpy()
    np.testing.assert_allclose(data["J_regressor"] @ data["v_template"], j0, atol=1e-5)
    b = torch.randn(3, 11)
    with torch.no_grad():
        e0 = layer(betas=b)
        e1 = layer(betas=b, expression=2 * torch.randn(3, 10))
    assert (e1.vertices - e0.vertices).norm(dim=-1).amax() > 0.003  # the face moves
    torch.testing.assert_close(e1.joints[:, :55], e0.joints[:, :55], atol=1e-4, rtol=0)
    # joints scale with the body: the tall shape's joints spread further apart
    assert (e0.joints[:, 15, 1] - e0.joints[:, 7, 1]).std() > 0.01


def test_elbow_bend_moves_only_forearm_and_hand(layer, data):
    subtree = [18, 20, *range(25, 40)]
    w = data["weights"][:, subtree].sum(1)
    pose = torch.zeros(1, 21, 3)
    pose[0, 17] = torch.tensor([0.0, -np.pi / 2, 0.0])  # left elbow (joint 18): forearm swings forward
    with torch.no_grad():
        v0 = layer().vertices[0].numpy()
        out = layer(body_pose=roma.rotvec_to_rotmat(pose))
    v1, j1 = out.vertices[0].numpy(), out.joints[0].numpy()
    moved = np.linalg.norm(v1 - v0, axis=1)
    assert moved[w == 0].max() < 1e-6
    assert (moved[w > 0.999] > 0.01).mean() > 0.95 and moved.max() > 0.25
    assert (v0[moved > 1e-6, 0] > j1[16, 0]).all()  # nothing medial of the shoulder moves
    assert j1[20, 2] - j1[18, 2] > 0.2 and abs(j1[20, 0] - j1[18, 0]) < 0.02  # wrist now in front of elbow
    rigid = w > 0.999  # fully forearm/hand vertices keep their distance to the elbow
    d0 = np.linalg.norm(v0[rigid] - layer().joints[0, 18].detach().numpy(), axis=1)
    np.testing.assert_allclose(np.linalg.norm(v1[rigid] - j1[18], axis=1), d0, atol=1e-5)


def test_weights_are_symmetric_and_every_joint_owns_vertices(data):
    mirror = _mirror_index(data["v_template"])
    flip = np.arange(55)
    flip[LEFT], flip[RIGHT] = RIGHT, LEFT
    np.testing.assert_allclose(data["weights"][mirror][:, flip], data["weights"], atol=1e-5)
    assert (data["weights"].max(0) > 0.45).all()  # every joint drives some vertices (collars ~0.48 at most)


def test_vertex_parts_cover_22_symmetric_parts(data):
    parts = st.standin_vertex_parts().numpy()
    assert parts.shape == (V,) and set(np.unique(parts)) == set(range(1, 23))
    mirror = _mirror_index(data["v_template"])
    agree = (np.asarray(PART_FLIP_PERM)[parts[mirror]] == parts).mean()
    assert agree > 0.999


def test_expanded_file_equals_compact_asset(data):
    c = st.load_standin_compact()
    full = st.expand_standin(c)
    for key in full:
        np.testing.assert_array_equal(data[key], full[key])
    k = c["shapedirs"].shape[2]
    assert full["shapedirs"].dtype == np.float32
    np.testing.assert_array_equal(full["shapedirs"][:, :, :k], c["shapedirs"].astype(np.float32))
    kept = full["weights"][np.arange(V)[:, None], c["weight_idx"]]
    np.testing.assert_allclose(kept, c["weight_vals"], atol=1e-6)
    np.testing.assert_allclose(full["J_regressor"] @ full["v_template"], c["joints"], atol=2e-4)
    assert str(data["standin_asset_sha256"]) == st._asset_hash(st._asset_path())


def test_stale_or_damaged_expansion_is_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HPSKIT_DATA_DIR", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="hpskit.body.standin"):
        p = st.standin_path()
    assert "stand-in" in caplog.text and p.is_relative_to(tmp_path / "body_models" / "smplx")
    stamp = p.stat().st_mtime_ns
    assert st.standin_path() == p and p.stat().st_mtime_ns == stamp  # fresh: not rewritten
    np.savez(p, v_template=np.zeros((3, 3)), standin_asset_sha256=np.array("old"))  # another asset version
    st.standin_path()
    with np.load(p) as z:
        assert z["v_template"].shape == (V, 3)
    p.write_bytes(p.read_bytes()[:1000])  # truncated by a crash
    st.standin_path()
    assert np.load(p)["v_template"].shape == (V, 3)
    # a changed asset (new build) replaces the old expansion
    c = st.load_standin_compact()
    c["v_template"] = c["v_template"] + np.float32(0.01)
    other = tmp_path / "other.npz"
    np.savez_compressed(other, **c)
    with np.load(st.standin_path(other)) as z:
        np.testing.assert_allclose(z["v_template"], c["v_template"])
    assert not list(p.parent.glob("*.tmp"))  # no leftovers of the atomic write


def test_unreadable_asset_raises(tmp_path):
    from hpskit.core import CorruptFileError

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CorruptFileError, match="stand-in asset"):
        st.load_standin_compact(bad)
