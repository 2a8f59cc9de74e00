"""Person boxes as square crops: boxes → (centre, scale), and the affine map between image and crop pixels.

Convention (``docs/conventions.md``): pixel centres sit at integer coordinates in both the image and
the crop. A crop of resolution ``res`` covers the continuous square of side ``b = 200·scale``
centred on the box centre ``c``; its pixel edges map to the square's edges, so

    u_crop = (res / b) · (u_img − cx) + (res − 1) / 2        (same for v)

and the box centre lands at ``((res − 1) / 2, (res − 1) / 2)``. The crops themselves (sampling, pasting
back) are in :mod:`hpskit.geometry.crop`.

Example:
    >>> import torch
    >>> center, scale = boxes_xyxy_to_center_scale(torch.tensor([[10.0, 20.0, 110.0, 220.0]]))
    >>> center, scale
    (tensor([[ 60., 120.]]), tensor([1.]))
    >>> apply_affine(crop_affine(center, scale, res=224), center[:, None])
    tensor([[[111.5000, 111.5000]]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import check_shape

from .camera import BOX_UNIT

__all__ = [
    "boxes_xyxy_to_center_scale",
    "crop_affine",
    "invert_affine",
    "apply_affine",
]


def boxes_xyxy_to_center_scale(boxes: Tensor, rescale: float = 1.0) -> tuple[Tensor, Tensor]:
    """Turn person boxes into square crops: centre and scale (side = 200·scale pixels).

    Args:
        boxes: Boxes (x0, y0, x1, y1) in image pixels, shape (B, 4).
        rescale: Factor applied to the square side, ``side = rescale · max(w, h)`` (e.g. 1.2 to add
            context around a tight detector box).

    Returns:
        ``(center, scale)``: centres (cx, cy) of shape (B, 2) and scales of shape (B,).
    """
    check_shape(boxes, ("B", 4), "boxes", "boxes_xyxy_to_center_scale",
                hint="Boxes are (x0, y0, x1, y1) pixels; add a batch dim with boxes[None].")
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = rescale * torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return center, side / BOX_UNIT


def _check_center_scale(center: Tensor, scale: Tensor, where: str) -> int:
    dims = check_shape(center, ("B", 2), "center", where)
    check_shape(scale, ("B",), "scale", where, dims=dims,
                hint="Pass one scale per box (side = 200·scale px).")
    return dims["B"]


def crop_affine(center: Tensor, scale: Tensor, res: int = 224) -> Tensor:
    """The affine map from full-image pixels to crop pixels (pixel centres at integers).

    Args:
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution (square).

    Returns:
        A, shape (B, 2, 3), with ``[u', v'] = A[:, :, :2] @ [u, v] + A[:, :, 2]``.
    """
    B = _check_center_scale(center, scale, "crop_affine")
    k = res / (BOX_UNIT * scale)  # crop px per image px
    A = center.new_zeros(B, 2, 3)
    A[:, 0, 0] = k
    A[:, 1, 1] = k
    A[:, :, 2] = (res - 1) / 2 - k[:, None] * center
    return A


def invert_affine(A: Tensor) -> Tensor:
    """Invert 2D affine maps.

    Args:
        A: Affine maps, shape (B, 2, 3).

    Returns:
        The inverse maps, shape (B, 2, 3).
    """
    check_shape(A, ("B", 2, 3), "A", "invert_affine")
    M_inv = torch.linalg.inv(A[:, :, :2])
    t_inv = -(M_inv @ A[:, :, 2:])
    return torch.cat([M_inv, t_inv], dim=-1)


def apply_affine(A: Tensor, pts: Tensor) -> Tensor:
    """Apply 2D affine maps to points.

    Args:
        A: Affine maps, shape (B, 2, 3).
        pts: Points (u, v), shape (B, N, 2).

    Returns:
        Mapped points, shape (B, N, 2).
    """
    dims = check_shape(A, ("B", 2, 3), "A", "apply_affine")
    check_shape(pts, ("B", "N", 2), "pts", "apply_affine", dims=dims,
                hint="Add a point dim with pts[:, None].")
    return pts @ A[:, :, :2].transpose(-1, -2) + A[:, None, :, 2]


def _pixel_grid(B: int, H: int, W: int, like: Tensor) -> Tensor:
    """Integer pixel centres (u, v) of an H×W image, shape (B, H·W, 2)."""
    v, u = torch.meshgrid(torch.arange(H, device=like.device, dtype=like.dtype),
                          torch.arange(W, device=like.device, dtype=like.dtype), indexing="ij")
    return torch.stack([u, v], dim=-1).reshape(1, H * W, 2).expand(B, -1, -1)

