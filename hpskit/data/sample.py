"""The one sample schema every hpskit dataset yields, and the collate function that batches it.

A :class:`Sample` holds one person crop and every kind of supervision D-PoSE can use. Supervision a
source does not have is **zeros with its flag False**, never made-up values, so a training recipe treats
BEDLAM, AGORA, 3DPW, EMDB and the synthetic engine alike and masks losses with the ``has_*`` flags.

Frames and units follow ``docs/conventions.md``: OpenCV camera frame (x right, y down, z forward),
metres, full-image pixels with pixel centres at integer coordinates, rotation matrices acting on
column vectors.

Joint set of ``kp2d`` / ``joints3d``: the first :data:`NUM_KEYPOINTS` = 24 SMPL-X joints (formats.md
§1.4: 0–21 body, 22 jaw, 23 left eye), the same 24 the authors supervise. SMPL sources (3DPW, EMDB)
fill rows 0–21 from the SMPL joints of the same name and leave rows 22–23 at zero with confidence 0,
because SMPL's joints 22–23 are the hands, not the jaw and eye.

Examples:
    >>> s = Sample.blank(dataset="demo", index=0)
    >>> s.img.shape, s.parts.dtype, s.has_depth
    (torch.Size([3, 224, 224]), torch.int64, False)
    >>> b = collate_samples([s, s])
    >>> b.img.shape, b.has_depth.tolist(), len(b)
    (torch.Size([2, 3, 224, 224]), [False, False], 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from hpskit.body import NUM_SMPLX_BODY_JOINTS
from hpskit.core import IMAGENET_MEAN, IMAGENET_STD, ShapeError, check_shape  # re-exported

__all__ = [
    "NUM_KEYPOINTS",
    "NUM_BETAS",
    "NUM_PART_CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FLAG_NAMES",
    "Sample",
    "Batch",
    "collate_samples",
]

NUM_KEYPOINTS = 24
"""Rows of ``kp2d`` / ``joints3d``: SMPL-X joints 0–23 (formats.md §1.4)."""
NUM_BETAS = 11
"""SMPL-X shape coefficients (the neutral 11-beta model of BEDLAM / D-PoSE)."""
NUM_PART_CLASSES = 23
"""Part-label classes: 0 = background, 1–22 = the ``part-segm.json`` parts in file order."""

FLAG_NAMES = (
    "has_depth",
    "has_parts",
    "has_smplx",
    "has_smpl",
    "has_kp2d",
    "has_joints3d",
    "has_vertices",
    "has_transl",
)
_META = ("dataset", "index", "gender")

#: Shape of every tensor field of a :class:`Sample` ("R" = crop resolution; ``vertices`` is (V, 3) or None):
#: the one table :meth:`Sample.blank` and :meth:`Sample.validate` read.
_SHAPES: dict[str, tuple] = {
    "img": (3, "R", "R"),
    "bbox_info": (3,),
    "K": (3, 3),
    "img_size": (2,),
    "center": (2,),
    "scale": (),
    "crop_to_img": (2, 3),
    "kp2d": (NUM_KEYPOINTS, 3),
    "joints3d": (NUM_KEYPOINTS, 3),
    "pose_rotmat": (NUM_SMPLX_BODY_JOINTS, 3, 3),  # 0 = global orientation (camera frame), 1–21 = body
    "smpl_pose_rotmat": (24, 3, 3),
    "betas": (NUM_BETAS,),
    "transl": (3,),
    "depth": (1, "R", "R"),
    "parts": ("R", "R"),
}


def _shape(name: str, res: int) -> tuple[int, ...]:
    return tuple(res if d == "R" else d for d in _SHAPES[name])


@dataclass
class Sample:
    """One person crop with its supervision (shapes for crop resolution R, 224 by default).

    Attributes:
        img: The crop, RGB, ImageNet-normalised ((x/255 − mean)/std), float32, shape (3, R, R).
            Pixels outside the full image are black before normalisation (zero padding).
        bbox_info: CLIFF box features ``[(cx − K02)/fx, (cy − K12)/fx, 200·s/fx]``, shape (3,).
        K: Full-image intrinsics (pixels), shape (3, 3).
        img_size: Full-image size (W, H) in pixels, float32, shape (2,).
        center: Crop-box centre (cx, cy) in full-image pixels, after any augmentation, shape (2,).
        scale: Crop-box scale s (square side = 200·s pixels), after any augmentation, shape ().
        crop_to_img: Affine map from crop pixels to full-image pixels, shape (2, 3)
            (``[u, v] = A[:, :2] @ [u', v'] + A[:, 2]``).
        kp2d: 2D keypoints in **full-image** pixels with confidence in the last column, shape (24, 3).
        joints3d: 3D joints in the camera frame, metres, shape (24, 3).
        pose_rotmat: Body pose as rotation matrices, shape (22, 3, 3): 0 = global orientation in the
            **camera** frame, 1–21 = SMPL-X body joints relative to their parents. For SMPL sources
            these are SMPL joints 0–21 (same kinematic tree for the body).
        smpl_pose_rotmat: The full SMPL pose of SMPL sources (24 joints incl. the hands 22–23),
            global orientation in the camera frame, shape (24, 3, 3); zeros unless ``has_smpl``.
        betas: Shape coefficients, shape (11,): neutral SMPL-X betas, or SMPL's 10 padded with a 0.
        transl: Body-model translation in the camera frame, metres, shape (3,): the body model
            posed with ``pose_rotmat`` / ``betas`` and this ``transl`` lands in the camera frame.
        vertices: Ground-truth mesh in the camera frame, metres, shape (V, 3), or None.
        depth: Depth map normalised to [0.1, 1] on the person (larger = farther), background 0,
            float32, shape (1, R, R) (formats.md §4.7, §11).
        parts: Part labels, long, shape (R, R), 0 = background, 1–22 = parts.
        has_depth: Depth supervision present (formats.md §11 rule).
        has_parts: Part labels present.
        has_smplx: ``pose_rotmat`` / ``betas`` are SMPL-X parameters.
        has_smpl: ``pose_rotmat`` / ``smpl_pose_rotmat`` / ``betas`` are SMPL parameters.
        has_kp2d: ``kp2d`` present (per-joint validity is the confidence column).
        has_joints3d: ``joints3d`` present.
        has_vertices: ``vertices`` present.
        has_transl: ``transl`` present.
        dataset: Name of the source dataset.
        index: Index of the record within its dataset.
        gender: ``"neutral"``, ``"male"`` or ``"female"`` (the body model the parameters belong to).
    """

    img: Tensor
    bbox_info: Tensor
    K: Tensor
    img_size: Tensor
    center: Tensor
    scale: Tensor
    crop_to_img: Tensor
    kp2d: Tensor
    joints3d: Tensor
    pose_rotmat: Tensor
    smpl_pose_rotmat: Tensor
    betas: Tensor
    transl: Tensor
    vertices: Tensor | None
    depth: Tensor
    parts: Tensor
    has_depth: bool = False
    has_parts: bool = False
    has_smplx: bool = False
    has_smpl: bool = False
    has_kp2d: bool = False
    has_joints3d: bool = False
    has_vertices: bool = False
    has_transl: bool = False
    dataset: str = ""
    index: int = -1
    gender: str = "neutral"

    @classmethod
    def blank(cls, dataset: str = "", index: int = -1, res: int = 224) -> Sample:
        """A sample of zeros with every flag False (datasets fill in what they have).

        Args:
            dataset: Source dataset name.
            index: Record index.
            res: Crop resolution R.

        Returns:
            The blank sample.
        """
        tensors = {n: torch.zeros(_shape(n, res), dtype=torch.long if n == "parts" else torch.float32)
                   for n in _SHAPES}
        return cls(**tensors, vertices=None, dataset=dataset, index=index)

    def validate(self) -> Sample:
        """Check every field's shape, dtype and finiteness.

        Returns:
            ``self``.

        Raises:
            ShapeError: Naming the field, the expected and the actual shape.
        """
        where = f"Sample[{self.dataset}:{self.index}]"
        res = self.img.shape[-1]
        spec: dict[str, tuple] = {name: _shape(name, res) for name in _SHAPES}
        if self.vertices is not None:
            spec["vertices"] = ("V", 3)
        for name, shape in spec.items():
            t = getattr(self, name)
            check_shape(t, shape, name, where)
            if name == "parts":
                if t.dtype != torch.long:
                    raise ShapeError(f"{where}: `parts` must be int64; got {t.dtype}.")
            elif not t.is_floating_point():
                raise ShapeError(f"{where}: `{name}` must be floating point; got {t.dtype}.")
            elif not bool(torch.isfinite(t).all()):
                raise ShapeError(f"{where}: `{name}` holds NaN or infinite values.")
        if self.has_vertices != (self.vertices is not None):
            raise ShapeError(
                f"{where}: has_vertices={self.has_vertices} but vertices is "
                f"{'None' if self.vertices is None else 'set'}."
            )
        return self


@dataclass
class Batch:
    """A batch of :class:`Sample` s: every tensor field stacked along a new leading dim B.

    Flags become bool tensors of shape (B,), ``index`` a long tensor (B,), ``dataset`` and ``gender``
    lists of B strings. ``vertices`` is (B, V, 3) when any sample has vertices (rows of samples without
    are zeros, ``has_vertices`` False), else None.
    """

    img: Tensor
    bbox_info: Tensor
    K: Tensor
    img_size: Tensor
    center: Tensor
    scale: Tensor
    crop_to_img: Tensor
    kp2d: Tensor
    joints3d: Tensor
    pose_rotmat: Tensor
    smpl_pose_rotmat: Tensor
    betas: Tensor
    transl: Tensor
    vertices: Tensor | None
    depth: Tensor
    parts: Tensor
    has_depth: Tensor
    has_parts: Tensor
    has_smplx: Tensor
    has_smpl: Tensor
    has_kp2d: Tensor
    has_joints3d: Tensor
    has_vertices: Tensor
    has_transl: Tensor
    dataset: list[str]
    index: Tensor
    gender: list[str]

    def __len__(self) -> int:
        return int(self.img.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Move every tensor to ``device`` (strings stay), returning a new Batch."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device, non_blocking=non_blocking) if isinstance(v, Tensor) else v
        return Batch(**kw)

    def pin_memory(self) -> Batch:
        """Pin every tensor (called by ``DataLoader(pin_memory=True)``)."""
        kw = {
            f.name: (v.pin_memory() if isinstance(v := getattr(self, f.name), Tensor) else v)
            for f in fields(self)
        }
        return Batch(**kw)


def _stack_vertices(samples: Sequence[Sample]) -> Tensor | None:
    present = [s.vertices for s in samples if s.vertices is not None]
    if not present:
        return None
    shape = present[0].shape
    for s in samples:
        if s.vertices is not None and s.vertices.shape != shape:
            raise ShapeError(
                f"collate_samples: `vertices` of {s.dataset}:{s.index} has shape {tuple(s.vertices.shape)}, "
                f"others {tuple(shape)}. Batch SMPL (6890) and SMPL-X sources separately, or drop vertices."
            )
    like = present[0]
    return torch.stack([s.vertices if s.vertices is not None else like.new_zeros(shape) for s in samples])


def collate_samples(samples: Sequence[Sample]) -> Batch:
    """Stack samples into a :class:`Batch` (use as ``DataLoader(collate_fn=collate_samples)``).

    Args:
        samples: Samples with equal crop resolution.

    Returns:
        The batch.

    Raises:
        ShapeError: If the list is empty or tensor shapes differ between samples.
    """
    if len(samples) == 0:
        raise ShapeError("collate_samples: got an empty list of samples.")
    kw: dict = {}
    for f in fields(Sample):
        name = f.name
        if name == "vertices":
            kw[name] = _stack_vertices(samples)
        elif name in FLAG_NAMES:
            kw[name] = torch.tensor([bool(getattr(s, name)) for s in samples], dtype=torch.bool)
        elif name == "index":
            kw[name] = torch.tensor([int(s.index) for s in samples], dtype=torch.long)
        elif name in _META:
            kw[name] = [str(getattr(s, name)) for s in samples]
        else:
            vals = [getattr(s, name) for s in samples]
            shape = vals[0].shape
            for s, v in zip(samples, vals):
                if v.shape != shape:
                    raise ShapeError(
                        f"collate_samples: `{name}` of {s.dataset}:{s.index} has shape "
                        f"{tuple(v.shape)}, others {tuple(shape)}."
                    )
            kw[name] = torch.stack(vals)
    if kw["vertices"] is None:
        kw["has_vertices"] = torch.zeros(len(samples), dtype=torch.bool)
    return Batch(**kw)
