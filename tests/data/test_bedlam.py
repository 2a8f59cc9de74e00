"""BEDLAM end to end on a generated fixture: labels, close-up rotation, depth EXR + masks, part labels."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import OpenEXR
import pytest
import torch
from PIL import Image

from hpskit.body import PART_NAMES
from hpskit.core import ConfigError, MissingFileError
from hpskit.data import BEDLAM, CropConfig, collate_samples, crop_full_image
from hpskit.testing.datasets import BEDLAM_SCENES

PEOPLE = 2  # people per frame in the fixture; row k of a frame is actor NN = PEOPLE - 1 - k
TRUNK = {"hips", "spine", "spine1", "leftUpLeg", "rightUpLeg"}


def _labels(root, scene):
    with np.load(root / "training_labels/all_npz_12_training" / f"{scene}.npz") as z:
        return {k: z[k] for k in z.files}


def _rows(bedlam):
    """(scene, row) of every sample, recomputed from the files: first 80 %, minus the two bad rows."""
    out = []
    for scene in BEDLAM_SCENES:
        lab = _labels(bedlam.root, scene)
        n = int(0.8 * len(lab["imgname"]))
        for r in range(n):
            c = lab["center"][r]
            if np.isfinite(c).all() and (c >= 0).all():
                out.append((scene, r, lab))
    return out


def test_dataloader_yields_schema(bedlam, bedlam_samples):
    assert len(bedlam) == len(bedlam_samples) == 4 + 6  # 8 rows per scene → first 6; two bad rows in scene 0
    assert bedlam.skipped == {"non-finite center": 1, "box outside image": 1}
    assert [s.index for s in bedlam_samples] == list(range(10))
    b = collate_samples(bedlam_samples[3:8])  # both scenes
    assert (
        b.img.shape == (5, 3, 224, 224)
        and b.depth.shape == (5, 1, 224, 224)
        and b.parts.shape == (5, 224, 224)
    )
    assert b.has_smplx.all() and b.has_kp2d.all() and b.has_joints3d.all() and b.has_vertices.all()
    assert b.has_transl.all() and b.has_parts.all() and not b.has_smpl.any()
    assert b.vertices.shape[1:] == (bedlam.body_targets.body.num_vertices, 3)
    assert set(b.gender) == {"neutral"} and b.dataset == ["BEDLAM"] * 5
    cheap = BEDLAM(bedlam.root, depth=False, crop_percent=1.0)
    assert len(cheap) == 8 - 2 + 8
    b = next(iter(torch.utils.data.DataLoader(cheap, batch_size=4, collate_fn=collate_samples, shuffle=True)))
    assert b.img.shape == (4, 3, 224, 224) and not (
        b.has_depth.any() or b.has_parts.any() or b.has_vertices.any()
    )
    with pytest.raises(ConfigError, match="crop_percent"):
        BEDLAM(bedlam.root, crop_percent=0)


def test_labels_and_camera_frame(bedlam, bedlam_samples):
    for s, (scene, r, lab) in zip(bedlam_samples, _rows(bedlam)):
        s.validate()
        np.testing.assert_allclose(s.kp2d.numpy(), lab["gtkps"][r, :24], atol=1e-5)
        np.testing.assert_allclose(s.betas.numpy(), lab["shape"][r], atol=1e-6)
        np.testing.assert_allclose(
            s.transl.numpy(), lab["trans_cam"][r] + lab["cam_ext"][r][:3, 3], atol=1e-6
        )
        np.testing.assert_allclose(s.K.numpy(), lab["cam_int"][r], atol=1e-6)
        # the GT body posed with (pose_cam, shape, transl) projects onto gtkps: the camera-frame convention
        uvw = s.joints3d.numpy() @ lab["cam_int"][r].T
        np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], lab["gtkps"][r, :24, :2], atol=2e-3)
        W, H = 2 * lab["cam_int"][r][:2, 2]
        assert s.img_size.tolist() == [W, H]
        assert (W < H) == ("closeup" in scene)


def test_markers_land_in_the_crop_including_closeups(bedlam, bedlam_samples, helpers):
    """The fixture paints a marker at each person's pelvis in the *label* frame and stores close-up
    images turned counter-clockwise; after the loader's clockwise turn the marker must sit where
    gtkps says, mapped into the crop."""
    for s in bedlam_samples:
        expected = helpers.to_crop(np.round(s.kp2d[0, :2].numpy()), s.center, s.scale)
        found = helpers.marker_centroids(s.img)
        assert len(found) and np.linalg.norm(found - expected, axis=1).min() < 1.5
    disk = Image.open(next((bedlam.root / f"training_images/{BEDLAM_SCENES[1]}/png").rglob("*.png")))
    assert disk.size == (160, 90)  # close-ups are landscape on disk


def _independent_depth(root, scene, imgname, nn_):
    """§4.7 from scratch: OpenEXR + cv2 rotation + PIL masks + numpy percentiles."""
    base = scene.removesuffix("_6fps")
    seq, stem = imgname.split("/")[0], imgname.split("/")[1][:-4]
    with OpenEXR.File(str(root / f"bedlam_download/{base}/depth/{seq}/{stem}_depth.exr")) as f:
        d = np.array(f.channels()["Depth"].pixels, dtype=np.float64)
    mdir = root / f"masks/{base}/masks/{seq}"
    mask = np.zeros(d.shape, bool)
    for part in ("body", "clothing"):
        p = mdir / f"{stem}_{nn_:02d}_{part}.png"
        if p.exists():
            mask |= np.array(Image.open(p)) == 255
    if "closeup" in scene:
        d, mask = (
            cv2.rotate(d, cv2.ROTATE_90_CLOCKWISE),
            cv2.rotate(mask.astype(np.uint8), cv2.ROTATE_90_CLOCKWISE) > 0,
        )
    d[~mask] = 0
    p5, p95 = np.percentile(d[d != 0], 5), np.percentile(d[d != 0], 95)
    return np.clip(0.9 * (d - p5) / (p95 - p5) + 0.1, 0, 1), mask


def test_depth_normalisation_and_mask_vs_numpy(bedlam, bedlam_samples):
    for i, (s, (scene, r, lab)) in enumerate(zip(bedlam_samples, _rows(bedlam))):
        nn_ = PEOPLE - 1 - r % PEOPLE
        ref, mask = _independent_depth(bedlam.root, scene, str(lab["imgname"][r]), nn_)
        np.testing.assert_array_equal(bedlam.person_mask(i), mask)  # the right actor, not row r's NN
        full = bedlam.depth_map(i)
        np.testing.assert_allclose(full, ref, atol=1e-6)
        assert full[~mask].max() == 0 and full[mask].min() >= 0 and full.max() == 1.0
        crop = crop_full_image(torch.from_numpy(ref).float()[None, None], s.center[None], s.scale[None], 224)[
            0
        ]
        np.testing.assert_allclose(s.depth.numpy(), crop.numpy(), atol=1e-5)
        assert s.has_depth == bool(crop.max() >= 1 - 1e-5)


def test_part_labels_cover_the_persons_mask(bedlam, bedlam_samples, helpers):
    """Parts are rendered by the loader at 224² with K_crop; the fixture's masks are full-image renders.
    Their crops must agree: this checks the crop camera independently of the image crop."""
    for i, s in enumerate(bedlam_samples):
        mask = torch.from_numpy(bedlam.person_mask(i)).float()[None, None]
        m = crop_full_image(mask, s.center[None], s.scale[None], 224, mode="nearest")[0, 0] > 0.5
        fg = s.parts > 0
        iou = float((m & fg).sum()) / float((m | fg).sum())
        assert iou > 0.8, (i, iou)
        assert int(s.parts.max()) <= 22
        u, v = np.round(helpers.to_crop(s.kp2d[0, :2].numpy(), s.center, s.scale)).astype(int)
        if 0 <= u < 224 and 0 <= v < 224:  # the pelvis projects onto a hip/trunk/thigh part
            assert PART_NAMES[int(s.parts[v, u])] in TRUNK, (i, PART_NAMES[int(s.parts[v, u])])
    labels = torch.cat([s.parts[s.parts > 0] for s in bedlam_samples]).unique().tolist()
    assert len(labels) > 8  # many parts visible, with intended labels (1..22)


def test_custom_vertex_table_and_no_body(bedlam_root, smplx_body):
    table = torch.full((smplx_body.num_vertices,), 7, dtype=torch.long)
    s = BEDLAM(bedlam_root, body_model=smplx_body, vertex_parts=table, depth=False)[0]
    assert set(s.parts.unique().tolist()) == {0, 7} and not s.has_depth and s.depth.abs().sum() == 0
    s = BEDLAM(bedlam_root, depth=False)[0]
    assert not (s.has_parts or s.has_vertices or s.has_joints3d) and s.vertices is None and s.has_smplx
    with pytest.raises(ConfigError, match="vertex_parts"):
        BEDLAM(bedlam_root, body_model=smplx_body, vertex_parts=table[:10])


def test_augmentation_is_seeded(bedlam_root, helpers):
    ds = BEDLAM(bedlam_root, depth=False, crop=CropConfig.dpose_train(random_crop_prob=0.5), seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a.img, b.img) and float(a.scale) == float(b.scale)
    idx = range(0, len(ds), 2)
    epoch0 = [ds[i] for i in idx]
    ds.set_epoch(1)
    assert [float(ds[i].scale) for i in idx] != [float(s.scale) for s in epoch0]
    for s in epoch0:
        expected = helpers.to_crop(np.round(s.kp2d[0, :2].numpy()), s.center, s.scale)
        found = helpers.marker_centroids(s.img)
        if (expected >= 2).all() and (expected <= 221).all():
            assert np.linalg.norm(found - expected, axis=1).min() < 1.5


def test_missing_files_and_bad_masks(tmp_path, bedlam_root, smplx_body):
    with pytest.raises(MissingFileError, match=r"BEDLAM: dataset root.*bedlam\.is\.tue\.mpg\.de"):
        BEDLAM(tmp_path / "none")
    root = tmp_path / "copy"
    shutil.copytree(bedlam_root, root)
    shutil.rmtree(root / "bedlam_download")
    with pytest.raises(MissingFileError, match="depth folder.*depth=False"):
        BEDLAM(root)
    assert len(BEDLAM(root, depth=False)) == 10
    shutil.copytree(bedlam_root / "bedlam_download", root / "bedlam_download")
    scene = BEDLAM_SCENES[0].removesuffix("_6fps")
    mdir = root / f"masks/{scene}/masks/seq_000000"
    for p in mdir.glob("seq_000000_0000_*_*.png"):  # frame 0: no actor masks → fallback to ~env
        p.unlink()
    ds = BEDLAM(root)
    env = np.array(Image.open(mdir / "seq_000000_0000_env.png")) == 255
    np.testing.assert_array_equal(ds.person_mask(0), ~env)
    Image.fromarray(np.full(env.shape, 255, np.uint8)).save(mdir / "seq_000000_0000_env.png")
    s = ds[0]  # empty mask → skipped, the next record is returned
    assert s.index == 1 and ds.skipped["empty person mask"] == 1
