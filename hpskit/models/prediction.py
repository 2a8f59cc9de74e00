"""The records of whole-image inference (:func:`hpskit.models.predict`): :class:`PreparedInputs` (each
person's crop, camera and normalisation, from :func:`~hpskit.models.predict.prepare_inputs`),
:class:`ChunkResult` (one chunk of network outputs, from :func:`~hpskit.models.predict.run_network`) and
:class:`Prediction`, the result :func:`~hpskit.models.predict.predict` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PreparedInputs", "ChunkResult", "Prediction"]


@dataclass
class PreparedInputs:
    """Everything :func:`run_network` needs, fixed per person (N people over B images).

    Attributes:
        images: The B images, each (3, H, W) uint8 or float in [0, 1], on their original device.
        sizes: (H, W) of each image.
        boxes: (N, 4) input boxes (x0, y0, x1, y1), pixels.
        image_index: (N,) long, the image of each person.
        center: (N, 2) crop centres, pixels.
        scale: (N,) crop scales (side = 200·scale px).
        windows: (N, 4) long integer crop windows (x0, y0, x1, y1) for ``crop_mode="authors"``, else ``None``.
        K: (N, 3, 3) intrinsics of each person's image.
        bbox_info: (N, 3) CLIFF box vectors.
        res: Crop resolution.
        crop_mode: ``"exact"`` or ``"authors"`` (:data:`hpskit.geometry.CROP_MODES`).
        antialias: Skimage-style pre-blur of the exact crop.
        mean: (3,) RGB normalisation mean. std: (3,) its standard deviation.
        dtype: Floating dtype of the model.
    """

    images: list[Tensor]
    sizes: list[tuple[int, int]]
    boxes: Tensor
    image_index: Tensor
    center: Tensor
    scale: Tensor
    windows: Tensor | None
    K: Tensor
    bbox_info: Tensor
    res: int
    crop_mode: str
    antialias: bool
    mean: Tensor
    std: Tensor
    dtype: torch.dtype

    def __len__(self) -> int:
        return int(self.image_index.shape[0])


@dataclass
class ChunkResult:
    """The results of one chunk of n people (see :class:`Prediction` for each field's meaning)."""

    pose_rotmat: Tensor
    pose_6d: Tensor
    betas: Tensor
    cam: Tensor
    transl: Tensor
    vertices: Tensor | None
    joints: Tensor | None
    joints2d: Tensor | None
    depth_crop: Tensor | None
    part_labels_crop: Tensor
    depth: list[Tensor] | None
    part_labels: list[Tensor] | None


@dataclass
class Prediction:
    """The people found in a set of images, flattened over images (N people in total).

    Attributes:
        pose_rotmat: (N, 22, 3, 3) rotations; 0 = global orientation in the camera frame, 1..21 body joints.
        pose_6d: (N, 22, 6) the same in hpskit's 6D layout.
        global_orient: (N, 3) axis-angle of joint 0 (radians).
        body_pose: (N, 21, 3) axis-angle of joints 1..21.
        betas: (N, 11) SMPL-X shape.
        cam_crop: (N, 3) the network's crop camera (s, tx, ty).
        transl: (N, 3) body translation in the camera frame (metres), from ``cam_crop`` and the box.
        vertices: (N, V, 3) camera-frame vertices (body + ``transl``), or ``None`` without a body model.
        joints: (N, 127, 3) camera-frame joints, or ``None``.
        joints2d: (N, 127, 2) ``joints`` projected with ``K``, image pixels (pixel centres at integers),
            or ``None``.
        K: (N, 3, 3) intrinsics of each person's image.
        image_index: (N,) long, the image each person comes from.
        boxes: (N, 4) the input boxes (x0, y0, x1, y1) in pixels.
        center: (N, 2) centre of the square crop, pixels.
        scale: (N,) crop scale (side = 200·scale pixels, ``box_rescale`` included).
        bbox_info: (N, 3) the CLIFF box vector given to the network.
        image_sizes: (num_images, 2) long, (H, W) of every input image.
        depth_crop: (N, 1, R, R) relative depth in (0, 1) on the crop (larger = farther), or ``None`` for a
            model without depth branch or with ``depth_map=False``.
        part_labels_crop: (N, R, R) long part labels on the crop (0 = background, 1..22 parts).
        depth: Per person, an (H, W) depth map of its image: ``depth_crop`` pasted back, 0 outside the crop;
            ``None`` if not asked for (``return_maps=False``) or no depth branch.
        part_labels: Per person, an (H, W) long label map: part logits pasted back then arg-maxed, 0 outside
            the crop; ``None`` if not asked for.
        faces: (F, 3) long triangles of the body mesh, or ``None``.
    """

    pose_rotmat: Tensor
    pose_6d: Tensor
    global_orient: Tensor
    body_pose: Tensor
    betas: Tensor
    cam_crop: Tensor
    transl: Tensor
    vertices: Tensor | None
    joints: Tensor | None
    joints2d: Tensor | None
    K: Tensor
    image_index: Tensor
    boxes: Tensor
    center: Tensor
    scale: Tensor
    bbox_info: Tensor
    image_sizes: Tensor
    depth_crop: Tensor | None
    part_labels_crop: Tensor
    depth: list[Tensor] | None
    part_labels: list[Tensor] | None
    faces: Tensor | None

    def __len__(self) -> int:
        return int(self.image_index.shape[0])

    def people_in(self, image: int) -> Tensor:
        """Indices (into the N people) of the people of image ``image``, shape (n,) long."""
        return torch.nonzero(self.image_index == image).flatten()
