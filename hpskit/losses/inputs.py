"""Typed containers of what :class:`~hpskit.losses.DPoSELoss` compares: predictions and targets.

Units: metres for 3D quantities (body frame = SMPL-X output without camera translation), pixels for
full-image keypoints, boxes and intrinsics, radians for axis-angle. Depth maps are in the ground truth's
normalised units (BEDLAM: person depth scaled to [0.1, 1], 0 on the background; D-PoSE §3.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from hpskit.core import ConfigError

__all__ = ["LossInputs", "LossTargets", "SUPERVISION_FLAGS"]

#: Presence flag of each group of targets → the target fields it governs.
SUPERVISION_FLAGS: dict[str, tuple[str, ...]] = {
    "has_smplx": ("pose", "betas"),
    "has_joints3d": ("joints3d",),
    "has_vertices": ("vertices",),
    "has_kp2d": ("kp2d",),
    "has_depth": ("depth",),
    "has_parts": ("parts",),
}


def _from_any(cls, obj: Any, where: str):
    """Build ``cls`` from an instance, a mapping or an object with matching attributes (extras ignored)."""
    if isinstance(obj, cls):
        return obj
    names = [f.name for f in dataclasses.fields(cls)]
    if isinstance(obj, Mapping):
        values = {k: obj[k] for k in names if k in obj}
    else:
        values = {k: getattr(obj, k) for k in names if hasattr(obj, k)}
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [k for k in required if k not in values]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {missing}; {cls.__name__} needs {required} and accepts "
                          f"{[n for n in names if n not in required]}.")
    return cls(**values)


@dataclass(kw_only=True)
class LossInputs:
    """Network predictions compared by :class:`~hpskit.losses.DPoSELoss`.

    Attributes:
        pose_rotmat: Joint rotations, shape (B, 22, 3, 3); joint 0 = global orientation (camera frame),
            1..21 = body joints.
        betas: SMPL-X shape coefficients, shape (B, 11).
        cam: Crop weak-perspective camera (s, tx, ty), shape (B, 3).
        joints3d: SMPL-X joints (metres, body frame, no translation), shape (B, J, 3) (J = 127 from the layer;
            the losses use the first ``LossOptions.num_joints``).
        vertices: SMPL-X vertices (metres, body frame), shape (B, V, 3) (V = 10475).
        depth: Predicted depth map in (0, 1), shape (B, 1, H, W).
        part_logits: Part-segmentation logits, shape (B, 23, H, W) (channel 0 = background).
    """

    pose_rotmat: Tensor
    betas: Tensor
    cam: Tensor
    joints3d: Tensor | None = None
    vertices: Tensor | None = None
    depth: Tensor | None = None
    part_logits: Tensor | None = None

    @classmethod
    def from_any(cls, obj: Any) -> LossInputs:
        """Build from a ``LossInputs``, a dict or an object with these attribute names (extras ignored).

        Raises:
            ConfigError: If a required field (``pose_rotmat``, ``betas``, ``cam``) is missing.
        """
        return _from_any(cls, obj, "LossInputs.from_any")

    @classmethod
    def from_output(cls, out: Any, joints3d: Tensor, vertices: Tensor) -> LossInputs:
        """The predictions of a network output (``pose_rotmat``, ``betas``, ``cam``, ``depth``,
        ``part_logits``, e.g. :class:`hpskit.models.DPoSEOutput`), all as float32, with the joints and
        vertices of the body the caller posed with them.

        Args:
            out: The network output; ``depth`` and ``part_logits`` may be None.
            joints3d: Predicted body joints (metres, body frame), (B, J, 3).
            vertices: Predicted body vertices (metres, body frame), (B, V, 3).
        """
        def f32(x):
            return None if x is None else x.float()

        return cls(pose_rotmat=out.pose_rotmat.float(), betas=out.betas.float(), cam=out.cam.float(),
                   joints3d=joints3d, vertices=vertices, depth=f32(out.depth),
                   part_logits=f32(out.part_logits))


@dataclass(kw_only=True)
class LossTargets:
    """Ground truth for :class:`~hpskit.losses.DPoSELoss`, with one presence flag per sample and group.

    A flag ``has_x`` (shape (B,), bool) marks the samples that carry that supervision; the others are
    skipped for the terms it governs (see :data:`SUPERVISION_FLAGS`). A flag left as None means "every
    sample", if the field is given, and "no sample" if the field is None. Values of unflagged samples are
    never read (they may hold zeros or NaN).

    Attributes:
        pose: SMPL-X pose as rotation matrices (B, 22, 3, 3) or axis-angle (B, 22, 3) / (B, 66), radians;
            joint 0 = global orientation in the camera frame.
        betas: Shape coefficients, shape (B, 10) or (B, 11) (10 are zero-padded to 11).
        joints3d: Joints (metres, body frame, no translation), shape (B, J', 3), J' >= num_joints, in the
            SMPL-X joint order.
        vertices: Vertices (metres, body frame), shape (B, V, 3).
        kp2d: Full-image 2D keypoints (x, y, confidence) in pixels, shape (B, J', 3); confidence −2 (or any
            negative) = unusable.
        center: Box centres (cx, cy) in full-image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        K: Full-image intrinsics, shape (B, 3, 3).
        image_size: Full-image sizes (W, H) in pixels, shape (B, 2).
        depth: Ground-truth depth map, shape (B, 1, H, W), normalised, 0 on the background.
        depth_mask: Optional foreground mask for the paper's depth loss, shape (B, 1, H, W), bool
            (default: ``depth > 0``).
        parts: Part labels, shape (B, H, W) long in [0, 23), or one-hot/soft maps (B, 23, H, W) float.
        has_smplx: Samples with pose and betas, shape (B,), bool.
        has_joints3d: Samples with 3D joints, shape (B,), bool.
        has_vertices: Samples with vertices, shape (B,), bool.
        has_kp2d: Samples with 2D keypoints (and box/camera), shape (B,), bool.
        has_depth: Samples with a depth map (AGORA, 3DPW: False), shape (B,), bool.
        has_parts: Samples with a part map, shape (B,), bool.
    """

    pose: Tensor | None = None
    betas: Tensor | None = None
    joints3d: Tensor | None = None
    vertices: Tensor | None = None
    kp2d: Tensor | None = None
    center: Tensor | None = None
    scale: Tensor | None = None
    K: Tensor | None = None
    image_size: Tensor | None = None
    depth: Tensor | None = None
    depth_mask: Tensor | None = None
    parts: Tensor | None = None
    has_smplx: Tensor | None = None
    has_joints3d: Tensor | None = None
    has_vertices: Tensor | None = None
    has_kp2d: Tensor | None = None
    has_depth: Tensor | None = None
    has_parts: Tensor | None = None

    @classmethod
    def from_any(cls, obj: Any) -> LossTargets:
        """Build from a ``LossTargets``, a dict (e.g. a data batch) or an object with these attributes."""
        return _from_any(cls, obj, "LossTargets.from_any")

    @classmethod
    def from_batch(cls, batch: Any, joints3d: Tensor, vertices: Tensor) -> LossTargets:
        """The targets of a :class:`hpskit.data.Batch` (any object with its attribute names), with the 3D
        joints and vertices of the ground-truth body posed by the caller.

        The batch's SMPL-X flag ``has_smplx`` also governs the joints and vertices (they come from its pose
        and betas); 2D keypoints are full-image pixels; depth and part maps come with the batch.

        Args:
            batch: The batch: ``pose_rotmat`` (B, 22, 3, 3), ``betas``, ``kp2d``, ``center``, ``scale``,
                ``K``, ``img_size``, ``depth``, ``parts`` and the flags ``has_smplx``, ``has_kp2d``,
                ``has_depth``, ``has_parts``.
            joints3d: Ground-truth body joints (metres, body frame), (B, J, 3).
            vertices: Ground-truth body vertices (metres, body frame), (B, V, 3).
        """
        b = batch
        return cls(pose=b.pose_rotmat, betas=b.betas, joints3d=joints3d, vertices=vertices, kp2d=b.kp2d,
                   center=b.center, scale=b.scale, K=b.K, image_size=b.img_size, depth=b.depth, parts=b.parts,
                   has_smplx=b.has_smplx, has_joints3d=b.has_smplx, has_vertices=b.has_smplx,
                   has_kp2d=b.has_kp2d, has_depth=b.has_depth, has_parts=b.has_parts)
