"""Shared machinery of the real-format datasets: record validation and skipping, per-item randomness,
and turning one full-image frame into a :class:`~hpskit.data.sample.Sample` (crop, CLIFF box features,
depth crop, body-model targets).

Every dataset parses its files into a :class:`FrameData` (full-image quantities, numpy) and the base class
does the rest the same way for all of them, so the sources cannot drift apart.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hpskit.core import CorruptFileError
from hpskit.geometry import cliff_bbox_info, crop_affine, invert_affine

from ..crop import CropConfig, crop_full_image, sample_crop_box
from ..sample import IMAGENET_MEAN, IMAGENET_STD, NUM_BETAS, NUM_KEYPOINTS, Sample

__all__ = ["FrameData", "SkipRecord", "RealDataset", "check_records", "pad_betas", "DEPTH_MAX_TOL"]

logger = logging.getLogger(__name__)

DEPTH_MAX_TOL = 1e-5
"""``has_depth`` needs the crop's maximum within this of 1.0 (the authors test ``== 1.0``; resampling a
region of exact ones can round to 0.99999994)."""


class SkipRecord(Exception):
    """Raised by a dataset's frame loader for a record found bad at load time (e.g. an empty mask)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class FrameData:
    """One person in one full image, before cropping. Optional fields are None when absent.

    Attributes:
        image: RGB image, shape (H, W, 3), uint8.
        K: Full-image intrinsics, shape (3, 3).
        center: Person box centre (cx, cy), pixels, shape (2,).
        scale: Person box scale (side = 200·scale px).
        gender: Body model of the parameters (``"neutral"``, ``"male"``, ``"female"``).
        kp2d: Keypoints (24, 3), full-image px + confidence.
        joints3d: Camera-frame joints (24, 3), metres.
        smplx_pose: SMPL-X full pose as rotation matrices (55, 3, 3), root in the camera frame.
        smpl_pose: SMPL pose as rotation matrices (24, 3, 3), root in the camera frame.
        betas: Shape coefficients (≤ 11,), padded to 11 by the base class.
        transl: Body-model translation in the camera frame (3,).
        vertices: Camera-frame mesh (V, 3).
        depth: Full-frame normalised depth (H, W) (formats.md §4.7), float32.
    """

    image: np.ndarray
    K: np.ndarray
    center: np.ndarray
    scale: float
    gender: str = "neutral"
    kp2d: np.ndarray | None = None
    joints3d: np.ndarray | None = None
    smplx_pose: np.ndarray | None = None
    smpl_pose: np.ndarray | None = None
    betas: np.ndarray | None = None
    transl: np.ndarray | None = None
    vertices: np.ndarray | None = None
    depth: np.ndarray | None = None


def pad_betas(betas: np.ndarray, n: int = NUM_BETAS) -> np.ndarray:
    """Pad (or cut) the last axis of ``betas`` to ``n`` coefficients with zeros (AGORA adults, SMPL)."""
    betas = np.asarray(betas, dtype=np.float32)
    k = betas.shape[-1]
    if k >= n:
        return betas[..., :n]
    return np.concatenate([betas, np.zeros(betas.shape[:-1] + (n - k,), np.float32)], axis=-1)


