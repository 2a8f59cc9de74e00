"""Geometry shared by every block: rotations (6D, matrix, axis-angle), pinhole camera (CLIFF box
features, crop camera ↔ full-image translation, projection), square person crops (boxes and affines,
exact and authors' crops, anti-aliasing), and Procrustes.

All conventions (camera axes, pixel centres, 6D layout) are fixed in ``docs/conventions.md``.
"""

from .boxes import apply_affine, boxes_xyxy_to_center_scale, crop_affine, invert_affine
from .camera import (
    cliff_bbox_info,
    crop_cam_to_full_transl,
    default_focal,
    full_transl_to_crop_cam,
    intrinsics_from_focal,
    perspective_project,
)
from .crop import CROP_MODES, check_crop_mode, crop_images, crop_square, paste_back
from .crop_authors import authors_crop_window, crop_images_authors, resize_like_skimage
from .procrustes import procrustes_align, similarity_procrustes
from .rotations import (
    AxisAngleToRotmat,
    Rot6dToRotmat,
    axis_angle_to_rot6d,
    axis_angle_to_rotmat,
    rot6d_to_axis_angle,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)
from .windows import crop_person, crop_person_authors, paste_person_map

__all__ = [
    "AxisAngleToRotmat",
    "Rot6dToRotmat",
    "apply_affine",
    "axis_angle_to_rot6d",
    "axis_angle_to_rotmat",
    "boxes_xyxy_to_center_scale",
    "cliff_bbox_info",
    "crop_affine",
    "crop_cam_to_full_transl",
    "crop_images",
    "CROP_MODES",
    "authors_crop_window",
    "check_crop_mode",
    "crop_images_authors",
    "crop_person",
    "crop_person_authors",
    "paste_person_map",
    "crop_square",
    "resize_like_skimage",
    "default_focal",
    "full_transl_to_crop_cam",
    "intrinsics_from_focal",
    "invert_affine",
    "paste_back",
    "perspective_project",
    "procrustes_align",
    "rot6d_to_axis_angle",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_rot6d",
    "similarity_procrustes",
]
