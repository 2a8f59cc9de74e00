"""AGORA end to end on generated fixtures: both label layouts, 10 → 11 betas, no depth."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from hpskit.core import MissingFileError
from hpskit.data import AGORA, collate_samples
from hpskit.testing.datasets import write_agora


@pytest.fixture(scope="module")
def agora_root(tmp_path_factory, smplx_body):
    return write_agora(tmp_path_factory.mktemp("agora"), body_model=smplx_body)


def _rows(root):
    out = []
    for f in ("agora-bfh", "agora-body"):
        with np.load(root / "training_labels/all_npz_12_training" / f"{f}.npz") as z:
            lab = {k: z[k] for k in z.files}
        out += [(lab, r) for r in range(len(lab["imgname"]))]
    return out


def test_schema_no_depth_and_labels(agora_root, smplx_body, helpers):
    ds = AGORA(agora_root, body_model=smplx_body)
    rows = _rows(agora_root)
    assert len(ds) == len(rows) == 4 and not ds.skipped
    samples = list(torch.utils.data.DataLoader(ds, batch_size=None))
    b = collate_samples(samples)
    assert not b.has_depth.any() and b.depth.abs().sum() == 0
    assert b.has_smplx.all() and b.has_parts.all() and b.has_vertices.all() and b.has_transl.all()
    for s, (lab, r) in zip(samples, rows):
        s.validate()
        assert lab["shape"].shape[1] == 10 and s.betas[10] == 0
        np.testing.assert_allclose(s.betas[:10].numpy(), lab["shape"][r], atol=1e-6)
        np.testing.assert_allclose(
            s.transl.numpy(), lab["trans_cam"][r] + lab["cam_ext"][r][:3, 3], atol=1e-6
        )
        uvw = s.joints3d.numpy() @ lab["cam_int"][r].T
        np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], lab["gtkps"][r, :24, :2], atol=2e-3)
        expected = helpers.to_crop(np.round(s.kp2d[0, :2].numpy()), s.center, s.scale)
        assert np.linalg.norm(helpers.marker_centroids(s.img) - expected, axis=1).min() < 1.5


def test_script_layout_without_trans_cam(tmp_path, agora_root, smplx_body):
    """The public processing script puts the full translation in cam_ext[:3, 3] and writes no trans_cam."""
    shutil.copytree(agora_root / "training_images", tmp_path / "training_images")
    (tmp_path / "training_labels/all_npz_12_training").mkdir(parents=True)
    rows = []
    for f in ("agora-bfh", "agora-body"):
        with np.load(agora_root / f"training_labels/all_npz_12_training/{f}.npz") as z:
            lab = {k: z[k] for k in z.files}
        lab["cam_ext"][:, :3, 3] += lab.pop("trans_cam")
        del lab["gender"]
        np.savez(tmp_path / f"training_labels/all_npz_12_training/{f}.npz", **lab)
        rows += [(lab, r) for r in range(len(lab["imgname"]))]
    ds = AGORA(tmp_path)
    for i, (lab, r) in enumerate(rows):
        np.testing.assert_allclose(ds[i].transl.numpy(), lab["cam_ext"][r][:3, 3], atol=1e-6)
    assert len(ds) == len(AGORA(agora_root))
    root = write_agora(tmp_path / "script", body_model=smplx_body, trans_cam=False, people=1)
    with np.load(root / "training_labels/all_npz_12_training/agora-bfh.npz") as z:
        assert "trans_cam" not in z.files and "gender" not in z.files
        uvw = AGORA(root, body_model=smplx_body, parts=False)[0].joints3d.numpy() @ z["cam_int"][0].T
        np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], z["gtkps"][0, :24, :2], atol=2e-3)


def test_missing_files(tmp_path, agora_root):
    with pytest.raises(MissingFileError, match=r"AGORA: label file agora-kids\.npz.*agora\.is\.tue\.mpg\.de"):
        AGORA(agora_root, files=("agora-kids",))
    (tmp_path / "training_labels/all_npz_12_training").mkdir(parents=True)
    for f in ("agora-bfh", "agora-body"):
        (tmp_path / f"training_labels/all_npz_12_training/{f}.npz").write_bytes(
            (agora_root / f"training_labels/all_npz_12_training/{f}.npz").read_bytes()
        )
    with pytest.raises(MissingFileError, match="image folder"):
        AGORA(tmp_path)
