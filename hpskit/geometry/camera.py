"""Pinhole camera helpers: default focal, intrinsics, CLIFF box features, crop camera ↔ full-image
translation, and perspective projection.

Frames and units (``docs/conventions.md``): OpenCV camera (x right, y down, z forward), metres,
pixels with pixel centres at integer coordinates, K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]].

The D-PoSE authors force the principal point to the image centre (W/2, H/2). hpskit reads it from
``K[:, 0, 2]`` and ``K[:, 1, 2]`` instead, which gives the authors' numbers whenever K was built by
:func:`intrinsics_from_focal` (formats.md §8).

Example:
    >>> import torch
    >>> K = intrinsics_from_focal(torch.tensor([1000.0]), torch.tensor([640.0]), torch.tensor([480.0]))
    >>> K[0]
    tensor([[1000.,    0.,  320.],
            [   0., 1000.,  240.],
            [   0.,    0.,    1.]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from hpskit.core import check_shape

__all__ = [
    "default_focal",
    "intrinsics_from_focal",
    "cliff_bbox_info",
    "crop_cam_to_full_transl",
    "full_transl_to_crop_cam",
    "perspective_project",
]

# Box side in pixels = BOX_UNIT * scale (SPIN's convention, kept by the D-PoSE authors).
BOX_UNIT = 200.0


def default_focal(width: Tensor | float, height: Tensor | float) -> Tensor:
    """The focal length the authors use at test time when none is known: the image diagonal.

    Args:
        width: Image width(s) in pixels, a number or a tensor of any shape.
        height: Image height(s) in pixels, broadcastable with ``width``.

    Returns:
        ``sqrt(width² + height²)`` in pixels, a tensor of the broadcast shape (float32 for numbers).

    Example:
        >>> default_focal(torch.tensor([640.0, 300.0]), torch.tensor([480.0, 400.0]))
        tensor([800., 500.])
    """
    w = torch.as_tensor(width)
    h = torch.as_tensor(height, device=w.device)
    if not w.is_floating_point():
        w = w.float()
    h = h.to(w.dtype)
    return torch.sqrt(w * w + h * h)


def _as_batch(x: Tensor | float, B: int, like: Tensor, name: str, where: str) -> Tensor:
    """A number or a (B,) / () tensor → (B,) tensor on ``like``'s device and dtype."""
    t = torch.as_tensor(x, device=like.device, dtype=like.dtype)
    if t.dim() == 0:
        return t.expand(B)
    check_shape(t, (B,), name, where, hint=f"Pass one value per sample, shape ({B},), or a number.")
    return t


def intrinsics_from_focal(focal: Tensor, width: Tensor | float, height: Tensor | float) -> Tensor:
    """Build K with the principal point at the image centre (W/2, H/2), as the authors do.

    Args:
        focal: Focal lengths in pixels, shape (B,) (fx = fy) or (B, 2) (fx, fy).
        width: Image widths in pixels, shape (B,) or a number.
        height: Image heights in pixels, shape (B,) or a number.

    Returns:
        Intrinsics K, shape (B, 3, 3), dtype and device of ``focal``.

    Raises:
        ShapeError: If ``focal`` is not (B,) or (B, 2), or width/height are not (B,).
    """
    where = "intrinsics_from_focal"
    if focal.dim() == 1:
        fxy = torch.stack([focal, focal], dim=-1)
    else:
        check_shape(focal, ("B", 2), "focal", where, hint="Pass (B,) for fx = fy or (B, 2) for (fx, fy).")
        fxy = focal
    if not fxy.is_floating_point():
        fxy = fxy.float()
    B = fxy.shape[0]
    w = _as_batch(width, B, fxy, "width", where)
    h = _as_batch(height, B, fxy, "height", where)
    K = fxy.new_zeros(B, 3, 3)
    K[:, 0, 0] = fxy[:, 0]
    K[:, 1, 1] = fxy[:, 1]
    K[:, 0, 2] = w / 2
    K[:, 1, 2] = h / 2
    K[:, 2, 2] = 1
    return K


def _check_box(center: Tensor, scale: Tensor, K: Tensor, where: str) -> int:
    dims = check_shape(center, ("B", 2), "center", where)
    check_shape(scale, ("B",), "scale", where, dims=dims,
                hint="Pass one scale per box (side = 200·scale px).")
    check_shape(K, ("B", 3, 3), "K", where, dims=dims, hint="Expand a shared K with K.expand(B, 3, 3).")
    return dims["B"]


def cliff_bbox_info(center: Tensor, scale: Tensor, K: Tensor) -> Tensor:
    """CLIFF box features as the D-PoSE authors compute them (formats.md §8).

    ``[(cx − K02) / fx, (cy − K12) / fx, 200·s / fx]``, without CLIFF's own ×2.8 and
    ``(b − 0.24 f) / (0.06 f)`` normalisation.

    Args:
        center: Box centres (cx, cy) in full-image pixels, shape (B, 2).
        scale: Box scales s (square side = 200·s pixels), shape (B,).
        K: Intrinsics, shape (B, 3, 3).

    Returns:
        Box features, shape (B, 3).

    Example:
        >>> K = intrinsics_from_focal(torch.tensor([100.0]), 200.0, 100.0)
        >>> cliff_bbox_info(torch.tensor([[150.0, 50.0]]), torch.tensor([0.5]), K)
        tensor([[0.5000, 0.0000, 1.0000]])
    """
    _check_box(center, scale, K, "cliff_bbox_info")
    fx = K[:, 0, 0]
    return torch.stack([(center[:, 0] - K[:, 0, 2]) / fx,
                        (center[:, 1] - K[:, 1, 2]) / fx,
                        BOX_UNIT * scale / fx], dim=-1)


