"""3DPW: raw Python-2 sequence pickles and the parsed evaluation npz, end to end on generated fixtures."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hpskit.core import ConfigError, MissingFileError
from hpskit.data import CropConfig, ThreeDPW, ThreeDPWNpz, collate_samples
from hpskit.testing.datasets import PW3D_SEQUENCE, write_3dpw_npz


def _seq(root):
    with open(root / "sequenceFiles" / "test" / f"{PW3D_SEQUENCE}.pkl", "rb") as fh:
        return pickle.load(fh, encoding="latin1")  # the reference way to read a Python 2 pickle


def _records(seq):
    return [(a, f) for a in range(len(seq["poses"])) for f in np.flatnonzero(seq["campose_valid"][a])]


def test_dataloader_yields_schema(pw3d_root):
    ds = ThreeDPW(pw3d_root)
    seq = _seq(pw3d_root)
    assert len(ds) == len(_records(seq)) == 7  # 2 actors × 4 frames − one campose_valid False
    samples = [x.validate() for x in torch.utils.data.DataLoader(ds, batch_size=None)]
    batches = [collate_samples(samples[:4]), collate_samples(samples[4:])]
    assert [len(b) for b in batches] == [4, 3]
    b = batches[0]
    assert b.img.shape == (4, 3, 224, 224) and b.pose_rotmat.shape == (4, 22, 3, 3)
    assert b.has_smpl.all() and not b.has_smplx.any() and not b.has_depth.any() and not b.has_parts.any()
    assert b.has_transl.all() and b.has_joints3d.all() and b.has_kp2d.all() and not b.has_vertices.any()
    assert b.vertices is None
    assert b.gender[:2] == ["male", "male"] and b.dataset == ["3DPW"] * 4


def test_camera_frame_conversion_vs_manual(pw3d_root):
    ds, seq = ThreeDPW(pw3d_root), _seq(pw3d_root)
    for i, (a, f) in enumerate(_records(seq)):
        s = ds[i]
        R, t = seq["cam_poses"][f][:3, :3], seq["cam_poses"][f][:3, 3]
        J = seq["jointPositions"][a][f].reshape(24, 3)
        manual = J @ R.T + t
        np.testing.assert_allclose(s.joints3d[:22].numpy(), manual[:22], atol=1e-5)
        assert (s.joints3d[22:] == 0).all() and (s.kp2d[22:, 2] == 0).all()  # SMPL hands ≠ SMPL-X jaw/eye
        R_root = Rotation.from_rotvec(seq["poses"][a][f][:3]).as_matrix()
        np.testing.assert_allclose(s.pose_rotmat[0].numpy(), R @ R_root, atol=1e-5)
        body = Rotation.from_rotvec(seq["poses"][a][f][3:].reshape(23, 3)).as_matrix()
        np.testing.assert_allclose(s.smpl_pose_rotmat[1:].numpy(), body, atol=1e-5)
        uvw = manual[:22] @ seq["cam_intrinsics"].T
        np.testing.assert_allclose(s.kp2d[:22, :2].numpy(), uvw[:, :2] / uvw[:, 2:], atol=1e-3)
        np.testing.assert_allclose(s.K.numpy(), seq["cam_intrinsics"], atol=1e-6)
        np.testing.assert_allclose(s.betas[:10].numpy(), seq["betas"][a], atol=1e-6)
        assert s.betas[10] == 0
        assert s.gender == {"m": "male", "f": "female"}[seq["genders"][a]]


def test_transl_puts_the_body_in_the_camera_frame(pw3d_root, toy_bodies):
    """The body posed with the sample's camera-frame pose/transl equals R·(world body) + t."""
    ds, seq = ThreeDPW(pw3d_root, smpl_bodies=toy_bodies), _seq(pw3d_root)
    body = toy_bodies["male"]
    for i, (a, f) in enumerate(_records(seq)[:3]):
        s = ds[i]
        out = body(s.smpl_pose_rotmat[None], s.betas[None, :10], s.transl[None])
        R, t = seq["cam_poses"][f][:3, :3], seq["cam_poses"][f][:3, 3]
        J = seq["jointPositions"][a][f].reshape(24, 3)
        np.testing.assert_allclose(out.joints[0].numpy(), J @ R.T + t, atol=1e-4)
        assert s.has_vertices and s.vertices.shape == (body.num_vertices, 3)
        np.testing.assert_allclose(s.vertices.numpy(), out.vertices[0].numpy(), atol=1e-5)


