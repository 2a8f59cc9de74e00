"""Mean parameters: the documented default and SPIN's smpl_mean_params.npz layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpskit.core import CorruptFileError, MissingFileError
from hpskit.heads import DPoSERegressor, default_mean_params, load_mean_params


def _spin_file(path, **override):
    rng = np.random.default_rng(0)
    arrays = {"pose": rng.normal(size=144), "shape": rng.normal(size=10), "cam": np.array([0.9, 0.0, 0.0])}
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


def test_default():
    pose, shape, cam = default_mean_params()
    assert pose.shape == (132,) and shape.shape == (11,) and cam.shape == (3,)
    six = pose.view(22, 6)
    assert six[0].tolist() == [1, 0, 0, -1, 0, 0]
    assert torch.all(six[1:] == torch.tensor([1.0, 0, 0, 1, 0, 0]))
    assert torch.all(shape == 0) and torch.allclose(cam, torch.tensor([0.9, 0.0, 0.0]))


def test_load_spin_layout(tmp_path):
    arrays = _spin_file(tmp_path / "smpl_mean_params.npz")
    pose, shape, cam = load_mean_params(tmp_path / "smpl_mean_params.npz")
    assert pose.dtype == shape.dtype == cam.dtype == torch.float32
    np.testing.assert_allclose(pose.numpy(), arrays["pose"][:132].astype(np.float32))
    np.testing.assert_allclose(shape.numpy(), np.append(arrays["shape"].astype(np.float32), 0.0))
    np.testing.assert_allclose(cam.numpy(), [0.9, 0, 0])
    head = DPoSERegressor(att_channels=4, depth_channels=2, hidden=3)
    head.set_mean_params(pose, shape, cam)
    torch.testing.assert_close(head.init_pose[0], pose)
    torch.testing.assert_close(head.init_shape[0], shape)
    p10, s10, _ = load_mean_params(tmp_path / "smpl_mean_params.npz", num_joints=24, num_betas=10)
    assert p10.shape == (144,) and s10.shape == (10,)


def test_errors(tmp_path):
    with pytest.raises(MissingFileError, match=r"smpl_mean_params\.npz' not found.*SPIN"):
        load_mean_params(tmp_path / "smpl_mean_params.npz")
    np.savez(tmp_path / "a.npz", pose=np.zeros(144), shape=np.zeros(10))
    with pytest.raises(CorruptFileError, match=r"lacks key 'cam' \(expected shape \(3,\)\)"):
        load_mean_params(tmp_path / "a.npz")
    _spin_file(tmp_path / "b.npz", pose=np.zeros(72))
    with pytest.raises(CorruptFileError, match=r"'pose' must have shape \(144,\); got \(72,\)"):
        load_mean_params(tmp_path / "b.npz")
    (tmp_path / "c.npz").write_bytes(b"junk")
    with pytest.raises(CorruptFileError, match="cannot read"):
        load_mean_params(tmp_path / "c.npz")
