"""Start parameters of the D-PoSE regressor: a documented default or SPIN's ``smpl_mean_params.npz``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hpskit.core import CorruptFileError, MissingFileError

__all__ = ["default_mean_params", "load_mean_params"]

_SPIN_WHERE = (
    "It is part of SPIN's data archive (github.com/nkolot/SPIN, `fetch_data.sh` → "
    "data/smpl_mean_params.npz); or use hpskit.heads.default_mean_params()."
)


def default_mean_params(num_joints: int = 22, num_betas: int = 11) -> tuple[Tensor, Tensor, Tensor]:
    """hpskit's licence-free default start point: a neutral body facing the camera.

    Global orientation = 180° about x (6D ``(1, 0, 0, -1, 0, 0)``: the SMPL-X body's y-up turned into the
    camera's y-down, the body facing the camera), every body joint the identity (6D ``(1, 0, 0, 1, 0, 0)``),
    zero betas, crop camera ``(s, tx, ty) = (0.9, 0, 0)`` (SPIN's mean camera).

    Args:
        num_joints: Joints J (22: root + 21 body joints).
        num_betas: Shape coefficients.

    Returns:
        ``(pose_6d (J*6,), betas (num_betas,), cam (3,))``, float32, in hpskit's 6D layout.

    Examples:
        >>> pose, betas, cam = default_mean_params()
        >>> pose[:12].tolist(), betas.shape, [round(v, 3) for v in cam.tolist()]
        ([1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0], torch.Size([11]), [0.9, 0.0, 0.0])
    """
    pose = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(num_joints, 1)
    pose[0] = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    return pose.reshape(-1), torch.zeros(num_betas), torch.tensor([0.9, 0.0, 0.0])


def load_mean_params(
    path: str | os.PathLike, num_joints: int = 22, num_betas: int = 11
) -> tuple[Tensor, Tensor, Tensor]:
    """Read SPIN's ``smpl_mean_params.npz`` (formats.md §2.2) the way the authors do.

    The file holds ``pose`` (144,) = 24 SMPL joints in the same row-major 6D layout, ``shape`` (10,) and
    ``cam`` (3,). The authors keep the first 22 joints (132 values) and append a zero as the 11th beta.

    Args:
        path: The ``.npz`` file (read without pickle).
        num_joints: Joints to keep (≤ 24).
        num_betas: Betas to return; the file's 10 are zero-padded (or truncated) to this length.

    Returns:
        ``(pose_6d (num_joints*6,), betas (num_betas,), cam (3,))``, float32.

    Raises:
        MissingFileError: If ``path`` does not exist.
        CorruptFileError: If a key is missing or has the wrong size.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"Mean-parameter file '{path}' not found. {_SPIN_WHERE}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (ValueError, OSError) as err:
        raise CorruptFileError(f"load_mean_params: cannot read '{path}' as an .npz file ({err}).") from err
    expected = {"pose": 144, "shape": 10, "cam": 3}
    for key, size in expected.items():
        if key not in arrays:
            raise CorruptFileError(
                f"load_mean_params: '{path}' lacks key '{key}' (expected shape ({size},)); "
                f"has {sorted(arrays)}."
            )
        if arrays[key].size != size:
            raise CorruptFileError(
                f"load_mean_params: '{path}' key '{key}' must have shape ({size},); got {arrays[key].shape}."
            )
    if not 0 < num_joints <= 24:
        raise ValueError(f"load_mean_params: `num_joints` must be in 1..24; got {num_joints}.")
    pose = torch.from_numpy(arrays["pose"].reshape(-1)[: num_joints * 6].astype(np.float32))
    shape = torch.zeros(num_betas)
    n = min(num_betas, 10)
    shape[:n] = torch.from_numpy(arrays["shape"].reshape(-1)[:n].astype(np.float32))
    cam = torch.from_numpy(arrays["cam"].reshape(-1).astype(np.float32))
    return pose, shape, cam
