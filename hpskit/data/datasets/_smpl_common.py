"""What the SMPL evaluation sets (3DPW, EMDB) share: world → camera conversion of SMPL parameters, boxes
from projected joints, gender names, optional gendered SMPL bodies, and the reader of the parsed npz
files the D-PoSE authors evaluate on (formats.md §6.2, §6.4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hpskit.core import ConfigError
from hpskit.geometry import axis_angle_to_rotmat

from ..crop import CropConfig
from ._base import FrameData, RealDataset, check_records, pad_betas
from ._files import image_size, load_npz, read_rgb, require_dir

__all__ = [
    "gender_name",
    "smpl_to_camera",
    "transl_to_camera",
    "smpl_kp24",
    "boxes_from_points",
    "aa_to_rotmat",
    "check_bodies",
    "SMPLNpzDataset",
    "MIN_VISIBLE_JOINTS",
]

MIN_VISIBLE_JOINTS = 6
"""A frame without a file box needs this many of its 24 projected joints inside the image."""


def gender_name(g) -> str:
    """``'m'``/``'male'`` → ``'male'``, ``'f'``/``'female'`` → ``'female'``, ``'neutral'`` stays; anything
    else → ``'female'`` (the D-PoSE authors' rule: only ``'male'`` selects the male model)."""
    g = (g.decode() if isinstance(g, bytes) else str(g)).strip().lower()
    return {"m": "male", "male": "male", "neutral": "neutral", "n": "neutral"}.get(g, "female")


def aa_to_rotmat(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3k) → rotation matrices (..., k, 3, 3), float32 numpy."""
    a = torch.from_numpy(np.asarray(aa, np.float32))
    return axis_angle_to_rotmat(a.reshape(*a.shape[:-1], -1, 3)).numpy()


def smpl_to_camera(pose_rotmat: np.ndarray, R_c: np.ndarray) -> np.ndarray:
    """Rotate the root of an SMPL pose (24, 3, 3) from the world into the camera: R_root,cam = R_c·R_root."""
    out = np.array(pose_rotmat, np.float32, copy=True)
    out[0] = R_c @ out[0]
    return out


def transl_to_camera(
    trans: np.ndarray, pelvis_rest: np.ndarray, R_c: np.ndarray, t_c: np.ndarray
) -> np.ndarray:
    """The body-model translation that puts the posed body in the camera frame.

    A body posed with ``trans`` has its pelvis at ``J0 + trans`` (J0 = rest-pose pelvis, which depends on
    the betas) and rotates about it. Rotating the root by R_c and translating by ``t'`` gives
    ``R_c·X + t_c`` for every point X iff ``t' = R_c·(J0 + trans) + t_c − J0``.

    Args:
        trans: World translation, shape (3,).
        pelvis_rest: Rest-pose pelvis J0, shape (3,).
        R_c: World → camera rotation, shape (3, 3).
        t_c: World → camera translation, shape (3,).

    Returns:
        Camera-frame translation, shape (3,).
    """
    return (R_c @ (pelvis_rest + trans) + t_c - pelvis_rest).astype(np.float32)


def smpl_kp24(points: np.ndarray, conf: np.ndarray | float = 1.0) -> np.ndarray:
    """SMPL joints (≥ 22, D) → the schema's 24 rows: 0–21 copied, 22–23 (jaw, eye in SMPL-X) zero.

    With D = 2 a confidence column is appended (``conf`` for rows 0–21, 0 for 22–23).
    """
    pts = np.asarray(points, np.float32)
    out = np.zeros((24, 3), np.float32)
    if pts.shape[1] == 2:
        out[:22, :2] = pts[:22]
        out[:22, 2] = conf
    else:
        out[:22] = pts[:22, :3]
    return out


def boxes_from_points(uv: np.ndarray, visible: np.ndarray, img_wh: np.ndarray, rescale: float = 1.2):
    """Square boxes around the in-image points of N frames (BEDLAM's rule: 1.2·max(w, h) / 200).

    Args:
        uv: Points, shape (N, J, 2).
        visible: Points that may count (e.g. in front of the camera), shape (N, J) bool.
        img_wh: Image size (W, H), shape (2,).
        rescale: Side factor around the tight box.

    Returns:
        ``(center (N, 2), scale (N,))``; NaN where fewer than :data:`MIN_VISIBLE_JOINTS` points are inside.
    """
    W, H = img_wh
    inside = visible & (uv[..., 0] >= 0) & (uv[..., 0] <= W - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= H - 1)
    lo = np.where(inside[..., None], uv, np.inf).min(axis=1)
    hi = np.where(inside[..., None], uv, -np.inf).max(axis=1)
    ok = inside.sum(axis=1) >= MIN_VISIBLE_JOINTS
    with np.errstate(invalid="ignore"):
        center = np.where(ok[:, None], (lo + hi) / 2, np.nan).astype(np.float32)
        scale = np.where(ok, rescale * (hi - lo).max(axis=1) / 200.0, np.nan).astype(np.float32)
    return center, scale


def check_bodies(bodies: Mapping[str, nn.Module] | None, genders, where: str) -> None:
    """Raise :class:`ConfigError` unless ``bodies`` has a model for every gender that occurs."""
    if bodies is None:
        return
    missing = sorted(set(genders) - set(bodies))
    if missing:
        raise ConfigError(
            f"{where}: `smpl_bodies` has no model for gender(s) {missing}; pass a mapping with keys "
            f"{sorted(set(genders))} (e.g. {{'male': SMPLBody(gender='male'), ...}})."
        )


class SMPLNpzDataset(RealDataset):
    """A parsed evaluation npz with SMPL parameters and boxes (3DPW ``3dpw_test.npz``, EMDB
    ``emdb_for_hmr2.npz``): image, box, camera-frame SMPL pose, betas and gender.

    These files hold no intrinsics, so K uses the authors' test-time focal √(W² + H²) with the principal
    point at the image centre. They hold no translation or 3D joints either (``has_transl`` and
    ``has_joints3d`` are False); the evaluation builds the GT mesh from ``smpl_pose_rotmat``, ``betas`` and
    ``gender`` and root-aligns it.
    """

    pose_key = "pose_cam"
    betas_key = "shape"

    def __init__(
        self,
        npz: str | os.PathLike,
        image_root: str | os.PathLike,
        *,
        crop: CropConfig | None = None,
        seed: int | None = None,
    ):
        super().__init__(crop=crop, seed=seed)
        self.npz = Path(npz)
        self.image_root = require_dir(self.name, "image root", Path(image_root))
        data = load_npz(
            self.npz,
            self.name,
            ("imgname", "center", "scale", self.pose_key, self.betas_key, "gender"),
            "evaluation npz",
        )
        n = len(data["imgname"])
        self._imgname = [x.decode() if isinstance(x, bytes) else str(x) for x in data["imgname"].tolist()]
        self._center = data["center"].astype(np.float32).reshape(n, 2)
        self._scale = data["scale"].astype(np.float32).reshape(n, -1)[:, 0]
        self._pose = data[self.pose_key].astype(np.float32).reshape(n, -1)
        if self._pose.shape[1] < 72:
            raise ConfigError(
                f"{self.name}: `{self.pose_key}` needs 72 values per row; got {self._pose.shape[1]}."
            )
        self._betas = pad_betas(data[self.betas_key].reshape(n, -1))
        self._gender = [gender_name(g) for g in data["gender"].tolist()]
        sizes: dict[Path, tuple[int, int]] = {}
        wh = np.zeros((n, 2), np.float32)
        for i, name in enumerate(self._imgname):
            folder = (self.image_root / name).parent
            if folder not in sizes:
                sizes[folder] = image_size(self.image_root / name, self.name)
            wh[i] = sizes[folder]
        self._wh = wh
        valid, reasons = check_records(
            self._center, self._scale, wh, {"pose": self._pose, "betas": self._betas}
        )
        self._set_records(n, valid, reasons)

    def sequence_name(self, index: int) -> str:
        """The sequence of sample ``index``, read from its image path: ``imageFiles/<seq>/...`` (3DPW) gives
        ``<seq>``; ``P<k>/<seq>/...`` (EMDB) gives EMDB's own name ``P<k>_<seq>`` (e.g.
        ``P0_09_outdoor_walk``); a path of fewer than three parts gives its first part."""
        parts = Path(self._imgname[self.record_index(index)]).parts
        if len(parts) < 3:
            return parts[0]
        if parts[0].startswith("P") and parts[0][1:].isdigit():
            return f"{parts[0]}_{parts[1]}"
        return parts[1]

    def _load_frame(self, r: int) -> FrameData:
        img = read_rgb(self.image_root / self._imgname[r], self.name)
        H, W = img.shape[:2]
        f = float(np.hypot(W, H))
        K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], np.float32)
        return FrameData(
            image=img,
            K=K,
            center=self._center[r],
            scale=float(self._scale[r]),
            gender=self._gender[r],
            smpl_pose=aa_to_rotmat(self._pose[r, :72]),
            betas=self._betas[r],
        )
