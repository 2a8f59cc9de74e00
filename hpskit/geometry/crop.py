"""Square person crops: boxes → (centre, scale), the image → crop affine, cropping by ``grid_sample``
and pasting crop-space maps back into the full image.

Convention (``docs/conventions.md``): pixel centres sit at integer coordinates in both the image and
the crop. A crop of resolution ``res`` covers the continuous square of side ``b = 200·scale``
centred on the box centre ``c``; its pixel edges map to the square's edges, so

    u_crop = (res / b) · (u_img − cx) + (res − 1) / 2        (same for v)

and the box centre lands at ``((res − 1) / 2, (res − 1) / 2)``. This is the exact, continuous version
of the authors' SPIN crop, which truncates the window corners to integers and anti-aliases with
skimage; the two agree to about a pixel (formats.md §8). Regions outside the image are zero.

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
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor

from hpskit.core import ConfigError, ShapeError, check_shape

from .camera import BOX_UNIT

__all__ = [
    "boxes_xyxy_to_center_scale",
    "crop_affine",
    "invert_affine",
    "apply_affine",
    "crop_images",
    "paste_back",
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


def _sample(src: Tensor, pts: Tensor, out_hw: tuple[int, int], mode: str) -> Tensor:
    """Sample ``src`` (B, C, h, w) at pixel coordinates ``pts`` (B, H·W, 2) with zero padding."""
    h, w = src.shape[-2:]
    # grid_sample with align_corners=False puts pixel i's centre at (2i + 1)/size − 1.
    size = pts.new_tensor([w, h])
    grid = ((2 * pts + 1) / size - 1).reshape(pts.shape[0], *out_hw, 2)
    return F.grid_sample(src, grid.to(src.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def _check_mode(mode: str, where: str) -> None:
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ConfigError(f"{where}: `mode` must be 'bilinear', 'nearest' or 'bicubic'; got {mode!r}.")


def _antialias(images: Tensor, scale: Tensor, res: int) -> Tensor:
    """Gaussian pre-blur with skimage's ``resize(anti_aliasing=True)`` sigma, per sample.

    skimage uses sigma = max(0, (d − 1)/2) for a downsampling factor d and truncates the kernel at
    4 sigma; the blur here runs on the full image with reflected borders (skimage blurs the
    zero-padded crop window), so the two agree away from the image border.
    """
    factor = (BOX_UNIT * scale / res).to(images.dtype)
    sigma = ((factor - 1) / 2).clamp_min(0)
    if float(sigma.max()) <= 0:
        return images
    radius = min(int(4 * float(sigma.max()) + 0.5), min(images.shape[-2:]) - 1)
    # A tiny sigma gives a delta kernel for the samples that are not downsampled.
    sig = sigma.clamp_min(1e-3)[:, None].expand(-1, 2)
    return gaussian_blur2d(images, (2 * radius + 1, 2 * radius + 1), sig, border_type="reflect")


def crop_images(images: Tensor, center: Tensor, scale: Tensor, res: int = 224,
                mode: str = "bilinear", antialias: bool = False) -> Tensor:
    """Cut square crops out of images with ``grid_sample`` (zero padding outside the image).

    With ``antialias=True`` the images are first blurred per sample with the Gaussian that
    ``skimage.transform.resize(anti_aliasing=True)`` uses when downsampling (the authors' crop path,
    formats.md §8); crops that upsample are not blurred. Off by default.

    Args:
        images: Images, shape (B, C, H, W), float.
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.
        mode: ``"bilinear"``, ``"nearest"`` (for label maps) or ``"bicubic"``.
        antialias: Blur before downsampling, as skimage does (not for label maps).

    Returns:
        Crops, shape (B, C, res, res).

    Example:
        >>> img = torch.arange(16.0).view(1, 1, 4, 4)
        >>> crop_images(img, torch.tensor([[1.5, 1.5]]), torch.tensor([4 / 200]), res=4).equal(img)
        True
    """
    where = "crop_images"
    dims = check_shape(images, ("B", "C", "H", "W"), "images", where,
                       hint="Add a batch dim with images[None].")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    _check_center_scale(center, scale, where)
    _check_mode(mode, where)
    if not images.is_floating_point():
        raise ShapeError(f"{where}: `images` must be a float tensor; got dtype {images.dtype}. "
                         "Use images.float() (and mode='nearest' for label maps).")
    coords = center if center.is_floating_point() else center.float()
    if antialias:
        images = _antialias(images, scale.to(images.device), res)
    A_inv = invert_affine(crop_affine(coords, scale.to(coords.dtype), res))
    pts = apply_affine(A_inv, _pixel_grid(dims["B"], res, res, coords))  # crop px → image px
    return _sample(images, pts, (res, res), mode)


def paste_back(maps: Tensor, center: Tensor, scale: Tensor, out_size: tuple[int, int],
               mode: str = "bilinear") -> Tensor:
    """Paste crop-space maps (depth, part logits, masks) back into full-image coordinates.

    Each full-image pixel samples the crop at ``crop_affine(center, scale, res)`` of its centre;
    pixels outside the crop square get 0. This inverts :func:`crop_images` inside the box, up to
    resampling.

    Args:
        maps: Crop-space maps, shape (B, C, res, res).
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        out_size: Full image size (H, W).
        mode: ``"bilinear"``, ``"nearest"`` (for label maps) or ``"bicubic"``.

    Returns:
        Maps in the full image, shape (B, C, H, W).
    """
    where = "paste_back"
    dims = check_shape(maps, ("B", "C", "R", "R"), "maps", where,
                       hint="Maps must be square crops (B, C, res, res).")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    _check_center_scale(center, scale, where)
    _check_mode(mode, where)
    if not maps.is_floating_point():
        raise ShapeError(f"{where}: `maps` must be a float tensor; got dtype {maps.dtype}. "
                         "Use maps.float() with mode='nearest' for label maps, then .long().")
    H, W = (int(x) for x in out_size)
    coords = center if center.is_floating_point() else center.float()
    A = crop_affine(coords, scale.to(coords.dtype), dims["R"])
    pts = apply_affine(A, _pixel_grid(dims["B"], H, W, coords))  # image px → crop px
    return _sample(maps, pts, (H, W), mode)
