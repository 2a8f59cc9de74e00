"""hpskit.export.animation and .bvh: the animated skinned glTF passes the validator and replays the body
model's joints (and, up to the pose correctives, its vertices); the BVH replays the joints too."""

import numpy as np
import pytest
import roma
import torch
from _gltf_eval import replay_skinned_glb
from _gltf_validator import assert_valid_gltf
from scipy.spatial.transform import Rotation
from smplx.lbs import lbs

from hpskit.body import SMPLX_JOINT_NAMES
from hpskit.core import ShapeError
from hpskit.export import body_skeleton, read_bvh, read_glb, write_animated_glb, write_bvh

S = np.diag([1.0, -1.0, -1.0])  # hpskit camera frame -> glTF / BVH y-up frame
T, FPS = 6, 25.0


@pytest.fixture(scope="module")
def motion():
    g = torch.Generator().manual_seed(3)
    pose = roma.rotvec_to_rotmat(0.35 * torch.randn(T, 22, 3, generator=g, dtype=torch.float64))
    pose[:, 0] = torch.from_numpy(S) @ pose[:, 0]
    transl = torch.tensor([0.2, 0.1, 4.0], dtype=torch.float64) + 0.1 * torch.randn(T, 3, generator=g,
                                                                                      dtype=torch.float64)
    betas = 0.8 * torch.randn(11, generator=g)
    return pose, transl, betas


def _reference(body, pose, transl, betas, correctives=True):
    """Body-model joints (T, 55, 3) and vertices (T, V, 3), camera frame; with or without pose
    correctives (smplx.lbs with posedirs zeroed = what glTF skinning can express)."""
    with torch.no_grad():
        out = body.forward_pose(pose.float(), betas.float().expand(T, -1), transl=transl.float())
        if correctives:
            return out.joints[:, :55].double().numpy(), out.vertices.double().numpy()
        layer = body.layer
        eye = torch.eye(3).expand(T, 33, 3, 3)
        full = torch.cat([pose.float(), eye], 1)
        verts, joints = lbs(betas.float().expand(T, -1), full, layer.v_template, layer.shapedirs,
                            torch.zeros_like(layer.posedirs), layer.J_regressor, layer.parents,
                            layer.lbs_weights, pose2rot=False)
        shift = transl.float()[:, None]
        return (joints + shift).double().numpy(), (verts + shift).double().numpy()


def test_animated_glb_validates_and_replays_the_body(tmp_path, body, motion):
    pose, transl, betas = motion
    frames = np.array([0, 1, 2, 4, 5, 7])  # a gap, as in a track that lost its person for a frame
    K = np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])
    path = write_animated_glb(tmp_path / "track.glb", body_skeleton(body, betas), pose, transl, FPS,
                              frames=frames, K=K, image_size=(480, 640))
    report = assert_valid_gltf(path)
    assert report["issues"]["numWarnings"] == 0
    assert report["info"]["animationCount"] == 1 and report["info"]["hasSkins"]
    gltf, binary = read_glb(path)
    times, replay = replay_skinned_glb(gltf, binary)
    np.testing.assert_allclose(times, frames / FPS, rtol=1e-6)
    joints_ref, verts_ref = _reference(body, pose, transl, betas)
    joints_lbs, verts_lbs = _reference(body, pose, transl, betas, correctives=False)
    for k, (joints, verts) in enumerate(replay):
        # joints: exact up to float32 storage (stated tolerance 0.05 mm)
        np.testing.assert_allclose(joints, joints_ref[k], atol=5e-5)
        # vertices: glTF skinning = SMPL-X lbs without pose correctives (0.1 mm) ...
        np.testing.assert_allclose(verts, verts_lbs[k], atol=1e-4)
        # ... and within the correctives' size of the full body model (stated: < 3 cm on this pose)
        assert np.abs(verts - verts_ref[k]).max() < 0.03


def test_bvh_replays_the_joints(tmp_path, body, motion):
    pose, transl, betas = motion
    path = write_bvh(tmp_path / "track.bvh", body_skeleton(body, betas), pose, transl, FPS)
    bvh = read_bvh(path)
    assert len(bvh["names"]) == 22 and bvh["names"][0] == "pelvis"
    assert bvh["frame_time"] == pytest.approx(0.04)
    joints_ref = _reference(body, pose, transl, betas)[0][:, :22] @ S  # y-up frame
    for k in range(T):
        row = bvh["motion"][k]
        col, world = 0, {}
        for j, (parent, offset, chans) in enumerate(zip(bvh["parents"], bvh["offsets"], bvh["channels"])):
            vals = dict(zip(chans, row[col:col + len(chans)]))
            col += len(chans)
            M = np.eye(4)
            M[:3, :3] = Rotation.from_euler("ZXY", [vals["Zrotation"], vals["Xrotation"], vals["Yrotation"]],
                                            degrees=True).as_matrix()
            M[:3, 3] = [vals.get("Xposition", offset[0]), vals.get("Yposition", offset[1]),
                        vals.get("Zposition", offset[2])]
            world[j] = M if parent < 0 else world[parent] @ M
        positions = np.stack([world[j][:3, 3] for j in range(22)])  # file (depth-first) order
        order = [SMPLX_JOINT_NAMES.index(n) for n in bvh["names"]]
        np.testing.assert_allclose(positions, joints_ref[k][order], atol=2e-5)


def test_motion_errors(tmp_path, body):
    sk = body_skeleton(body, torch.zeros(11))
    eye = np.tile(np.eye(3), (2, 22, 1, 1))
    with pytest.raises(ShapeError, match=r"transl.*\(2, 3\)"):
        write_animated_glb(tmp_path / "x.glb", sk, eye, np.zeros((3, 3)), 30)
    with pytest.raises(ShapeError, match="strictly increasing"):
        write_animated_glb(tmp_path / "x.glb", sk, eye, np.zeros((2, 3)), 30, frames=[3, 3])
    with pytest.raises(ShapeError, match=r"\(T, 22, 3, 3\)"):
        write_bvh(tmp_path / "x.bvh", sk, eye[:, :21], np.zeros((2, 3)), 30)
    assert not list(tmp_path.iterdir())