def check_records(
    center: np.ndarray,
    scale: np.ndarray,
    img_wh: np.ndarray,
    arrays: dict[str, np.ndarray],
    known_bad: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, Counter]:
    """Vectorised validity test of N records.

    A record is bad if any of its numbers is NaN/inf, its scale is not positive, or its box
    (side 200·scale around ``center``) does not overlap the image or has its centre outside it.

    Args:
        center: Box centres, shape (N, 2).
        scale: Box scales, shape (N,).
        img_wh: Image sizes (W, H), shape (N, 2).
        arrays: Further per-record arrays (first axis N) that must be finite, by name.
        known_bad: Records a dataset already knows to be bad, (N,) bool by reason; counted first.

    Returns:
        ``(valid (N,) bool, reasons Counter)`` where each bad record counts once, under its first reason.
    """
    n = len(scale)
    valid = np.ones(n, bool)
    reasons: Counter = Counter()

    def flag(bad: np.ndarray, reason: str) -> None:
        new = bad & valid
        if new.any():
            reasons[reason] += int(new.sum())
            valid[new] = False

    for reason, bad in (known_bad or {}).items():
        flag(np.asarray(bad, bool), reason)
    for name, arr in {"center": center, "scale": scale, **arrays}.items():
        a = np.asarray(arr)
        if a.dtype.kind == "f":
            flag(~np.isfinite(a.reshape(n, -1)).all(axis=1), f"non-finite {name}")
    with np.errstate(invalid="ignore"):
        flag(~(scale > 0), "non-positive scale")
        half = 100.0 * scale
        W, H = img_wh[:, 0], img_wh[:, 1]
        cx, cy = center[:, 0], center[:, 1]
        outside = (cx < 0) | (cy < 0) | (cx > W - 1) | (cy > H - 1)
        outside |= (cx + half < 0) | (cy + half < 0) | (cx - half > W - 1) | (cy - half > H - 1)
        flag(outside, "box outside image")
    return valid, reasons