def test_pelvis_marker_lands_in_the_crop(pw3d_root, helpers):
    ds = ThreeDPW(pw3d_root)
    for i in range(len(ds)):
        s = ds[i]
        expected = helpers.to_crop(np.round(s.kp2d[0, :2].numpy()), s.center, s.scale)
        found = helpers.marker_centroids(s.img)
        d = np.linalg.norm(found - expected, axis=1).min()
        assert d < 1.5, (i, found, expected)
        # the sample's own crop → image affine agrees with the formula
        A = s.crop_to_img.numpy()
        np.testing.assert_allclose(A[:, :2] @ expected + A[:, 2], np.round(s.kp2d[0, :2].numpy()), atol=1e-3)


def test_focal_diagonal_and_bbox_info(pw3d_root):
    ds = ThreeDPW(pw3d_root, focal="diagonal")
    s = ds[0]
    W, H = s.img_size.tolist()
    f = np.hypot(W, H)
    np.testing.assert_allclose(s.K.numpy(), [[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], rtol=1e-6)
    cx, cy = s.center.tolist()
    np.testing.assert_allclose(
        s.bbox_info.numpy(), [(cx - W / 2) / f, (cy - H / 2) / f, 200 * float(s.scale) / f], rtol=1e-5
    )
    with pytest.raises(ConfigError, match="focal"):
        ThreeDPW(pw3d_root, focal="gt?")


def test_parsed_npz_matches_raw(pw3d_root):
    raw = ThreeDPW(pw3d_root)
    npz = ThreeDPWNpz(write_3dpw_npz(pw3d_root), pw3d_root)
    assert len(npz) == len(raw)
    for i in (0, 3, 6):
        a, b = raw[i], npz[i]
        np.testing.assert_allclose(b.smpl_pose_rotmat.numpy(), a.smpl_pose_rotmat.numpy(), atol=1e-5)
        np.testing.assert_allclose(b.center.numpy(), a.center.numpy(), atol=1e-3)
        assert b.gender == a.gender and b.has_smpl and not b.has_transl and not b.has_kp2d
        W, H = b.img_size.tolist()
        assert float(b.K[0, 0]) == pytest.approx(np.hypot(W, H))


def test_missing_root_and_split(tmp_path, pw3d_root):
    with pytest.raises(MissingFileError, match=r"3DPW.*dataset root.*virtualhumans\.mpi-inf\.mpg\.de/3DPW"):
        ThreeDPW(tmp_path / "nowhere")
    with pytest.raises(MissingFileError, match="sequence folder of split 'train'"):
        ThreeDPW(pw3d_root, split="train")


def test_bad_records_are_counted_and_skipped(tmp_path):
    from hpskit.data.datasets import dump_py2_pickle, load_data_pickle
    from hpskit.testing.datasets import write_3dpw

    root = write_3dpw(tmp_path)
    path = root / "sequenceFiles" / "test" / f"{PW3D_SEQUENCE}.pkl"
    seq = load_data_pickle(path)
    seq["jointPositions"][1][2, :] = np.nan  # actor 1, frame 2: no joints → no box
    seq["cam_poses"][3, :3, 3] += [0, 0, -50.0]  # frame 3: everyone behind the camera
    dump_py2_pickle(seq, path)
    ds = ThreeDPW(root)
    assert len(ds) == 7 - 3
    assert sum(ds.skipped.values()) == 3 and "< 6 joints in image" in ds.skipped
    assert "left out" in ds.summary()
    for i in range(len(ds)):
        ds[i].validate()


def test_worker_processes_give_the_same_batches(pw3d_root):
    ds = ThreeDPW(pw3d_root, crop=CropConfig.dpose_train(), seed=5)
    kw = dict(batch_size=4, collate_fn=collate_samples)
    a = list(torch.utils.data.DataLoader(ds, num_workers=0, **kw))
    # spawn + timeout: no locks inherited from other tests' threads, and a stuck worker fails, never hangs
    b = list(torch.utils.data.DataLoader(ds, num_workers=2, multiprocessing_context="spawn", timeout=60,
                                         **kw))
    for x, y in zip(a, b):
        assert (
            torch.equal(x.img, y.img)
            and torch.equal(x.scale, y.scale)
            and x.index.tolist() == y.index.tolist()
        )


def test_sequence_name_of_every_sample(pw3d_root):
    """The public accessor the per-sequence scores use: the raw and the parsed format name the sequence."""
    raw = ThreeDPW(pw3d_root)
    npz = ThreeDPWNpz(write_3dpw_npz(pw3d_root), pw3d_root)
    assert [raw.sequence_name(i) for i in range(len(raw))] == [PW3D_SEQUENCE] * len(raw)
    assert [npz.sequence_name(i) for i in range(len(npz))] == [PW3D_SEQUENCE] * len(npz)
    assert raw.record_index(len(raw) - 1) == raw.num_records - 1  # one campose_valid False frame earlier
    with pytest.raises(IndexError):
        raw.sequence_name(len(raw))