def crop_cam_to_full_transl(cam: Tensor, center: Tensor, scale: Tensor, K: Tensor) -> Tensor:
    """Convert the crop's weak-perspective camera (s, tx, ty) into a full-image camera translation.

    With b = 200·s_box: ``tz = 2 fx / (b·s)``, ``tx' = tx + 2 (cx − K02) / (b·s)``,
    ``ty' = ty + 2 (cy − K12) / (b·s)`` (the authors' ``convert_pare_to_full_img_cam``; its
    hard-coded crop resolution cancels out). ``s`` must be non-zero; like the authors, no epsilon is
    added, so the conversion inverts exactly.

    Args:
        cam: Crop camera (s, tx, ty), shape (B, 3).
        center: Box centres in full-image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        K: Intrinsics, shape (B, 3, 3).

    Returns:
        Camera-frame translation t of the body (metres), shape (B, 3).

    Example:
        >>> K = intrinsics_from_focal(torch.tensor([1000.0]), 640.0, 480.0)
        >>> crop_cam_to_full_transl(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[420.0, 240.0]]),
        ...                         torch.tensor([1.0]), K)
        tensor([[ 1.,  0., 10.]])
    """
    where = "crop_cam_to_full_transl"
    dims = check_shape(cam, ("B", 3), "cam", where, hint="cam is (scale, tx, ty) per sample.")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    _check_box(center, scale, K, where)
    denom = BOX_UNIT * scale * cam[:, 0]
    tz = 2 * K[:, 0, 0] / denom
    tx = cam[:, 1] + 2 * (center[:, 0] - K[:, 0, 2]) / denom
    ty = cam[:, 2] + 2 * (center[:, 1] - K[:, 1, 2]) / denom
    return torch.stack([tx, ty, tz], dim=-1)


def full_transl_to_crop_cam(transl: Tensor, center: Tensor, scale: Tensor, K: Tensor) -> Tensor:
    """Inverse of :func:`crop_cam_to_full_transl`: full-image translation → crop camera (s, tx, ty).

    ``s = 2 fx / (b·tz)``, ``tx = tx' − 2 (cx − K02) / (b·s)``, ``ty = ty' − 2 (cy − K12) / (b·s)``
    with b = 200·scale. Useful to build crop-camera targets from ground-truth translations.

    Args:
        transl: Camera-frame translations (metres), shape (B, 3); tz must be non-zero.
        center: Box centres in full-image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        K: Intrinsics, shape (B, 3, 3).

    Returns:
        Crop camera (s, tx, ty), shape (B, 3).
    """
    where = "full_transl_to_crop_cam"
    dims = check_shape(transl, ("B", 3), "transl", where)
    check_shape(center, ("B", 2), "center", where, dims=dims)
    _check_box(center, scale, K, where)
    b = BOX_UNIT * scale
    s = 2 * K[:, 0, 0] / (b * transl[:, 2])
    tx = transl[:, 0] - 2 * (center[:, 0] - K[:, 0, 2]) / (b * s)
    ty = transl[:, 1] - 2 * (center[:, 1] - K[:, 1, 2]) / (b * s)
    return torch.stack([s, tx, ty], dim=-1)


def perspective_project(points: Tensor, K: Tensor, transl: Tensor | None = None) -> Tensor:
    """Project camera-frame points to pixels with full intrinsics: ``uv = dehom(K (X + t))``.

    With the authors' K this is ``(fx·X/Z + W/2, fy·Y/Z + H/2)``; here any K (principal point,
    skew) is honoured. No rotation is applied (R = I, as in D-PoSE). Points must have Z + tz > 0;
    no clamping is done, so points behind the camera give meaningless (but finite unless Z = 0)
    pixels.

    Args:
        points: Points in the camera frame (metres), shape (B, N, 3).
        K: Intrinsics, shape (B, 3, 3).
        transl: Optional translation added to every point first, shape (B, 3).

    Returns:
        Pixel coordinates (u, v), shape (B, N, 2), pixel centres at integers.

    Example:
        >>> K = intrinsics_from_focal(torch.tensor([100.0]), 64.0, 48.0)
        >>> perspective_project(torch.tensor([[[0.1, -0.2, 2.0]]]), K)
        tensor([[[37., 14.]]])
    """
    where = "perspective_project"
    dims = check_shape(points, ("B", "N", 3), "points", where, hint="Add a batch dim with points[None].")
    check_shape(K, ("B", 3, 3), "K", where, dims=dims, hint="Expand a shared K with K.expand(B, 3, 3).")
    if transl is not None:
        check_shape(transl, ("B", 3), "transl", where, dims=dims)
        points = points + transl[:, None, :]
    proj = points @ K.transpose(-1, -2)  # (B, N, 3): each row is (K p)^T
    return proj[..., :2] / proj[..., 2:3]