class RealDataset(torch.utils.data.Dataset):
    """Base class: a list of valid records, load-time skipping, and the frame → :class:`Sample` step.

    Subclasses set ``name``, call :meth:`_set_records` once their records are parsed, and implement
    :meth:`_load_frame`.

    Attributes:
        skipped: Counter of records left out, by reason (bad values at construction; bad files at load
            time in *this* process; DataLoader workers keep their own counts).
        num_records: Records in the files before any was left out.
        skip_unreadable: When True, a record whose image, depth EXR or mask cannot be read (a
            :class:`~hpskit.core.CorruptFileError` at load time) is skipped and counted under
            ``skipped["unreadable file"]``, with a warning naming the first such file; the next record is
            returned. Off by default: a long training run may turn it on, an evaluation should not (a silently
            smaller benchmark is worse than an error). A missing file is always an error.
    """

    name = "dataset"

    def __init__(
        self, crop: CropConfig | None = None, seed: int | None = None, body_targets: Callable | None = None
    ):
        self.crop = crop if crop is not None else CropConfig()
        self.seed = seed
        self.epoch = 0
        self.body_targets = body_targets
        self.skipped: Counter = Counter()
        self.num_records = 0
        self._rows = np.zeros(0, np.int64)
        self._warned: set[str] = set()
        self.skip_unreadable = False

    # ------------------------------------------------------------------ records
    def _set_records(self, num_records: int, valid: np.ndarray, reasons: Counter) -> None:
        self.num_records = int(num_records)
        self._rows = np.flatnonzero(valid).astype(np.int64)
        self.skipped.update(reasons)
        if reasons:
            logger.warning(
                "%s: left out %d of %d records: %s",
                self.name,
                sum(reasons.values()),
                num_records,
                ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())),
            )

    def summary(self) -> str:
        """One line: records kept and left out, by reason."""
        out = f"{self.name}: {len(self)} samples from {self.num_records} records"
        if self.skipped:
            out += "; left out " + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
        return out

    def __len__(self) -> int:
        return len(self._rows)

    def record_index(self, index: int) -> int:
        """The record (row of the dataset's files) that sample ``index`` reads."""
        return int(self._rows[int(index)])

    def sequence_name(self, index: int) -> str:
        """Name of the sequence sample ``index`` belongs to (per-sequence scores); ``name`` for datasets
        without sequences."""
        return self.name

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (with a fixed ``seed``, each epoch draws new crops)."""
        self.epoch = int(epoch)

    def _generator(self, index: int) -> torch.Generator:
        base = self.seed if self.seed is not None else torch.initial_seed()
        s = (int(base) * 1_000_003 + self.epoch * 7_919 + int(index)) % (2**63 - 1)
        return torch.Generator().manual_seed(s)

    # ------------------------------------------------------------------ loading
    def _load_frame(self, record: int) -> FrameData:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.name}: index {index} out of range for {n} samples.")
        index %= n
        last = None
        for step in range(min(n, 16)):
            j = (index + step) % n
            try:
                frame = self._load_frame(int(self._rows[j]))
                return self._build(frame, j)
            except CorruptFileError as e:
                if not self.skip_unreadable:
                    raise
                last = f"unreadable file ({e})"
                self.skipped["unreadable file"] += 1
                if "unreadable file" not in self._warned:
                    self._warned.add("unreadable file")
                    logger.warning("%s: skipping record %d: %s; using the next one (skip_unreadable=True; "
                                   "see .skipped for counts).", self.name, j, e)
            except SkipRecord as e:
                last = e.reason
                self.skipped[e.reason] += 1
                if e.reason not in self._warned:
                    self._warned.add(e.reason)
                    logger.warning(
                        "%s: skipping record %d (%s); using the next one. See .skipped for counts.",
                        self.name,
                        j,
                        e.reason,
                    )
        raise CorruptFileError(
            f"{self.name}: 16 consecutive records from index {index} are bad (last: {last})."
        )

    # ------------------------------------------------------------------ frame → sample
    def _build(self, f: FrameData, index: int) -> Sample:
        cfg = self.crop
        res = cfg.res
        s = Sample.blank(dataset=self.name, index=index, res=res)
        gen = self._generator(index) if cfg.augments else None
        center, scale = sample_crop_box(
            torch.as_tensor(f.center, dtype=torch.float32),
            torch.as_tensor(f.scale, dtype=torch.float32),
            cfg,
            gen,
        )
        H, W = f.image.shape[:2]
        K = torch.as_tensor(f.K, dtype=torch.float32)
        c1, s1 = center[None], scale.reshape(1)

        img = torch.from_numpy(np.ascontiguousarray(f.image)).permute(2, 0, 1)[None].float() / 255.0
        crop = crop_full_image(img, c1, s1, res, cfg.antialias, crop_mode=cfg.mode)[0]
        mean = crop.new_tensor(IMAGENET_MEAN)[:, None, None]
        std = crop.new_tensor(IMAGENET_STD)[:, None, None]
        s.img = (crop - mean) / std

        A = crop_affine(c1, s1, res)
        s.crop_to_img = invert_affine(A)[0]
        s.K, s.center, s.scale = K, center, scale
        s.img_size = torch.tensor([W, H], dtype=torch.float32)
        s.bbox_info = cliff_bbox_info(c1, s1, K[None])[0]
        s.gender = f.gender

        if f.depth is not None:
            d = torch.from_numpy(np.ascontiguousarray(f.depth, dtype=np.float32))[None, None]
            dc = crop_full_image(d, c1, s1, res, cfg.antialias, crop_mode=cfg.mode)[0]
            dc = torch.nan_to_num(dc, nan=0.0)
            s.depth = dc
            s.has_depth = bool(dc.max() >= 1.0 - DEPTH_MAX_TOL)
        if f.kp2d is not None:
            s.kp2d = torch.as_tensor(f.kp2d, dtype=torch.float32)
            s.has_kp2d = True
        if f.betas is not None:
            s.betas = torch.from_numpy(pad_betas(f.betas))
        if f.smplx_pose is not None:
            s.pose_rotmat = torch.as_tensor(f.smplx_pose[:22], dtype=torch.float32)
            s.has_smplx = True
        if f.smpl_pose is not None:
            s.smpl_pose_rotmat = torch.as_tensor(f.smpl_pose, dtype=torch.float32)
            s.pose_rotmat = s.smpl_pose_rotmat[:22].clone()
            s.has_smpl = True
        if f.transl is not None:
            s.transl = torch.as_tensor(f.transl, dtype=torch.float32).reshape(3)
            s.has_transl = True
        if f.joints3d is not None:
            s.joints3d = torch.as_tensor(f.joints3d, dtype=torch.float32).reshape(NUM_KEYPOINTS, 3)
            s.has_joints3d = True
        if f.vertices is not None:
            s.vertices = torch.as_tensor(f.vertices, dtype=torch.float32)
            s.has_vertices = True
        if self.body_targets is not None and s.has_transl and (s.has_smplx or s.has_smpl):
            K_crop = torch.cat([A[0], A.new_tensor([[0.0, 0.0, 1.0]])]) @ K
            self.body_targets(f, s, K_crop)
        return s
