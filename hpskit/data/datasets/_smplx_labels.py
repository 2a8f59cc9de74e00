"""What BEDLAM and AGORA share: SMPL-X label npz files (formats.md §4.2, §5) and the targets built from
the ground-truth SMPL-X body (camera-frame vertices, joints and the rendered part-label map).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from hpskit.body import SMPLXBody, load_part_segm_json, vertex_parts_from_weights
from hpskit.core import ConfigError, CorruptFileError
from hpskit.geometry import axis_angle_to_rotmat
from hpskit.render import render_part_labels

from ..sample import NUM_KEYPOINTS, Sample
from ._base import FrameData, RealDataset, check_records, pad_betas
from ._files import load_npz

__all__ = ["SMPLXTargets", "SMPLXLabelDataset", "LABEL_KEYS"]

logger = logging.getLogger(__name__)

LABEL_KEYS = ("imgname", "center", "scale", "pose_cam", "shape", "gtkps", "cam_int", "cam_ext")
"""Keys every SMPL-X label npz must hold (``trans_cam`` and ``gender`` are optional for AGORA)."""


class SMPLXTargets:
    """Ground-truth targets from the SMPL-X parameters of a frame: vertices, 24 joints, part labels.

    The body is posed with the full 55-joint pose (hands relative to a flat hand, as BEDLAM's
    ``flat_hand_mean=True`` fits), the 11 betas and the camera-frame translation, so its vertices are in
    the camera frame. Part labels are rendered straight into the crop with ``K_crop = A·K`` (A = the
    image → crop affine), i.e. the mesh as it appears in the crop pixels, with hpskit's intended labels
    (``part-segm.json`` key k → k + 1, no rightHand collapse; formats.md §10). The authors instead fit
    a translation to the 2D keypoints with f = 5000; rendering with the true camera needs no fit.

    Args:
        body_model: An SMPL-X body (:class:`hpskit.body.SMPLXBody` or one with its ``forward``, ``faces``
            and ``num_betas``), or a path / ``"standin"`` passed to ``SMPLXBody``.
        vertex_parts: Per-vertex labels (V,) long, or a path to ``part-segm.json``; None derives them from
            the body's skinning weights (:func:`hpskit.body.vertex_parts_from_weights`).
        render_parts: Whether to render part labels at all.
    """

    def __init__(
        self,
        body_model: nn.Module | str | os.PathLike,
        vertex_parts: Tensor | str | os.PathLike | None = None,
        render_parts: bool = True,
    ):
        if isinstance(body_model, (str, os.PathLike)):
            body_model = SMPLXBody(body_model)
        self.body = body_model
        self.render_parts = render_parts
        nv = int(getattr(body_model, "num_vertices", body_model.faces.max() + 1))
        if vertex_parts is None:
            vertex_parts = vertex_parts_from_weights(body_model.lbs_weights)
        elif isinstance(vertex_parts, (str, os.PathLike)):
            vertex_parts = load_part_segm_json(vertex_parts, num_vertices=nv)
        vertex_parts = torch.as_tensor(vertex_parts, dtype=torch.long)
        if vertex_parts.shape != (nv,):
            raise ConfigError(
                f"SMPLXTargets: `vertex_parts` must have shape ({nv},) for this body; got "
                f"{tuple(vertex_parts.shape)}."
            )
        self.vertex_parts = vertex_parts

    @torch.no_grad()
    def __call__(self, frame: FrameData, s: Sample, K_crop: Tensor) -> None:
        """Fill ``s.vertices``, ``s.joints3d`` and ``s.parts`` (and their flags) from ``frame``'s SMPL-X.

        Runs on the body's device (faces buffer); results come back to the CPU.
        """
        dev = self.body.faces.device
        pose = torch.as_tensor(frame.smplx_pose, dtype=torch.float32, device=dev)[None]
        nb = int(getattr(self.body, "num_betas", 11))
        out = self.body(
            global_orient=pose[:, 0:1],
            body_pose=pose[:, 1:22],
            betas=s.betas[None, :nb].to(dev),
            jaw_pose=pose[:, 22:23],
            leye_pose=pose[:, 23:24],
            reye_pose=pose[:, 24:25],
            left_hand_pose=pose[:, 25:40],
            right_hand_pose=pose[:, 40:55],
            transl=s.transl[None].to(dev),
        )
        s.vertices = out.vertices[0].float().cpu()
        s.has_vertices = True
        s.joints3d = out.joints[0, :NUM_KEYPOINTS].float().cpu()
        s.has_joints3d = True
        if self.render_parts:
            res = s.parts.shape[-1]
            parts = render_part_labels(
                out.vertices,
                self.body.faces,
                K_crop[None].to(device=dev, dtype=out.vertices.dtype),
                (res, res),
                self.vertex_parts.to(dev),
            )[0]
            s.parts = parts.long().cpu()
            s.has_parts = bool(parts.any())


def _as_str(a: np.ndarray) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a.tolist()], dtype=object)


class SMPLXLabelDataset(RealDataset):
    """Base of BEDLAM and AGORA: rows of SMPL-X label npz files, one person per row.

    Subclasses provide :meth:`_image_path`, optionally :meth:`_extra_frame` (depth) and
    :meth:`_transl` (how the camera-frame translation is assembled).
    """

    def __init__(self, crop=None, seed=None, body_model=None, vertex_parts=None, parts: bool = True):
        targets = SMPLXTargets(body_model, vertex_parts, parts) if body_model is not None else None
        super().__init__(crop=crop, seed=seed, body_targets=targets)

    def _transl(self, data: dict, path: Path) -> np.ndarray:
        """Camera-frame SMPL-X translation: ``trans_cam + cam_ext[:3, 3]`` (formats.md §4.3)."""
        return data["trans_cam"] + data["cam_ext"][:, :3, 3]

    def _read_label_files(
        self, files: Sequence[Path], crop_percent: float, extra_keys: Sequence[str] = ()
    ) -> None:
        """Read and concatenate label files, keep the first ``crop_percent`` of each, validate rows."""
        if not 0 < crop_percent <= 1:
            raise ConfigError(f"{self.name}: `crop_percent` must be in (0, 1]; got {crop_percent!r}.")
        cols: dict[str, list] = {
            k: [] for k in ("imgname", "center", "scale", "pose", "betas", "kp2d", "K", "transl", "file")
        }
        for fi, path in enumerate(files):
            data = load_npz(path, self.name, LABEL_KEYS + tuple(extra_keys))
            n = len(data["imgname"])
            short = {k: len(data[k]) if getattr(data[k], "ndim", 0) >= 1 else "a scalar"
                     for k in LABEL_KEYS + tuple(extra_keys) if getattr(data[k], "ndim", 0) < 1
                     or len(data[k]) != n}
            if short:
                raise CorruptFileError(
                    f"{self.name}: label file '{path}' has {n} rows in 'imgname' but "
                    + ", ".join(f"'{k}' has {v}" for k, v in short.items())
                    + "; every label array holds one row per person. The file is damaged or was written "
                    "by another tool: download it again.")
            keep = int(n * crop_percent)
            d = {k: v[:keep] for k, v in data.items() if getattr(v, "ndim", 0) >= 1 and len(v) == n}
            cols["imgname"].append(_as_str(d["imgname"]))
            cols["center"].append(d["center"].astype(np.float32).reshape(keep, 2))
            cols["scale"].append(d["scale"].astype(np.float32).reshape(keep))
            cols["pose"].append(d["pose_cam"].astype(np.float32).reshape(keep, -1)[:, :165])
            cols["betas"].append(pad_betas(d["shape"].reshape(keep, -1)))
            cols["kp2d"].append(d["gtkps"].astype(np.float32)[:, :NUM_KEYPOINTS, :3])
            cols["K"].append(d["cam_int"].astype(np.float32).reshape(keep, 3, 3))
            cols["transl"].append(self._transl(d, path).astype(np.float32).reshape(keep, 3))
            cols["file"].append(np.full(keep, fi, np.int64))
        self._cols = {k: (np.concatenate(v) if v else np.zeros((0,))) for k, v in cols.items()}
        c = self._cols
        n = len(c["file"])
        if n and c["pose"].shape[1] < 66:
            raise ConfigError(f"{self.name}: `pose_cam` needs ≥ 66 values per row; got {c['pose'].shape[1]}.")
        img_wh = 2.0 * c["K"][:, :2, 2] if n else np.zeros((0, 2))  # principal point = image centre (§4.3)
        valid, reasons = check_records(
            c["center"],
            c["scale"],
            img_wh,
            {
                "pose_cam": c["pose"],
                "shape": c["betas"],
                "gtkps": c["kp2d"],
                "cam_int": c["K"],
                "translation": c["transl"],
            },
        )
        self._set_records(n, valid, reasons)

    # ------------------------------------------------------------------ per record
    def _image_path(self, r: int) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_image(self, r: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _extra_frame(self, r: int, frame: FrameData) -> None:
        """Hook for subclasses (BEDLAM adds the depth map)."""

    def _load_frame(self, r: int) -> FrameData:
        c = self._cols
        pose = c["pose"][r]
        pose = np.concatenate([pose, np.zeros(165 - pose.shape[0], np.float32)])
        rot = axis_angle_to_rotmat(torch.from_numpy(pose).view(55, 3)).numpy()
        frame = FrameData(
            image=self._read_image(r),
            K=c["K"][r],
            center=c["center"][r],
            scale=float(c["scale"][r]),
            gender="neutral",
            kp2d=c["kp2d"][r],
            smplx_pose=rot,
            betas=c["betas"][r],
            transl=c["transl"][r],
        )
        self._extra_frame(r, frame)
        return frame
