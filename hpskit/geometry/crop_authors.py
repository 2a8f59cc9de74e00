"""The authors' crop (docs/authors-code.md (h)), SPIN's: the window corners are truncated to integers
(:func:`authors_crop_window`), the integer window is copied with zeros outside the image
(:func:`copy_window`) and resized with scikit-image's anti-aliased ``resize`` (:func:`resize_like_skimage`);
:func:`crop_images_authors` does all three. Its crop centre is up to about a pixel off the box centre, and
on a real photo its pixels differ from the continuous crop (:func:`hpskit.geometry.crop_images`) by a mean
of 7–11/255, which moves the pose noticeably: weights trained on that crop (the authors' checkpoint) want
it. :func:`hpskit.geometry.crop_square` picks between the two rules.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hpskit.core import ShapeError, check_shape

from .antialias import _mirror_index
from .boxes import _check_center_scale
from .camera import BOX_UNIT

__all__ = [
    "authors_crop_window",
    "resize_like_skimage",
    "copy_window",
    "crop_images_authors",
]


def authors_crop_window(center: Tensor, scale: Tensor, res: int = 224) -> Tensor:
    """The authors' (SPIN's) integer crop window of each box.

    SPIN maps crop pixels (1, 1) and (res + 1, res + 1) (1-based) to the image through the inverse of its
    box transform, truncates to integers and subtracts one. This is computed as they do, in float64 with
    the inverted 3×3 matrix (numpy), so the truncation lands on the same integer even where the exact
    value is an integer.

    Args:
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.

    Returns:
        (B, 4) long windows ``(x0, y0, x1, y1)``: the crop copies image pixels ``[x0, x1) × [y0, y1)``
        (zeros outside the image).

    Example:
        >>> authors_crop_window(torch.tensor([[100.3, 50.7]]), torch.tensor([1.0]), res=224).tolist()
        [[0, -49, 200, 150]]
    """
    _check_center_scale(center, scale, "authors_crop_window")
    c = center.detach().to("cpu", torch.float64).numpy()
    h = BOX_UNIT * scale.detach().to("cpu", torch.float64).numpy()
    out = np.empty((c.shape[0], 4), dtype=np.int64)
    for i in range(c.shape[0]):
        t = np.zeros((3, 3))
        t[0, 0] = t[1, 1] = res / h[i]
        t[0, 2] = res * (-c[i, 0] / h[i] + 0.5)
        t[1, 2] = res * (-c[i, 1] / h[i] + 0.5)
        t[2, 2] = 1.0
        t_inv = np.linalg.inv(t)
        for j, p in enumerate((1.0, res + 1.0)):  # 1-based crop pixel → image, truncated, 1-based → 0-based
            q = t_inv @ np.array([p - 1, p - 1, 1.0])
            out[i, 2 * j: 2 * j + 2] = q[:2].astype(np.int64) + 1 - 1
    return torch.from_numpy(out)


def _mirror_gaussian(x: Tensor, sigma: float, dim: int) -> Tensor:
    """1D Gaussian along ``dim`` (-1 or -2) of (B, C, H, W): scipy.ndimage's kernel (radius ⌊4σ + 0.5⌋),
    mirrored border (skimage's ``mode="reflect"`` = ndimage ``"mirror"``), for any radius."""
    r = int(4.0 * sigma + 0.5)
    if sigma <= 1e-15 or r == 0:
        return x
    k = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = (k / k.sum()).to(device=x.device, dtype=x.dtype)
    xp = x.index_select(dim, _mirror_index(x.shape[dim], r).to(x.device))
    B, C, H, W = xp.shape
    kernel = k.view(1, 1, 1, -1) if dim == -1 else k.view(1, 1, -1, 1)
    out = F.conv2d(xp.reshape(B * C, 1, H, W), kernel)
    return out.reshape(B, C, *out.shape[-2:])


def resize_like_skimage(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize as ``skimage.transform.resize(order=1)`` does with its defaults (``mode="reflect"``).

    When any axis shrinks, each axis is first blurred with a Gaussian of σ = max(0, (d − 1)/2) for its
    factor d = in/out (scipy.ndimage's kernel); then output pixel i samples the input bilinearly at
    ``(i + 0.5)·in/out − 0.5``. Both steps mirror the image at its edge pixels, as skimage does.
    Written here rather than calling skimage so that it runs batched in torch, on any device.

    Args:
        x: Images, shape (B, C, h, w), float.
        size: Output (H, W).

    Returns:
        Resized images, shape (B, C, H, W).
    """
    check_shape(x, ("B", "C", "h", "w"), "x", "resize_like_skimage")
    H, W = (int(v) for v in size)
    h, w = x.shape[-2:]
    if H < h or W < w:  # skimage anti-aliases when any axis shrinks
        x = _mirror_gaussian(x, max(0.0, (h / H - 1) / 2), -2)
        x = _mirror_gaussian(x, max(0.0, (w / W - 1) / 2), -1)

    def axis(n_in: int, n_out: int) -> Tensor:
        pos = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5
        # align_corners=True: −1 and 1 are the centres of the first and last pixel, and "reflection"
        # padding mirrors at those centres
        return pos * (2 / (n_in - 1)) - 1 if n_in > 1 else torch.zeros_like(pos)

    gy, gx = torch.meshgrid(axis(h, H), axis(w, W), indexing="ij")
    grid = torch.stack([gx, gy], -1).to(device=x.device, dtype=x.dtype)
    grid = grid[None].expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def copy_window(image: Tensor, win: list[int]) -> Tensor:
    """Copy the integer window ``win = [x0, y0, x1, y1]`` (pixels ``[x0, x1) × [y0, y1)``) of an image
    (C, H, W), any dtype, with zeros outside the image → (C, y1 − y0, x1 − x0)."""
    x0, y0, x1, y1 = win
    C, H, W = image.shape
    out = image.new_zeros(C, max(y1 - y0, 1), max(x1 - x0, 1))
    sx0, sx1, sy0, sy1 = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
    if sx1 > sx0 and sy1 > sy0:
        out[:, sy0 - y0: sy1 - y0, sx0 - x0: sx1 - x0] = image[:, sy0:sy1, sx0:sx1]
    return out


def crop_images_authors(images: Tensor, center: Tensor, scale: Tensor, res: int = 224) -> Tensor:
    """Crop as the authors (SPIN) do: integer window, zero padding, skimage-style anti-aliased resize.

    Args:
        images: Images, shape (B, C, H, W), float (any range; the resize is linear).
        center: Box centres (cx, cy) in image pixels, shape (B, 2).
        scale: Box scales (side = 200·scale px), shape (B,).
        res: Crop resolution.

    Returns:
        Crops, shape (B, C, res, res).

    Example:
        >>> img = torch.arange(16.0).view(1, 1, 4, 4)
        >>> scale = torch.tensor([4 / 200], dtype=torch.float64)  # float32 0.02 is below 4 / 200: window 3 px
        >>> torch.allclose(crop_images_authors(img, torch.tensor([[2.0, 2.0]]), scale, res=4), img, atol=1e-5)
        True
    """
    where = "crop_images_authors"
    dims = check_shape(images, ("B", "C", "H", "W"), "images", where,
                       hint="Add a batch dim with images[None].")
    check_shape(center, ("B", 2), "center", where, dims=dims)
    if not images.is_floating_point():
        raise ShapeError(f"{where}: `images` must be a float tensor; got dtype {images.dtype}.")
    windows = authors_crop_window(center, scale, res).tolist()
    return torch.cat([resize_like_skimage(copy_window(img, win)[None], (res, res))
                      for img, win in zip(images, windows)])
