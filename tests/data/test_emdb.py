"""EMDB: raw sequence pickles (emdb1 subset, good-frame mask) and the parsed npz, on generated fixtures."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpskit.core import ConfigError, CorruptFileError, MissingFileError
from hpskit.data import EMDB, EMDBNpz, collate_samples
from hpskit.testing.datasets import EMDB_SEQUENCES, ToySMPL, write_emdb_npz


def _data(root, k=0):
    subj, name, _ = EMDB_SEQUENCES[k]
    with open(root / subj / name / f"{subj}_{name}_data.pkl", "rb") as fh:
        return pickle.load(fh)


def test_subset_good_frames_and_invalid_boxes(emdb_root):
    ds = EMDB(emdb_root)
    d = _data(emdb_root)
    good = np.flatnonzero(d["good_frames_mask"])
    expected = [f for f in good if f not in set(d["bboxes"]["invalid_idxs"].tolist())]
    assert len(ds) == len(expected) == 3
    assert ds.skipped == {"invalid bbox": 1} and ds.excluded == 1
    assert len(EMDB(emdb_root, subset=None)) == 6 and len(EMDB(emdb_root, subset="emdb2")) == 3
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_samples)
    b = next(iter(loader))
    assert b.has_smpl.all() and not b.has_transl.any() and not b.has_joints3d.any() and b.has_kp2d.all()
    assert b.gender == ["female"] * 3
    for i, f in enumerate(expected):
        s = ds[i].validate()
        box = d["bboxes"]["bboxes"][f]
        np.testing.assert_allclose(s.center.numpy(), (box[:2] + box[2:]) / 2, atol=1e-4)
        assert float(s.scale) == pytest.approx(1.2 * (box[2:] - box[:2]).max() / 200, rel=1e-5)
        np.testing.assert_allclose(s.kp2d[:22, :2].numpy(), d["kp2d"][f][:22], atol=1e-4)
        R = d["camera"]["extrinsics"][f][:3, :3]
        np.testing.assert_allclose(
            s.pose_rotmat[0].numpy(),
            R @ Rotation.from_rotvec(d["smpl"]["poses_root"][f]).as_matrix(),
            atol=1e-5,
        )
    with pytest.raises(ConfigError, match="subset"):
        EMDB(emdb_root, subset="emdb3")


def test_body_in_camera_frame_with_smpl_bodies(emdb_root, toy_bodies):
    ds = EMDB(emdb_root, smpl_bodies=toy_bodies)
    d = _data(emdb_root)
    body = ToySMPL()
    f = 0
    s = ds[0]
    assert s.has_transl and s.has_joints3d and s.has_vertices
    pose_w = Rotation.from_rotvec(
        np.concatenate([d["smpl"]["poses_root"][f : f + 1], d["smpl"]["poses_body"][f].reshape(23, 3)])
    ).as_matrix()
    world = body(
        torch.tensor(pose_w, dtype=torch.float32)[None],
        torch.tensor(d["smpl"]["betas"]).float()[None],
        torch.tensor(d["smpl"]["trans"][f]).float()[None],
    )
    R, t = d["camera"]["extrinsics"][f][:3, :3], d["camera"]["extrinsics"][f][:3, 3]
    manual_v = world.vertices[0].numpy() @ R.T + t
    np.testing.assert_allclose(s.vertices.numpy(), manual_v, atol=1e-4)
    cam = body(s.smpl_pose_rotmat[None], s.betas[None, :10], s.transl[None])
    np.testing.assert_allclose(cam.vertices[0].numpy(), manual_v, atol=1e-4)
    uvw = s.joints3d[:22].numpy() @ d["camera"]["intrinsics"].T
    np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], d["kp2d"][f][:22], atol=1e-3)
    with pytest.raises(ConfigError, match="female"):
        EMDB(emdb_root, smpl_bodies={"male": body})


def test_pelvis_marker_lands_in_the_crop(emdb_root, helpers):
    ds = EMDB(emdb_root)
    for i in range(len(ds)):
        s = ds[i]
        expected = helpers.to_crop(np.round(s.kp2d[0, :2].numpy()), s.center, s.scale)
        assert np.linalg.norm(helpers.marker_centroids(s.img) - expected, axis=1).min() < 1.5


def test_parsed_npz(emdb_root):
    raw = EMDB(emdb_root)
    ds = EMDBNpz(write_emdb_npz(emdb_root), emdb_root)
    assert len(ds) == 4  # the npz writer keeps the invalid-box frame
    s, r = ds[0].validate(), raw[0]
    np.testing.assert_allclose(s.smpl_pose_rotmat.numpy(), r.smpl_pose_rotmat.numpy(), atol=1e-5)
    np.testing.assert_allclose(s.center.numpy(), r.center.numpy(), atol=1e-4)
    assert s.gender == "female" and s.has_smpl and not s.has_kp2d


def test_missing_and_unsafe_files(tmp_path, emdb_root):
    with pytest.raises(MissingFileError, match=r"EMDB.*emdb\.ait\.ethz\.ch"):
        EMDB(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="P<k>"):
        EMDB(tmp_path / "empty")

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    bad = tmp_path / "evil" / "P0" / "01_x"
    bad.mkdir(parents=True)
    with open(bad / "P0_01_x_data.pkl", "wb") as fh:
        pickle.dump({"gender": Evil()}, fh)
    with pytest.raises(CorruptFileError, match="Refusing to unpickle"):
        EMDB(tmp_path / "evil")


def test_sequence_name_of_every_sample(emdb_root):
    """Raw pickles and the parsed npz (``P<k>/<seq>/...`` image paths) give EMDB's own sequence name."""
    raw = EMDB(emdb_root)
    npz = EMDBNpz(write_emdb_npz(emdb_root), emdb_root)
    assert {raw.sequence_name(i) for i in range(len(raw))} == {"P0_09_outdoor_walk"}  # emdb1 only
    assert [npz.sequence_name(i) for i in range(len(npz))] == ["P0_09_outdoor_walk"] * len(npz)
