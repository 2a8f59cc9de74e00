"""3DPW (von Marcard et al., ECCV 2018): in-the-wild video with SMPL ground truth from IMUs.

:class:`ThreeDPW` reads the raw release: ``<root>/sequenceFiles/<split>/<seq>.pkl`` (Python 2 pickles,
latin1, read by a numpy-only unpickler) and ``<root>/imageFiles/<seq>/image_%05d.jpg``. One sample per
(actor, frame) whose ``campose_valid`` is True. The world-frame SMPL ground truth is moved into the
camera of each frame (``cam_poses``, world → camera):

* global orientation ``R_c·R_root``; body joints unchanged; gendered SMPL betas (10, padded to 11);
* 3D joints ``R_c·X + t_c`` of the file's ``jointPositions`` (24 SMPL joints, rows 0–21 kept);
* translation ``R_c·(J0 + trans) + t_c − J0`` with the rest pelvis ``J0 = jointPositions[0] − trans``,
  so no body model is needed;
* 2D keypoints: those joints projected with ``cam_intrinsics``; the person box: 1.2 × the square around
  the in-image projections (the raw files have no boxes).

:class:`ThreeDPWNpz` reads the parsed evaluation file the D-PoSE authors use (``3dpw_test.npz``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hpskit.core import ConfigError, CorruptFileError

from ..crop import CropConfig
from ._base import FrameData, RealDataset, check_records, pad_betas
from ._files import image_size, missing_file_error, read_rgb, require_dir
from ._pickles import load_data_pickle
from ._smpl_common import (
    MIN_VISIBLE_JOINTS,
    SMPLNpzDataset,
    aa_to_rotmat,
    boxes_from_points,
    check_bodies,
    gender_name,
    smpl_kp24,
    smpl_to_camera,
    transl_to_camera,
)

__all__ = ["ThreeDPW", "ThreeDPWNpz", "PW3D_KEYS"]

PW3D_KEYS = (
    "betas",
    "poses",
    "trans",
    "genders",
    "cam_poses",
    "cam_intrinsics",
    "campose_valid",
    "jointPositions",
)
"""Keys a 3DPW sequence file must hold for :class:`ThreeDPW`."""


class ThreeDPW(RealDataset):
    """3DPW from the raw sequence files, SMPL ground truth in the camera frame.

    Args:
        root: The 3DPW folder (holding ``sequenceFiles/`` and ``imageFiles/``).
        split: ``"test"``, ``"validation"`` or ``"train"``.
        crop: Crop settings.
        focal: ``"gt"``: K from the file; ``"diagonal"``: the authors' test-time f = √(W² + H²) with the
            principal point at the image centre (``kp2d`` stay the file's true projections either way).
        box_rescale: Box side = this × the tight square around the in-image joints.
        smpl_bodies: Optional gendered SMPL bodies (``{"male": SMPLBody(gender="male"), "female": ...}``) to
            add camera-frame GT vertices (6890) to each sample.
        seed: Seed of the crop augmentation.

    Raises:
        MissingFileError: If the root, the split folder, its pickles or a sequence's first image is missing.
        CorruptFileError: If a pickle is unreadable, unsafe, or lacks a key.
    """

    name = "3DPW"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        *,
        crop: CropConfig | None = None,
        focal: str = "gt",
        box_rescale: float = 1.2,
        smpl_bodies: Mapping[str, nn.Module] | None = None,
        seed: int | None = None,
    ):
        super().__init__(crop=crop, seed=seed)
        if focal not in ("gt", "diagonal"):
            raise ConfigError(f"ThreeDPW: `focal` must be 'gt' or 'diagonal'; got {focal!r}.")
        self.root, self.split, self.focal, self.smpl_bodies = Path(root), split, focal, smpl_bodies
        require_dir(self.name, "dataset root", self.root)
        seq_dir = require_dir(
            self.name, f"sequence folder of split {split!r}", self.root / "sequenceFiles" / split
        )
        files = sorted(seq_dir.glob("*.pkl"))
        if not files:
            raise missing_file_error(self.name, f"sequence files (*.pkl) of split {split!r}", seq_dir)
        self.sequences: list[dict] = []
        rec = {k: [] for k in ("seq", "actor", "frame", "center", "scale", "wh")}
        n_total = 0
        for path in files:
            seq = self._read_sequence(path)
            si = len(self.sequences)
            self.sequences.append(seq)
            for a in range(len(seq["poses"])):
                valid = np.asarray(seq["campose_valid"][a]).astype(bool).reshape(-1)
                n = len(valid)
                R, t = seq["cam_poses"][:n, :3, :3], seq["cam_poses"][:n, :3, 3]
                J = np.asarray(seq["jointPositions"][a], np.float32).reshape(n, 24, 3)
                Jc = np.einsum("nij,nkj->nki", R, J) + t[:, None]
                uv = np.einsum("ij,nkj->nki", seq["cam_intrinsics"], Jc)
                with np.errstate(divide="ignore", invalid="ignore"):
                    uv = uv[..., :2] / uv[..., 2:]
                center, scale = boxes_from_points(uv[:, :22], Jc[:, :22, 2] > 0, seq["wh"], box_rescale)
                frames = np.flatnonzero(valid)
                n_total += len(frames)
                rec["seq"].append(np.full(len(frames), si))
                rec["actor"].append(np.full(len(frames), a))
                rec["frame"].append(frames)
                rec["center"].append(center[frames])
                rec["scale"].append(scale[frames])
                rec["wh"].append(np.broadcast_to(np.asarray(seq["wh"], np.float32), (len(frames), 2)))
        self._rec = {k: np.concatenate(v) for k, v in rec.items()}
        check_bodies(smpl_bodies, {g for s in self.sequences for g in s["genders"]}, "ThreeDPW")
        no_box = ~np.isfinite(self._rec["center"]).all(1)
        valid, reasons = check_records(
            self._rec["center"],
            self._rec["scale"],
            self._rec["wh"],
            {},
            {f"< {MIN_VISIBLE_JOINTS} joints in image": no_box},
        )
        self._set_records(n_total, valid, reasons)

    def _read_sequence(self, path: Path) -> dict:
        d = load_data_pickle(path)
        if not isinstance(d, dict):
            raise CorruptFileError(f"3DPW: '{path}' must hold a dict; got {type(d).__name__}.")
        absent = [k for k in PW3D_KEYS if k not in d]
        if absent:
            raise CorruptFileError(f"3DPW: '{path}' lacks key(s) {absent}; it has {sorted(d)}.")
        name = str(d.get("sequence", path.stem))
        first = self.root / "imageFiles" / name / "image_00000.jpg"
        return {
            "name": name,
            "wh": image_size(first, self.name),
            "betas": [np.asarray(b, np.float32).reshape(-1)[:10] for b in d["betas"]],
            "poses": [np.asarray(p, np.float32) for p in d["poses"]],
            "trans": [np.asarray(t, np.float32) for t in d["trans"]],
            "jointPositions": d["jointPositions"],
            "genders": [gender_name(g) for g in d["genders"]],
            "cam_poses": np.asarray(d["cam_poses"], np.float32),
            "cam_intrinsics": np.asarray(d["cam_intrinsics"], np.float32).reshape(3, 3),
            "campose_valid": d["campose_valid"],
        }

    def sequence_name(self, index: int) -> str:
        """The name of the sequence sample ``index`` comes from."""
        return str(self.sequences[int(self._rec["seq"][self.record_index(index)])]["name"])

    def _load_frame(self, r: int) -> FrameData:
        si, a, f = (int(self._rec[k][r]) for k in ("seq", "actor", "frame"))
        seq = self.sequences[si]
        img = read_rgb(self.root / "imageFiles" / seq["name"] / f"image_{f:05d}.jpg", self.name)
        H, W = img.shape[:2]
        R_c, t_c = seq["cam_poses"][f, :3, :3], seq["cam_poses"][f, :3, 3]
        if self.focal == "gt":
            K = seq["cam_intrinsics"]
        else:
            fd = float(np.hypot(W, H))
            K = np.array([[fd, 0, W / 2], [0, fd, H / 2], [0, 0, 1]], np.float32)
        J = np.asarray(seq["jointPositions"][a][f], np.float32).reshape(24, 3)
        Jc = J @ R_c.T + t_c
        uvw = Jc @ seq["cam_intrinsics"].T
        kp = smpl_kp24(uvw[:, :2] / uvw[:, 2:], (Jc[:22, 2] > 0).astype(np.float32))
        trans = seq["trans"][a][f]
        pose = smpl_to_camera(aa_to_rotmat(seq["poses"][a][f][:72]), R_c)
        transl = transl_to_camera(trans, J[0] - trans, R_c, t_c)
        frame = FrameData(
            image=img,
            K=K,
            center=self._rec["center"][r],
            scale=float(self._rec["scale"][r]),
            gender=seq["genders"][a],
            kp2d=kp,
            joints3d=smpl_kp24(Jc),
            smpl_pose=pose,
            betas=pad_betas(seq["betas"][a]),
            transl=transl,
        )
        if self.smpl_bodies is not None:
            body = self.smpl_bodies[frame.gender]
            with torch.no_grad():
                out = body(
                    torch.from_numpy(pose)[None],
                    torch.from_numpy(seq["betas"][a])[None],
                    torch.from_numpy(transl)[None],
                )
            frame.vertices = out.vertices[0].float().numpy()
        return frame


class ThreeDPWNpz(SMPLNpzDataset):
    """3DPW from the authors' parsed evaluation npz (``eval_data_parsed/3dpw_test.npz``, formats.md §6.2).

    Keys read: ``imgname`` (relative to ``image_root``, the 3DPW folder), ``center``, ``scale``,
    ``pose_cam`` (N, 72) SMPL axis-angle with the root in the camera frame, ``shape`` (N, 10), ``gender``.

    Args:
        npz: The npz file.
        image_root: Folder the ``imgname`` entries are relative to.
        crop: Crop settings.
        seed: Seed of the crop augmentation.
    """

    name = "3DPW"
    pose_key = "pose_cam"
    betas_key = "shape"
