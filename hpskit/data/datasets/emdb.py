"""EMDB (Kaufmann et al., ICCV 2023): in-the-wild video with SMPL ground truth from EM sensors.

:class:`EMDB` reads the raw release: ``<root>/P<k>/<seq>/P<k>_<seq>_data.pkl`` and
``<root>/P<k>/<seq>/images/%05d.jpg``. By default only the ``emdb1`` sequences (the official image-based
benchmark) and only frames with ``good_frames_mask`` True are used. Per frame:

* box from ``bboxes['bboxes']`` (xyxy; frames in ``invalid_idxs`` are left out), side × ``box_rescale``;
* intrinsics ``camera['intrinsics']``; world → camera extrinsics ``camera['extrinsics'][f]``;
* SMPL pose ``poses_root`` / ``poses_body`` with the root rotated into the camera, betas (10 → 11), the
  file's gender; 2D keypoints ``kp2d`` (24 projected SMPL joints, rows 0–21 kept);
* with ``smpl_bodies`` (gendered SMPL models) also the camera-frame translation, 3D joints and vertices;
  the files hold no joint positions, so without a body those are absent (flags False).

:class:`EMDBNpz` reads the parsed file the D-PoSE authors evaluate on (``emdb_for_hmr2.npz``).
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
from ._files import missing_file_error, read_rgb, require_dir
from ._pickles import load_data_pickle
from ._smpl_common import (
    SMPLNpzDataset,
    aa_to_rotmat,
    check_bodies,
    gender_name,
    smpl_kp24,
    smpl_to_camera,
    transl_to_camera,
)

__all__ = ["EMDB", "EMDBNpz", "EMDB_KEYS"]

EMDB_KEYS = ("gender", "name", "n_frames", "good_frames_mask", "camera", "smpl", "kp2d", "bboxes")
"""Keys an EMDB ``*_data.pkl`` must hold for :class:`EMDB`."""


class EMDB(RealDataset):
    """EMDB from the raw sequence pickles, SMPL ground truth in the camera frame.

    Args:
        root: The EMDB folder (holding ``P0`` … ``P9``).
        subset: ``"emdb1"`` (default), ``"emdb2"`` or None for every sequence.
        crop: Crop settings.
        focal: ``"gt"`` (the file's intrinsics) or ``"diagonal"`` (f = √(W² + H²), centred principal point).
        box_rescale: Factor on the side of the file's boxes (square side = factor × max(w, h)).
        smpl_bodies: Optional gendered SMPL bodies ``{"male": ..., "female": ..., "neutral": ...}``; with them
            samples carry the camera-frame translation, 3D joints and vertices.
        seed: Seed of the crop augmentation.

    Raises:
        MissingFileError: If the root or every sequence pickle is missing.
        CorruptFileError: If a pickle is unreadable, unsafe or lacks a key.
    """

    name = "EMDB"

    def __init__(
        self,
        root: str | os.PathLike,
        subset: str | None = "emdb1",
        *,
        crop: CropConfig | None = None,
        focal: str = "gt",
        box_rescale: float = 1.2,
        smpl_bodies: Mapping[str, nn.Module] | None = None,
        seed: int | None = None,
    ):
        super().__init__(crop=crop, seed=seed)
        if focal not in ("gt", "diagonal"):
            raise ConfigError(f"EMDB: `focal` must be 'gt' or 'diagonal'; got {focal!r}.")
        if subset not in ("emdb1", "emdb2", None):
            raise ConfigError(f"EMDB: `subset` must be 'emdb1', 'emdb2' or None; got {subset!r}.")
        self.root, self.focal, self.smpl_bodies = Path(root), focal, smpl_bodies
        require_dir(self.name, "dataset root", self.root)
        files = sorted(self.root.glob("P*/*/P*_data.pkl"))
        if not files:
            raise missing_file_error(self.name, "sequence files P<k>/<seq>/P<k>_<seq>_data.pkl", self.root)
        self.sequences: list[dict] = []
        rec = {k: [] for k in ("seq", "frame", "center", "scale", "wh", "bad_box")}
        self.excluded = 0
        for path in files:
            d = load_data_pickle(path)
            if not isinstance(d, dict) or any(k not in d for k in EMDB_KEYS):
                have = sorted(d) if isinstance(d, dict) else type(d).__name__
                raise CorruptFileError(
                    f"EMDB: '{path}' must be a dict with keys {list(EMDB_KEYS)}; it has {have}."
                )
            if subset is not None and not bool(d.get(subset, False)):
                continue
            seq = self._parse(path, d)
            si = len(self.sequences)
            self.sequences.append(seq)
            good = np.flatnonzero(seq["good"])
            self.excluded += len(seq["good"]) - len(good)
            boxes = seq["bboxes"][good]
            wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0)
            bad_box = np.isin(good, seq["invalid"])
            rec["seq"].append(np.full(len(good), si))
            rec["frame"].append(good)
            rec["center"].append((boxes[:, :2] + boxes[:, 2:]) / 2)
            rec["scale"].append(box_rescale * wh.max(axis=1) / 200.0)
            rec["wh"].append(np.broadcast_to(seq["wh"], (len(good), 2)))
            rec["bad_box"].append(bad_box)
        if not self.sequences:
            raise missing_file_error(self.name, f"sequences of subset {subset!r}", self.root)
        self._rec = {k: np.concatenate(v) for k, v in rec.items()}
        check_bodies(smpl_bodies, {s["gender"] for s in self.sequences}, "EMDB")
        rec = self._rec
        valid, reasons = check_records(
            rec["center"].astype(np.float32),
            rec["scale"].astype(np.float32),
            rec["wh"],
            {},
            {"invalid bbox": rec["bad_box"]},
        )
        self._set_records(len(valid), valid, reasons)

    def _parse(self, path: Path, d: dict) -> dict:
        cam, smpl = d["camera"], d["smpl"]
        n = int(d["n_frames"])
        inv = d["bboxes"].get("invalid_idxs", [])
        return {
            "dir": path.parent,
            "gender": gender_name(d["gender"]),
            "name": str(d["name"]),
            "good": np.asarray(d["good_frames_mask"]).astype(bool).reshape(n),
            "K": np.asarray(cam["intrinsics"], np.float32).reshape(3, 3),
            "ext": np.asarray(cam["extrinsics"], np.float32).reshape(n, 4, 4),
            "wh": np.array([cam["width"], cam["height"]], np.float32),
            "root": np.asarray(smpl["poses_root"], np.float32).reshape(n, 3),
            "body": np.asarray(smpl["poses_body"], np.float32).reshape(n, 69),
            "trans": np.asarray(smpl["trans"], np.float32).reshape(n, 3),
            "betas": np.asarray(smpl["betas"], np.float32).reshape(-1)[:10],
            "kp2d": np.asarray(d["kp2d"], np.float32).reshape(n, 24, 2),
            "bboxes": np.asarray(d["bboxes"]["bboxes"], np.float64).reshape(n, 4),
            "invalid": np.asarray(inv if inv is not None else [], np.int64).reshape(-1),
        }

    def sequence_name(self, index: int) -> str:
        """The name of the sequence sample ``index`` comes from."""
        return str(self.sequences[int(self._rec["seq"][self.record_index(index)])]["name"])

    def _load_frame(self, r: int) -> FrameData:
        si, f = int(self._rec["seq"][r]), int(self._rec["frame"][r])
        seq = self.sequences[si]
        img = read_rgb(seq["dir"] / "images" / f"{f:05d}.jpg", self.name)
        H, W = img.shape[:2]
        R_c, t_c = seq["ext"][f, :3, :3], seq["ext"][f, :3, 3]
        if self.focal == "gt":
            K = seq["K"]
        else:
            fd = float(np.hypot(W, H))
            K = np.array([[fd, 0, W / 2], [0, fd, H / 2], [0, 0, 1]], np.float32)
        pose_world = aa_to_rotmat(np.concatenate([seq["root"][f], seq["body"][f]]))
        frame = FrameData(
            image=img,
            K=K,
            center=self._rec["center"][r].astype(np.float32),
            scale=float(self._rec["scale"][r]),
            gender=seq["gender"],
            kp2d=smpl_kp24(seq["kp2d"][f]),
            smpl_pose=smpl_to_camera(pose_world, R_c),
            betas=pad_betas(seq["betas"]),
        )
        if self.smpl_bodies is not None:
            body = self.smpl_bodies[seq["gender"]]
            trans = seq["trans"][f]
            with torch.no_grad():
                out = body(
                    torch.from_numpy(pose_world)[None],
                    torch.from_numpy(seq["betas"])[None],
                    torch.from_numpy(trans)[None],
                )
            joints = out.joints[0].float().numpy()
            frame.transl = transl_to_camera(trans, joints[0] - trans, R_c, t_c)
            frame.joints3d = smpl_kp24(joints @ R_c.T + t_c)
            frame.vertices = (out.vertices[0].float().numpy() @ R_c.T + t_c).astype(np.float32)
        return frame


class EMDBNpz(SMPLNpzDataset):
    """EMDB from the parsed evaluation npz the D-PoSE authors read (``emdb/emdb_for_hmr2.npz``).

    Keys read: ``imgname`` (relative to ``image_root``), ``center``, ``scale`` (one number per row),
    ``body_pose`` (N, 72) SMPL axis-angle (root in the camera frame), ``betas`` (N, 10) and ``gender``
    (``'male'``/``'m'`` → male, anything else → female, as the authors read it). Which EMDB subset and
    frames the file holds is up to the file.

    Args:
        npz: The npz file.
        image_root: Folder the ``imgname`` entries are relative to.
        crop: Crop settings.
        seed: Seed of the crop augmentation.
    """

    name = "EMDB"
    pose_key = "body_pose"
    betas_key = "betas"
