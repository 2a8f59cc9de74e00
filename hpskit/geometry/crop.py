"""Square person crops: cropping by ``grid_sample``, pasting crop-space maps back into the full image,
and the choice between the two crop rules.

Convention (``docs/conventions.md``): pixel centres sit at integer coordinates in both the image and
the crop. A crop of resolution ``res`` covers the continuous square of side ``b = 200·scale``
centred on the box centre ``c``; its pixel edges map to the square's edges, so

    u_crop = (res / b) · (u_img − cx) + (res − 1) / 2        (same for v)

and the box centre lands at ``((res − 1) / 2, (res − 1) / 2)``. This is the exact, continuous crop
(:func:`crop_images`). Regions outside the image are zero.

The authors' crop (docs/authors-code.md (h)) is SPIN's integer window + scikit-image resize
(:func:`crop_images_authors`). :data:`CROP_MODES` names the two (``"exact"``, ``"authors"``);
:func:`crop_square` picks one.

Where the rest lives: boxes → (centre, scale) and the image ↔ crop affine in :mod:`hpskit.geometry.boxes`;
the anti-aliasing blur of the exact crop in :mod:`hpskit.geometry.antialias`; the authors' crop in
:mod:`hpskit.geometry.crop_authors`. Their public names are re-exported here, so
``from hpskit.geometry.crop import crop_affine`` keeps working.

This module is the geometry of one crop (affines, sampling, pasting back). Which box a dataset sample is
cropped at (augmentation, the dataset's box rescale) is decided in :mod:`hpskit.data.crop`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from hpskit.core import ConfigError, ShapeError, check_shape

from .antialias import _antialias, _crop_separable
from .boxes import (
    _check_center_scale,
    _pixel_grid,
    apply_affine,
    boxes_xyxy_to_center_scale,
    crop_affine,
    invert_affine,
)
from .crop_authors import authors_crop_window, copy_window, crop_images_authors, resize_like_skimage

__all__ = [
    "boxes_xyxy_to_center_scale",
    "crop_affine",
    "invert_affine",
    "apply_affine",
    "crop_images",
    "paste_back",
    "CROP_MODES",
    "check_crop_mode",
    "authors_crop_window",
    "resize_like_skimage",
    "crop_images_authors",
    "crop_square",
    "copy_window",
]

#: The crop rules: ``"exact"`` samples the continuous box square (:func:`crop_images`, anti-aliased);
#: ``"authors"`` is the authors' (SPIN's) integer window + skimage resize (:func:`crop_images_authors`).
CROP_MODES = ("exact", "authors")


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


def crop_images(images: Tensor, center: Tensor, scale: Tensor, res: int = 224,
                mode: str = "bilinear", antialias: bool = False) -> Tensor:
    """Cut square crops out of images with ``grid_sample`` (zero padding outside the image).

    With ``antialias=True`` the images are first blurred per sample with the Gaussian that
    ``skimage.transform.resize(anti_aliasing=True)`` uses when downsampling (the authors' crop path,
    formats.md §8); crops that upsample are not blurred. Off by default. For ``mode="bilinear"`` the
    blur and the sampling are done together as two small matrix products per sample
    (``_crop_separable``): equal to blurring the whole image and then sampling it, but the cost grows
    with res·H·W, not with the blur kernel times the image, and no blurred copy of the image is made.

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
        >>> import torch
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
    A_inv = invert_affine(crop_affine(coords, scale.to(coords.dtype), res))
    pts = apply_affine(A_inv, _pixel_grid(dims["B"], res, res, coords))  # crop px → image px
    if antialias and mode == "bilinear":  # the crop map is axis-aligned: blur + sample are separable
        return _crop_separable(images, pts, scale.to(images.device), res)
    if antialias:
        images = _antialias(images, scale.to(images.device), res)
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


def check_crop_mode(mode: str, where: str) -> str:
    """Return ``mode`` if it is one of :data:`CROP_MODES`, else raise :class:`ConfigError`."""
    if mode not in CROP_MODES:
        raise ConfigError(f"{where}: crop mode must be one of {CROP_MODES}; got {mode!r}. 'authors' is the "
                          "crop the authors' checkpoint was trained on, 'exact' hpskit's continuous crop.")
    return mode


def crop_square(images: Tensor, center: Tensor, scale: Tensor, res: int = 224, crop_mode: str = "exact",
                antialias: bool = True) -> Tensor:
    """Crop with the rule ``crop_mode`` names (:data:`CROP_MODES`).

    Args:
        images: Images, shape (B, C, H, W), float.
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.
        crop_mode: ``"exact"`` (:func:`crop_images`, bilinear) or ``"authors"`` (:func:`crop_images_authors`).
        antialias: For ``"exact"``: skimage's pre-blur when downsampling (the authors' mode always has it).

    Returns:
        Crops, shape (B, C, res, res).
    """
    if check_crop_mode(crop_mode, "crop_square") == "authors":
        return crop_images_authors(images, center, scale, res)
    return crop_images(images, center, scale, res, antialias=antialias)
