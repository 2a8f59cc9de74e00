"""Pose, shape, camera and background samplers of the synthetic engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hpskit.core import ConfigError, CorruptFileError, MissingFileError
from hpskit.data.synthetic import (
    JOINT_LIMITS,
    KEY_POSES,
    CameraConfig,
    NpzPoseSource,
    PoseConfig,
    PoseSampler,
)
from hpskit.data.synthetic.backgrounds import BACKGROUND_KINDS, ImageBank, procedural_backgrounds
from hpskit.data.synthetic.cameras import ShapeConfig, sample_betas, sample_cameras, sample_orientation
from hpskit.data.synthetic.poses import BODY_JOINTS, euler_xyz_to_rotmat, hand_curl, mirror_axis_angle
from hpskit.geometry import axis_angle_to_rotmat


def test_euler_convention():
    # z first: (1,0,0) -> (0,1,0) by Rz(90); then Rx(90) takes (0,1,0) -> (0,0,1)
    R = euler_xyz_to_rotmat(torch.tensor([90.0, 0.0, 90.0], dtype=torch.float64))
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 0, 1], dtype=torch.float64), atol=1e-12)


def test_limits_table_is_complete_and_ordered():
    assert set(JOINT_LIMITS) == set(BODY_JOINTS) and len(BODY_JOINTS) == 21
    for name, lim in JOINT_LIMITS.items():
        assert all(lo < hi for lo, hi in lim), name
    # anatomical sense: knees bend one way, hips flex forward (negative x), elbows mirror
    assert JOINT_LIMITS["left_knee"][0][1] >= 140 and JOINT_LIMITS["left_hip"][0][0] <= -110
    assert JOINT_LIMITS["left_elbow"][1] == tuple(-x for x in JOINT_LIMITS["right_elbow"][1][::-1])


def test_key_poses_inside_limits_and_mirror():
    s = PoseSampler()
    assert torch.equal(s.clamp(s.key_aa), s.key_aa), "a key pose leaves the joint limits"
    assert len(KEY_POSES) >= 15 and {"stand", "walk", "sit", "squat", "run", "arms_up"} <= set(KEY_POSES)
    m = mirror_axis_angle(s.key_aa)
    assert torch.allclose(mirror_axis_angle(m), s.key_aa)
    # mirroring "walk" swaps which leg is forward
    w = s.key_names.index("walk")
    assert s.key_aa[w, 1, 0] < 0 and m[w, 2, 0] < 0  # left hip flexed ↔ right hip flexed


def test_sampler_deterministic_and_within_limits():
    s = PoseSampler()
    a = s.sample(200, torch.Generator().manual_seed(0))
    b = s.sample(200, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (200, 22, 3)
    assert torch.equal(s.clamp(a), a)
    assert not torch.equal(a, s.sample(200, torch.Generator().manual_seed(1)))
    assert a[:, 1:].abs().amax() > 0.5  # not degenerate


def test_pose_source(tmp_path):
    rows = np.random.default_rng(0).normal(0, 0.3, (5, 165))
    np.savez(tmp_path / "bedlam.npz", pose_cam=rows)
    src = NpzPoseSource(tmp_path / "bedlam.npz")
    assert len(src) == 5 and src.key == "pose_cam"
    s = PoseSampler(PoseConfig(p_key=0, p_interp=0, p_random=1e-12, p_source=1.0), src)
    out = s.sample(20, torch.Generator().manual_seed(0))
    body = torch.from_numpy(rows[:, 3:66]).view(5, 21, 3)
    match = (out[:, None, 1:] - body[None]).abs().amax((-1, -2)) < 1e-12
    assert match.any(1).all() and (out[:, 0] == 0).all()
    np.savez(tmp_path / "bad.npz", poses=np.zeros((3, 10)))
    with pytest.raises(CorruptFileError, match="66"):
        NpzPoseSource(tmp_path / "bad.npz")
    with pytest.raises(MissingFileError):
        NpzPoseSource(tmp_path / "nope.npz")
    with pytest.raises(ConfigError):
        PoseConfig(p_key=0, p_interp=0, p_random=0)


def test_hand_curl_bends_towards_the_palm():
    left, right = hand_curl(torch.tensor([0.5], dtype=torch.float64))
    tip = torch.tensor([1.0, 0, 0], dtype=torch.float64)  # left fingers point along +x in the T-pose
    assert (left[0, 0] @ tip)[1] < 0 and (right[0, 0] @ -tip)[1] < 0  # palms face down (-y)


def test_betas_wide_with_extremes():
    b = sample_betas(4000, 11, ShapeConfig(), torch.Generator().manual_seed(0))
    assert b.abs().max() <= 3.0 and 1.2 < b[:, 5].std() < 1.6
    assert ((b[:, :3].abs() == 3.0).any(1)).float().mean() > 0.1


def test_cameras_and_orientation():
    g = torch.Generator().manual_seed(0)
    wh, K = sample_cameras(500, CameraConfig(), g)
    f_mm = K[:, 0, 0] / wh.max(1).values * 36
    assert f_mm.min() >= 18 - 1e-9 and f_mm.max() <= 85 + 1e-9
    assert torch.equal(K[:, 0, 2], wh[:, 0] / 2) and torch.equal(K[:, 0, 0], K[:, 1, 1])
    R = sample_orientation(500, CameraConfig(), g)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500, dtype=R.dtype), atol=1e-9)
    up = R[:, :, 1]  # the body's up axis in the camera frame
    assert (up[:, 1] < -math.cos(math.radians(45))).float().mean() > 0.85


def test_backgrounds(tmp_path):
    g = torch.Generator().manual_seed(0)
    kinds = torch.arange(4).repeat(2)
    bg = procedural_backgrounds(kinds, 48, g, "cpu")
    assert bg.shape == (8, 3, 48, 48) and bg.min() >= 0 and bg.max() <= 1
    assert (bg.flatten(1).std(1) > 1e-3).all()
    assert BACKGROUND_KINDS[-1] == "photo"
    from PIL import Image

    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "grey.png")
    bank = ImageBank.from_folder(tmp_path, size=16)
    assert bank.images.shape == (1, 3, 16, 16)
    crops = bank.sample(3, 24, g, "cpu")
    assert crops.shape == (3, 3, 24, 24) and crops.abs().max() == 0
    with pytest.raises(MissingFileError):
        ImageBank.from_folder(tmp_path / "missing")


def test_rotation_from_key_poses_matches_euler():
    s = PoseSampler()
    i = s.key_names.index("sit")
    R = axis_angle_to_rotmat(s.key_aa[i, 1])  # left hip
    ref = euler_xyz_to_rotmat(torch.tensor(KEY_POSES["sit"]["left_hip"], dtype=torch.float64))
    assert torch.allclose(R, ref, atol=1e-10)


def test_hsv_matches_colorsys():
    import colorsys

    from hpskit.data.synthetic.appearance import _hsv

    g = torch.Generator().manual_seed(0)
    h, s, v = (torch.rand(50, generator=g, dtype=torch.float64) for _ in range(3))
    ref = torch.tensor([colorsys.hsv_to_rgb(*t) for t in zip(h.tolist(), s.tolist(), v.tolist())],
                       dtype=torch.float64)
    assert torch.allclose(_hsv(h, s, v), ref, atol=1e-9)


def test_clothing_regions_follow_sleeve_and_leg_lengths():
    from hpskit.body import PART_NAMES, SMPLXBody, vertex_parts_from_weights
    from hpskit.data.synthetic.appearance import (
        BOTTOM,
        HAIR,
        IRIS,
        SCLERA,
        SHOES,
        SKIN,
        TOP,
        AppearanceConfig,
        BodyRegions,
        sample_appearance,
        vertex_regions,
    )

    body = SMPLXBody("standin")
    parts = vertex_parts_from_weights(body.lbs_weights)
    reg = BodyRegions.from_body(body.v_template, body.J_regressor, parts, body.lbs_weights)
    app = sample_appearance(2, AppearanceConfig(), torch.Generator().manual_seed(0))
    app["sleeve"] = torch.tensor([-0.5, 1.1], dtype=torch.float64)  # sleeveless, long sleeves
    app["legs"] = torch.tensor([0.3, 1.1], dtype=torch.float64)  # shorts, long trousers
    app["hairline"] = torch.tensor([9.0, -0.1], dtype=torch.float64)  # bald, hair
    app["barefoot"] = torch.tensor([True, False])
    r = vertex_regions(reg, app)
    forearm = parts == PART_NAMES.index("leftForeArm")
    shin = parts == PART_NAMES.index("rightLeg")
    foot = parts == PART_NAMES.index("leftFoot")
    assert (r[0, forearm] == SKIN).all() and (r[1, forearm] == TOP).all()
    assert (r[0, shin] == SKIN).all() and (r[1, shin] == BOTTOM).all()
    assert (r[0, foot] == SKIN).all() and (r[1, foot] == SHOES).all()
    assert (r[0] == HAIR).sum() < 200 < (r[1] == HAIR).sum()  # a bald person keeps only the brows
    assert ((r == SCLERA).sum(1) > 0).all() and ((r == IRIS).sum(1) > 0).all()
    assert (r[:, parts == PART_NAMES.index("spine2")] == TOP).all()
